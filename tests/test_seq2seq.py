"""The encoder-decoder of book section 7.4: splitting framed batches, attention, causality, decoding."""

import pytest
import torch
from hydra.utils import instantiate

from mde_exp import store, sweep
from mde_exp.data.sequences import EOS_ID, PAD_ID, SEP_ID, frame_source_target
from mde_exp.errors import ConfigError
from mde_exp.models.rnn import masked_cross_entropy
from mde_exp.models.seq2seq import EncoderDecoderModule, exact_matches, split_framed
from mde_exp.models.seq2seq_rnn import RecurrentSeq2Seq
from mde_exp.nn.seq2seq_attention import AdditiveAttention, DotAttention, masked_softmax
from mde_exp.run import _build_model, execute

VARIANTS = [
    (cell, attention, bidirectional)
    for cell in ("gru", "lstm")
    for attention in ("none", "additive", "dot")
    for bidirectional in (False, True)
]


def _model(cell="gru", attention="additive", bidirectional=False, **kw) -> RecurrentSeq2Seq:
    torch.manual_seed(0)
    options = {"embedding_dim": 8, "hidden_size": 12, "num_layers": 2, **kw}
    return RecurrentSeq2Seq(12, cell=cell, attention=attention, bidirectional=bidirectional, **options).eval()


