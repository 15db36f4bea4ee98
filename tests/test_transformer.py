"""The transformer of book section 7.5: attention and its masks, multi-head attention and the blocks against
torch's own on the same weights, the sinusoidal positional embedding, and the two transformer models."""

import inspect
import math

import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from torch import nn

from mde_exp import store
from mde_exp.data.sequence_tasks import SequenceTaskDataModule
from mde_exp.data.sequences import EOS_ID, PAD_ID, SEP_ID
from mde_exp.errors import ConfigError
from mde_exp.models.rnn import RecurrentLanguageModel
from mde_exp.models.seq2seq import split_framed
from mde_exp.models.transformer import TransformerLanguageModel, TransformerSeq2Seq
from mde_exp.nn.attention import (
    MultiHeadAttention,
    causal_mask,
    keep_attention,
    padding_mask,
    scaled_dot_product_attention,
)
from mde_exp.nn.positional import SinusoidalPositionalEmbedding, frequencies, sinusoidal_embedding
from mde_exp.nn.transformer import DecoderBlock, Encoder, EncoderBlock
from mde_exp.run import _build_model
from mde_exp.validate import check_config

pytestmark = pytest.mark.usefixtures("one_thread")


# -- scaled dot-product attention and the masks ----------------------------------------------------
def test_causal_and_padding_masks():
    assert torch.equal(causal_mask(3), torch.tensor([[1, 0, 0], [1, 1, 0], [1, 1, 1]], dtype=torch.bool))
    tokens = torch.tensor([[5, 6, PAD_ID], [7, PAD_ID, PAD_ID]])
    mask = padding_mask(tokens)
    assert mask.shape == (2, 1, 1, 3)
    assert mask[:, 0, 0].tolist() == [[True, True, False], [True, False, False]]
    with pytest.raises(ValueError, match="length=0"):
        causal_mask(0)


def test_attention_rows_are_probabilities_and_masked_keys_get_zero_weight():
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 3, 5, 8), torch.randn(2, 3, 7, 8), torch.randn(2, 3, 7, 4)
    keys_real = torch.tensor([[True] * 7, [True] * 4 + [False] * 3])[:, None, None, :]
    out, weights = scaled_dot_product_attention(q, k, v, keys_real)
    assert out.shape == (2, 3, 5, 4) and weights.shape == (2, 3, 5, 7)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 3, 5))
    assert torch.all(weights[1, :, :, 4:] == 0) and torch.all(weights[1, :, :, :4] > 0)
    # against torch's fused attention (whose boolean mask also marks the allowed positions)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=keys_real)
    assert torch.allclose(out, expected, atol=1e-5)
    # the formula: softmax(q k^T / sqrt(d)) without a mask
    _, plain = scaled_dot_product_attention(q, k, v)
    assert torch.allclose(plain, torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(8), -1))
    # changing a masked value changes nothing
    v2 = v.clone()
    v2[1, :, 5] = 100.0
    assert torch.allclose(scaled_dot_product_attention(q, k, v2, keys_real)[0], out)


def test_a_row_with_no_allowed_key_is_zero_not_nan():
    q, k, v = torch.randn(1, 2, 4), torch.randn(1, 3, 4), torch.randn(1, 3, 4)
    mask = torch.tensor([[[True, True, False], [False, False, False]]])
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    assert torch.isfinite(out).all() and torch.all(weights[0, 1] == 0) and torch.all(out[0, 1] == 0)


def _copy_into_torch(mine: MultiHeadAttention, theirs: nn.MultiheadAttention) -> None:
    with torch.no_grad():
        theirs.in_proj_weight.copy_(torch.cat([mine.w_q.weight, mine.w_k.weight, mine.w_v.weight]))
        theirs.in_proj_bias.copy_(torch.cat([mine.w_q.bias, mine.w_k.bias, mine.w_v.bias]))
        theirs.out_proj.weight.copy_(mine.w_o.weight)
        theirs.out_proj.bias.copy_(mine.w_o.bias)