def _batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Three framed reversals of sources of lengths 3, 1 and 5 in width 11."""
    pairs = [([3, 4, 5], [5, 4, 3]), ([6], [6]), ([7, 8, 9, 10, 11], [11, 10, 9, 8, 7])]
    return frame_source_target(pairs, 11)


def test_split_of_framed_batches_by_hand():
    inputs, targets, mask = frame_source_target([([3, 4, 5], [5, 4, 3]), ([6], [6])], 7)
    assert inputs.tolist() == [[3, 4, 5, SEP_ID, 5, 4, 3], [6, SEP_ID, 6, EOS_ID, 0, 0, 0]]
    split = split_framed(inputs, targets, mask)
    assert split.source.tolist() == [[3, 4, 5], [6, PAD_ID, PAD_ID]]
    assert split.source_mask.tolist() == [[True, True, True], [True, False, False]]
    assert split.decoder_inputs.tolist() == [[SEP_ID, 5, 4, 3], [SEP_ID, 6, PAD_ID, PAD_ID]]
    assert split.decoder_targets.tolist() == [[5, 4, 3, EOS_ID], [6, EOS_ID, PAD_ID, PAD_ID]]
    assert split.decoder_mask.tolist() == [[True] * 4, [True, True, False, False]]
    assert split.lengths.tolist() == [3, 1]
    # without targets and mask: every position after SEP, the targets read off the inputs
    loose = split_framed(inputs)
    assert loose.source.tolist() == split.source.tolist()
    assert loose.decoder_inputs.tolist() == [[SEP_ID, 5, 4, 3, 0, 0], [SEP_ID, 6, EOS_ID, 0, 0, 0]]
    assert loose.decoder_targets[1, :2].tolist() == [6, EOS_ID]


def test_exact_matches_needs_every_token_and_the_eos_in_place():
    targets = torch.tensor([[5, 4, EOS_ID], [6, EOS_ID, PAD_ID]])
    mask = targets != PAD_ID
    right = torch.tensor([[5, 4, EOS_ID], [6, EOS_ID, PAD_ID]])
    assert exact_matches(right, targets, mask).tolist() == [True, True]
    wrong = torch.tensor([[5, 4, 4], [6, 6, EOS_ID]])  # no EOS; EOS late
    assert exact_matches(wrong, targets, mask).tolist() == [False, False]
    assert exact_matches(right[:, :2], targets, mask).tolist() == [False, True]  # cut short before EOS


@pytest.mark.parametrize(("cell", "attention", "bidirectional"), VARIANTS)
def test_shapes_and_the_causal_view_gives_the_teacher_forced_loss(cell, attention, bidirectional):
    model = _model(cell, attention, bidirectional)
    inputs, targets, mask = _batch()
    split = split_framed(inputs, targets, mask)
    logits = model.teacher_forced(split.source, split.source_mask, split.decoder_inputs)
    assert logits.shape == (3, 6, 12) and split.source.shape == (3, 5)
    if attention == "none":
        assert model.last_attention is None
    else:
        assert model.last_attention.shape == (3, 6, 5)
    causal = model(inputs)
    assert causal.shape == (*inputs.shape, 12)
    for row, n in enumerate(split.lengths.tolist()):
        assert torch.all(causal[row, :n] == 0)  # the source positions: read by the encoder, no logits
    loss = masked_cross_entropy(logits, split.decoder_targets, split.decoder_mask)[0]
    torch.testing.assert_close(masked_cross_entropy(causal, targets, mask)[0], loss)
    torch.testing.assert_close(causal[2, 5:11], logits[2])


@pytest.mark.parametrize("attention", ["additive", "dot"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_attention_weights_sum_to_one_and_padding_gets_none(attention, bidirectional):
    model = _model("gru", attention, bidirectional)
    split = split_framed(*_batch())
    model.teacher_forced(split.source, split.source_mask, split.decoder_inputs)
    weights = model.last_attention
    torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:2]))
    assert torch.all(weights.masked_select(~split.source_mask[:, None, :]) == 0)
    assert torch.all(weights.masked_select(split.source_mask[:, None, :]) > 0)


def test_attention_scores_are_the_books_formulas():
    torch.manual_seed(1)
    q, h = torch.randn(2, 3, 4), torch.randn(2, 5, 4)
    mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    additive = AdditiveAttention(4, 4, 6)
    W, U, b, v = (
        additive.query_map.weight,
        additive.memory_map.weight,
        additive.memory_map.bias,
        additive.v.weight[0],
    )
    context, weights = additive(q, h, mask)
    for n in range(2):
        valid = int(mask[n].sum())
        for t in range(3):
            e = torch.stack([v @ torch.tanh(W @ q[n, t] + U @ h[n, i] + b) for i in range(valid)])
            alpha = torch.softmax(e, 0)
            torch.testing.assert_close(weights[n, t, :valid], alpha)
            torch.testing.assert_close(context[n, t], alpha @ h[n, :valid])
    context, weights = DotAttention()(q, h, mask)
    alpha = torch.softmax(q[1, 0] @ h[1, :2].T, 0)
    torch.testing.assert_close(weights[1, 0, :2], alpha)
    torch.testing.assert_close(context[1, 0], alpha @ h[1, :2])
    scores = torch.randn(2, 3, 5)
    assert torch.all(masked_softmax(scores, mask)[1, :, 2:] == 0)


@pytest.mark.parametrize(("cell", "attention", "bidirectional"), VARIANTS)
def test_the_decoder_does_not_look_ahead_and_decodes_incrementally(cell, attention, bidirectional):
    model = _model(cell, attention, bidirectional)
    split = split_framed(*_batch())
    source, source_mask, decoder_inputs = split.source, split.source_mask, split.decoder_inputs
    logits = model.teacher_forced(source, source_mask, decoder_inputs)
    k = 3
    changed = decoder_inputs.clone()
    changed[:, k:] = torch.randint(3, 12, changed[:, k:].shape)
    other = model.teacher_forced(source, source_mask, changed)
    torch.testing.assert_close(other[:, :k], logits[:, :k])
    assert not torch.allclose(other[:, k:], logits[:, k:])
    memory = model.encode(source, source_mask)
    first, state = model.decode(decoder_inputs[:, :k], memory, source_mask)
    rest, _ = model.decode(decoder_inputs[:, k:], memory, source_mask, state)
    torch.testing.assert_close(torch.cat([first, rest], dim=1), logits)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_of_the_source_changes_nothing(bidirectional):
    model = _model("lstm", "additive", bidirectional)
    split = split_framed(*_batch())
    alone = split_framed(*(t[:1] for t in _batch()))  # the first row alone: source of width 3, not 5
    logits = model.teacher_forced(split.source, split.source_mask, split.decoder_inputs)
    single = model.teacher_forced(alone.source, alone.source_mask, alone.decoder_inputs)
    torch.testing.assert_close(single[0], logits[0, : single.shape[1]])


def test_greedy_decoding_after_some_training_ends_each_sequence_with_eos():
    cfg = store.compose(["data=reverse_task", "model=seq2seq_attention", "data.max_len=4"])
    datamodule = instantiate(cfg.data)
    datamodule.setup()
    torch.manual_seed(0)
    model = RecurrentSeq2Seq(datamodule.vocab_size, embedding_dim=16, hidden_size=32)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    inputs, targets, mask = datamodule.splits["train"]
    for step in range(60):
        rows = slice(64 * step % 3968, 64 * step % 3968 + 64)
        split = split_framed(inputs[rows], targets[rows], mask[rows])
        logits = model.teacher_forced(split.source, split.source_mask, split.decoder_inputs)
        loss = masked_cross_entropy(logits, split.decoder_targets, split.decoder_mask)[0]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.train()
    split = split_framed(*(t[:100] for t in datamodule.splits["val"]))
    generated = model.greedy_decode(split.source, split.source_mask, 8)
    assert model.training  # the mode is restored
    assert generated.shape == (100, 8) and model.last_attention.shape == (100, 8, split.source.shape[1])
    for row in generated.tolist():
        assert EOS_ID in row
        end = row.index(EOS_ID)
        assert all(t == PAD_ID for t in row[end + 1 :]) and PAD_ID not in row[:end] and SEP_ID not in row
    # 60 steps already reverse most strings of up to 4 letters
    exact = exact_matches(generated, split.decoder_targets, split.decoder_mask)
    assert exact.float().mean() > 0.5


@pytest.mark.parametrize("option", ["seq2seq", "seq2seq_attention"])
def test_configs_compose_and_instantiate(option):
    cfg = store.compose([f"model={option}", "data=reverse_task"])
    datamodule = instantiate(cfg.data)
    datamodule.setup()
    model = _build_model(cfg, datamodule)
    assert isinstance(model, EncoderDecoderModule) and model.vocab_size == 11
    assert model.attention_kind == ("none" if option == "seq2seq" else "additive")
    assert model(datamodule.splits["train"][0][:5]).shape == (5, 17, 11)
    assert isinstance(model.configure_optimizers(), torch.optim.Adam)


def test_experiments_compose():
    cfg = store.compose(["+experiment=attention_weights"], return_hydra_config=True)
    jobs = sweep.expand([], sweep.sweep_params(cfg.hydra))
    assert jobs == [[f"model.attention={a}"] for a in ("none", "additive", "dot")]
    assert (
        cfg.model.bidirectional is True
        and cfg.data.task == "reverse"
        and cfg.figure_id == "attention-weights"
    )
    cfg = store.compose(["+experiment=char_lm"], return_hydra_config=True)
    assert sweep.expand([], sweep.sweep_params(cfg.hydra)) == [["model.cell=rnn"], ["model.cell=lstm"]]
    for own, target in (
        ("model.cell=lstm", "RecurrentLanguageModel"),
        ("model=transformer_lm", "TransformerLanguageModel"),
    ):
        cfg = store.compose(["+experiment=char_lm", own])
        assert cfg.model._target_.endswith(target) and cfg.optimizer.lr == 0.003
        assert cfg.data._target_.endswith("CharCorpusDataModule")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"cell": "transformer"}, "cell='transformer'"),
        ({"attention": "cosine"}, "attention='cosine'"),
        ({"hidden_size": 0}, "hidden_size=0"),
        ({"attention_size": 2.5}, "attention_size=2.5"),
        ({"bidirectional": "yes"}, "bidirectional='yes'"),
    ],
)
def test_bad_arguments_name_the_key(options, message):
    with pytest.raises(ValueError, match=message):
        RecurrentSeq2Seq(12, **options)


def test_a_corpus_without_sep_is_refused_with_a_clear_message(tmp_path):
    cfg = store.compose(
        ["data=char_corpus", "model=seq2seq", "logger=none", "trainer.max_epochs=1", f"store.root={tmp_path}"]
    )
    with pytest.raises((ValueError, ConfigError), match="without SEP: use a sequence task"):
        execute(cfg)