def test_multi_head_attention_equals_torch_on_the_same_weights():
    torch.manual_seed(1)
    d, heads = 16, 4
    mine = MultiHeadAttention(d, heads)
    theirs = nn.MultiheadAttention(d, heads, batch_first=True)
    _copy_into_torch(mine, theirs)
    x, memory = torch.randn(3, 6, d), torch.randn(3, 9, d)
    lengths = torch.tensor([9, 5, 2])
    real = torch.arange(9)[None, :] < lengths[:, None]
    with keep_attention(mine):
        out = mine(x, memory, memory, real[:, None, None, :])
    expected, expected_weights = theirs(x, memory, memory, key_padding_mask=~real, average_attn_weights=False)
    assert torch.allclose(out, expected, atol=1e-5)
    assert mine.weights.shape == (3, heads, 6, 9)
    assert torch.allclose(mine.weights, expected_weights, atol=1e-6)
    # causal self-attention: torch's attn_mask marks the forbidden positions
    with keep_attention(mine):
        out = mine(x, x, x, causal_mask(6))
    expected, _ = theirs(x, x, x, attn_mask=~causal_mask(6))
    assert torch.allclose(out, expected, atol=1e-5)
    assert torch.all(mine.weights.triu(1) == 0)
    assert not mine.keep_weights  # only inside keep_attention
    mine(x, x, x)
    assert mine.weights is None
    with pytest.raises(ValueError, match="num_heads=3"):
        MultiHeadAttention(16, 3)


# -- the blocks against torch.nn.TransformerEncoderLayer / DecoderLayer ------------------------------
def _copy_block(mine: nn.Module, theirs: nn.Module, decoder: bool) -> None:
    _copy_into_torch(mine.self_attention, theirs.self_attn)
    norms = [mine.attention_residual.norm]
    if decoder:
        _copy_into_torch(mine.cross_attention, theirs.multihead_attn)
        norms.append(mine.cross_residual.norm)
    norms.append(mine.feed_forward_residual.norm)
    with torch.no_grad():
        for source, target in (
            (mine.feed_forward[0], theirs.linear1),
            (mine.feed_forward[3], theirs.linear2),
        ):
            target.weight.copy_(source.weight)
            target.bias.copy_(source.bias)
        for source, target in zip(
            norms, (theirs.norm1, theirs.norm2, getattr(theirs, "norm3", None)), strict=False
        ):
            target.weight.copy_(source.weight + 0.1 * torch.randn_like(source.weight))
            source.weight.copy_(target.weight)  # non-trivial norm gains, the same in both


@pytest.mark.parametrize("norm_position", ["pre", "post"])
def test_encoder_and_decoder_blocks_equal_torch_layers(norm_position):
    torch.manual_seed(2)
    d, heads, ff = 16, 2, 24
    first = norm_position == "pre"
    x, memory = torch.randn(2, 5, d), torch.randn(2, 7, d)
    enc = EncoderBlock(d, heads, ff, 0.0, norm_position).eval()
    torch_enc = nn.TransformerEncoderLayer(d, heads, ff, 0.0, batch_first=True, norm_first=first).eval()
    _copy_block(enc, torch_enc, decoder=False)
    real = torch.tensor([[True] * 5, [True, True, True, False, False]])
    assert torch.allclose(enc(x, real[:, None, None, :]), torch_enc(x, src_key_padding_mask=~real), atol=1e-5)

    dec = DecoderBlock(d, heads, ff, 0.0, norm_position).eval()
    torch_dec = nn.TransformerDecoderLayer(d, heads, ff, 0.0, batch_first=True, norm_first=first).eval()
    _copy_block(dec, torch_dec, decoder=True)
    source_real = torch.tensor([[True] * 7, [True] * 3 + [False] * 4])
    mine = dec(x, causal_mask(5), memory, source_real[:, None, None, :])
    theirs = torch_dec(x, memory, tgt_mask=~causal_mask(5), memory_key_padding_mask=~source_real)
    assert torch.allclose(mine, theirs, atol=1e-5)


def test_encoder_ignores_padded_positions_and_the_block_arguments_are_checked():
    torch.manual_seed(3)
    encoder = Encoder(2, 16, 4, 32).eval()
    x = torch.randn(1, 6, 16)
    real = torch.tensor([[True] * 4 + [False] * 2])[:, None, None, :]
    changed = x.clone()
    changed[:, 4:] = torch.randn(1, 2, 16)
    assert torch.allclose(encoder(x, real)[:, :4], encoder(changed, real)[:, :4], atol=1e-6)
    assert not torch.allclose(encoder(x)[:, :4], encoder(changed)[:, :4], atol=1e-3)  # without the mask
    with pytest.raises(ValueError, match="norm_position='middle'"):
        EncoderBlock(16, 4, 32, norm_position="middle")
    with pytest.raises(ValueError, match="num_layers=0"):
        Encoder(0, 16, 4, 32)
    with pytest.raises(ValueError, match="memory=None"):
        DecoderBlock(16, 4, 32)(x)


# -- the sinusoidal positional embedding -----------------------------------------------------------
def test_positional_embedding_is_the_closed_form():
    p, M = 10, 1e4
    emb = sinusoidal_embedding(7, p, M, dtype=torch.float64)
    assert emb.shape == (7, p)
    for t in range(1, 8):
        for k in range(p // 2):
            assert float(emb[t - 1, 2 * k]) == pytest.approx(math.sin(t / M ** (2 * k / p)), abs=1e-12)
            assert float(emb[t - 1, 2 * k + 1]) == pytest.approx(math.cos(t / M ** (2 * k / p)), abs=1e-12)
    assert torch.allclose(
        frequencies(p, M), torch.tensor([M ** (-2 * k / p) for k in range(p // 2)]).double()
    )
    assert torch.allclose(sinusoidal_embedding(torch.tensor([3, 1]), p, M, torch.float64), emb[[2, 0]])
    module = SinusoidalPositionalEmbedding(p, M, T=4)
    x = torch.zeros(2, 6, p)  # longer than the table: computed on the fly
    assert torch.allclose(module(x)[0], emb[:6].float()) and "table" not in module.state_dict()
    with pytest.raises(ValueError, match="p=7"):
        sinusoidal_embedding(3, 7)
    with pytest.raises(ValueError, match="M=1"):
        frequencies(4, 1)


def test_positional_embedding_shift_is_a_rotation():
    emb = sinusoidal_embedding(300, 64, dtype=torch.float64)
    gram = emb @ emb.T
    for offset in (0, 1, 5, 40):
        diagonal = torch.diagonal(gram, offset)
        assert torch.allclose(diagonal, diagonal[0].expand_as(diagonal), atol=1e-9)
    assert torch.allclose(torch.diagonal(gram), torch.full((300,), 32.0, dtype=torch.float64))


# -- the causal language model ------------------------------------------------------------------------
def tiny_lm(**options) -> TransformerLanguageModel:
    torch.manual_seed(0)
    return TransformerLanguageModel(
        **{
            "vocab_size": 12,
            "seq_len": 10,
            "d_model": 16,
            "num_heads": 2,
            "num_layers": 2,
            "d_ff": 32,
            **options,
        }
    )


@pytest.mark.parametrize("norm_position", ["pre", "post"])
def test_no_look_ahead(norm_position):
    model = tiny_lm(norm_position=norm_position, dropout=0.1).eval()
    x = torch.randint(3, 12, (4, 10))
    logits = model(x)
    assert logits.shape == (4, 10, 12)
    for t in (0, 3, 8):
        changed = x.clone()
        changed[:, t + 1 :] = torch.randint(3, 12, (4, 9 - t))
        changed[:, t + 1] = (x[:, t + 1] - 2) % 9 + 3  # surely different at t + 1
        after = model(changed)
        assert torch.allclose(after[:, : t + 1], logits[:, : t + 1], atol=1e-6), t
        assert not torch.allclose(after[:, t + 1], logits[:, t + 1], atol=1e-4), t  # it reads its inputs


def test_language_model_attention_maps_are_causal():
    model = tiny_lm().eval()
    x = torch.randint(3, 12, (2, 8))
    x[1, 6:] = PAD_ID
    with keep_attention(model) as modules:
        model(x)
    assert len(modules) == 2  # self-attention only, one per block
    for weights in (m.weights for m in modules.values()):
        assert weights.shape == (2, 2, 8, 8)
        assert torch.all(weights.triu(1) == 0)
        assert torch.allclose(weights.sum(-1), torch.ones(2, 2, 8))
        assert torch.all(weights[1, :, :, 6:] == 0)  # PAD is never attended to


@pytest.mark.parametrize("norm_position", ["pre", "post"])
def test_pre_and_post_norm_both_train(norm_position):
    dm = SequenceTaskDataModule(task="copy", max_len=4, train_size=64, val_size=8, test_size=8, batch_size=64)
    dm.setup()
    inputs, targets, mask = dm.splits["train"]
    model = tiny_lm(vocab_size=dm.vocab_size, seq_len=dm.seq_len, norm_position=norm_position)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        loss = (
            F.cross_entropy(model(inputs).transpose(1, 2), targets, reduction="none") * mask
        ).sum() / mask.sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.6 * losses[0], losses


def test_generate_shapes_and_greedy_determinism():
    # the recurrent model's signature, so that a recipe samples from either
    assert inspect.signature(TransformerLanguageModel.generate) == inspect.signature(
        RecurrentLanguageModel.generate
    )
    model = tiny_lm()
    prompts = torch.randint(3, 12, (3, 4))
    out = model.generate(prompts, 15)  # beyond seq_len = 10: the window slides
    assert out.shape == (3, 19) and torch.equal(out[:, :4], prompts)
    assert torch.equal(model.generate(prompts, 15), out)
    # each greedy token is the argmax of the model's logits on the last seq_len tokens
    for j in (4, 12, 18):
        window = out[:, max(0, j - 10) : j]
        assert torch.equal(model(window)[:, -1].argmax(-1), out[:, j])
    single = model.generate(prompts[0], 5)
    assert single.shape == (9,) and torch.equal(single, out[0, :9])
    assert model.training  # the mode is restored
    draws = [model.generate(prompts, 6, 1.0, torch.Generator().manual_seed(7)) for _ in range(2)]
    assert torch.equal(draws[0], draws[1]) and draws[0].shape == (3, 10)
    with pytest.raises(ValueError, match="temperature=-1"):
        model.generate(prompts, 2, temperature=-1)


def test_language_model_arguments_are_checked():
    with pytest.raises(ValueError, match="norm_position='mid'"):
        tiny_lm(norm_position="mid")
    with pytest.raises(ValueError, match="d_model=18"):
        tiny_lm(d_model=18, num_heads=4)
    with pytest.raises(ValueError, match="dropout="):
        tiny_lm(dropout=[0.1, 0.2])
    with pytest.raises(ValueError, match="num_layers=0"):
        tiny_lm(num_layers=0)


# -- the encoder-decoder -----------------------------------------------------------------------------
def reverse_batch(n: int = 6) -> tuple[torch.Tensor, ...]:
    dm = SequenceTaskDataModule(
        task="reverse", max_len=5, train_size=n, val_size=2, test_size=2, batch_size=n
    )
    dm.setup()
    return dm, dm.splits["train"]


def tiny_seq2seq(vocab_size: int, **options) -> TransformerSeq2Seq:
    torch.manual_seed(0)
    return TransformerSeq2Seq(
        vocab_size, **{"seq_len": 11, "d_model": 16, "num_heads": 2, "num_encoder_layers": 1,
                       "num_decoder_layers": 2, "d_ff": 32, **options}
    )  # fmt: skip


def test_seq2seq_decoder_is_causal_and_the_source_padding_is_ignored():
    dm, (inputs, targets, mask) = reverse_batch()
    model = tiny_seq2seq(dm.vocab_size).eval()
    split = split_framed(inputs, targets, mask)
    logits = model.teacher_forced(split.source, split.source_mask, split.decoder_inputs)
    assert logits.shape == (*split.decoder_inputs.shape, dm.vocab_size)
    # no look-ahead in the decoder
    changed = split.decoder_inputs.clone()
    changed[:, 2:] = torch.randint(3, dm.vocab_size, changed[:, 2:].shape)
    after = model.teacher_forced(split.source, split.source_mask, changed)
    assert torch.allclose(after[:, :2], logits[:, :2], atol=1e-6)
    # padding after a source changes nothing
    source = split.source.clone()
    source[~split.source_mask] = 5
    assert torch.allclose(
        model.teacher_forced(source, split.source_mask, split.decoder_inputs), logits, atol=1e-6
    )
    # the causal-LM view and incremental decoding agree with teacher forcing
    memory = model.encode(split.source, split.source_mask)
    first, state = model.decode(split.decoder_inputs[:, :3], memory, split.source_mask)
    rest, state = model.decode(split.decoder_inputs[:, 3:], memory, split.source_mask, state)
    assert torch.allclose(torch.cat([first, rest], 1), logits, atol=1e-5)
    assert torch.equal(state, split.decoder_inputs)
    assert model.last_attention.shape == (
        len(inputs),
        split.decoder_inputs.shape[1] - 3,
        split.source.shape[1],
    )
    assert torch.all(model.last_attention.masked_select(~split.source_mask[:, None, :]) == 0)


def test_seq2seq_trains_and_greedy_decoding_keeps_the_attention():
    dm, (inputs, targets, mask) = reverse_batch(32)
    model = tiny_seq2seq(dm.vocab_size)
    split = split_framed(inputs, targets, mask)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        logits = model.teacher_forced(split.source, split.source_mask, split.decoder_inputs)
        loss = (F.cross_entropy(logits.transpose(1, 2), split.decoder_targets, reduction="none")
                * split.decoder_mask).sum() / split.decoder_mask.sum()  # fmt: skip
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.7 * losses[0]
    out = model.greedy_decode(split.source, split.source_mask, 7)
    assert out.shape == (32, 7) and model.last_attention.shape == (32, 7, split.source.shape[1])
    assert torch.equal(model.greedy_decode(split.source, split.source_mask, 7), out)
    with keep_attention(model) as modules:
        model.teacher_forced(split.source, split.source_mask, split.decoder_inputs)
    cross = [m.weights for name, m in modules.items() if "cross" in name]
    assert len(cross) == 2 and cross[0].shape == (32, 2, split.decoder_inputs.shape[1], split.source.shape[1])
    assert {SEP_ID, EOS_ID} <= set(inputs.unique().tolist())


# -- configs -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("option", "data"),
    [
        ("transformer_lm", "char_corpus"),
        ("transformer_lm", "copy_task"),
        ("transformer_seq2seq", "reverse_task"),
    ],
)
def test_configs_compose_and_instantiate(option, data):
    cfg = store.compose([f"model={option}", f"data={data}", "dropout=0.1", "model.norm_position=post"])
    check_config(cfg)
    dm = instantiate(cfg.data)
    dm.setup()
    model = _build_model(cfg, dm)
    assert model.hparams.dropout == 0.1 and model.hparams.norm_position == "post"
    assert model.hparams.seq_len == dm.seq_len and model.hparams.M == 1e4
    x = dm.splits["train"][0][:3]
    assert model(x).shape == (3, dm.seq_len, dm.vocab_size)
    with pytest.raises(ConfigError, match="norm_position='side'"):
        check_config(store.compose([f"model={option}", f"data={data}", "model.norm_position=side"]))
