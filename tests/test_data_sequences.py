"""Sequence data (character corpus, copy / reverse / add / memory tasks) and the recurrent language model."""

import functools

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate

from mde_exp import store
from mde_exp.data.sequence_tasks import TASKS, SequenceTaskDataModule
from mde_exp.data.sequences import EOS_ID, PAD_ID, SEP_ID, Vocabulary, source_lengths
from mde_exp.data.text import CharCorpusDataModule, read_default_text
from mde_exp.errors import CorruptDataError, DataNotFoundError
from mde_exp.models.rnn import RecurrentLanguageModel, masked_cross_entropy
from mde_exp.run import execute

SMALL = {"train_size": 300, "val_size": 50, "test_size": 40, "eval_train_size": 30, "batch_size": 32}


pytestmark = pytest.mark.usefixtures("one_thread")


def task_data(task: str, **options) -> SequenceTaskDataModule:
    dm = SequenceTaskDataModule(task=task, **{**SMALL, **options})
    dm.setup()
    return dm


def sources_and_targets(dm: SequenceTaskDataModule, split: str) -> list[tuple[str, str]]:
    """Each example's source (the inputs before SEP) and masked targets, decoded."""
    inputs, targets, mask = dm.splits[split]
    lengths = source_lengths(inputs)
    return [
        (dm.vocabulary.decode(x[:n]), dm.vocabulary.decode(y[m]))
        for x, y, m, n in zip(inputs, targets, mask, lengths.tolist(), strict=True)
    ]


# -- the vocabulary ------------------------------------------------------------------------------
def test_vocabulary_round_trip_and_special_ids():
    vocabulary = Vocabulary.from_text("hello world")
    assert vocabulary.tokens[:3] == ["<pad>", "<sep>", "<eos>"] and (PAD_ID, SEP_ID, EOS_ID) == (0, 1, 2)
    assert len(vocabulary) == 3 + len(set("hello world"))
    ids = vocabulary.encode("hello")
    assert min(ids) >= 3 and vocabulary.decode(ids) == "hello"
    assert vocabulary.decode([*ids, SEP_ID, EOS_ID, PAD_ID]) == "hello<sep><eos><pad>"
    assert vocabulary.decode([*ids, EOS_ID], skip_special=True) == "hello"
    with pytest.raises(ValueError, match="'z' is not in the vocabulary"):
        vocabulary.encode("z")
    with pytest.raises(ValueError, match="reserved"):
        Vocabulary(["a", "<sep>"])


# -- the generated tasks ---------------------------------------------------------------------------
@pytest.mark.parametrize("task", TASKS)
def test_task_batches_have_the_causal_layout(task):
    dm = task_data(task, max_len=5, gap=4)
    vocab_size, width = dm.model_inputs()["vocab_size"], dm.model_inputs()["seq_len"]
    assert vocab_size == len(dm.vocabulary) and width == dm.width()
    assert dm.sizes() == {"train": 300, "val": 50, "test": 40, "train_eval": 30}
    for inputs, targets, mask in dm.splits.values():
        assert inputs.shape == targets.shape == mask.shape and inputs.shape[1] == width
        assert inputs.dtype == targets.dtype == torch.long and mask.dtype == torch.bool
        assert int(inputs.min()) >= 0 and int(inputs.max()) < vocab_size and int(targets.max()) < vocab_size
        assert torch.equal(inputs[:, 1:], targets[:, :-1])  # targets are the next tokens
        assert bool((targets[mask] != PAD_ID).all())  # padding never counts
        lengths = source_lengths(inputs)
        rows = torch.arange(len(inputs))
        assert bool((inputs[rows, lengths] == SEP_ID).all()) and bool(((inputs == SEP_ID).sum(1) == 1).all())
        assert torch.equal(mask.int().argmax(dim=1), lengths)  # the loss starts at SEP
        assert bool(((targets == EOS_ID) & mask).sum(1).eq(1).all())  # one EOS per example, counted
    batches = list(dm.train_dataloader())
    assert len(batches) == 10 and batches[0][0].shape == (32, width) and len(batches[0]) == 3
    val, train_eval = dm.val_dataloader()
    assert sum(len(b[0]) for b in val) == 50 and sum(len(b[0]) for b in train_eval) == 30
    assert sum(len(b[0]) for b in dm.test_dataloader()) == 40


def test_copy_and_reverse_targets_are_the_source_and_its_reverse():
    for source, target in sources_and_targets(task_data("copy", min_len=2, max_len=6), "train"):
        assert target == source + "<eos>" and 2 <= len(source) <= 6 and set(source) <= set("abcdefgh")
    for source, target in sources_and_targets(task_data("reverse", min_len=2, max_len=6), "test"):
        assert target == source[::-1] + "<eos>"


def test_add_task_sums_are_right():
    examples = sources_and_targets(task_data("add", min_len=1, max_len=4), "train")
    for source, target in examples:
        a, b = source.split("+")
        assert target == f"{int(a) + int(b)}<eos>" and 1 <= len(a) <= 4 and a == str(int(a))
    assert {len(s.split("+")[0]) for s, _ in examples} == {1, 2, 3, 4}


@pytest.mark.parametrize("noise", [False, True])
def test_memory_task_recalls_the_first_symbols_across_the_gap(noise):
    dm = task_data("memory", min_len=1, max_len=2, gap=7, noise=noise)
    for source, target in sources_and_targets(dm, "val"):
        symbols = target.removesuffix("<eos>")
        filler = source[len(symbols) :]
        assert source.startswith(symbols) and len(filler) == 7 and set(symbols) <= set("abcdefgh")
        assert set(filler) <= (set("0123456789") if noise else {"."})
    assert dm.width() == 2 + 7 + 2 + 1


def test_tasks_are_fixed_by_their_seed():
    a, b = task_data("add"), task_data("add")
    other = task_data("add", generator_seed=1)
    for split in ("train", "val", "test"):
        assert all(torch.equal(s, t) for s, t in zip(a.splits[split], b.splits[split], strict=True))
        assert not torch.equal(a.splits[split][0], other.splits[split][0])
    bigger = task_data("add", train_size=500)
    assert torch.equal(bigger.splits["test"][0], a.splits["test"][0])  # each split has its own stream
    order = [torch.cat([x for x, *_ in a.train_dataloader()]) for _ in range(2)]
    reseeded = task_data("add", split_seed=3)
    assert torch.equal(order[0], order[1])
    assert not torch.equal(order[0], torch.cat([x for x, *_ in reseeded.train_dataloader()]))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"task": "sort"}, "task='sort': choose one of copy, reverse, add, memory"),
        ({"task": "memory", "gap": 0}, "gap=0"),
        ({"min_len": 0}, "min_len=0"),
        ({"min_len": 5, "max_len": 3}, "min_len <= max_len"),
        ({"alphabet_size": 30}, "alphabet_size=30"),
        ({"task": "add", "max_len": 19}, "at most 18 digits"),
        ({"train_size": 0}, "train_size=0"),
        ({"batch_size": 0}, "batch_size=0"),
    ],
)
def test_impossible_task_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        SequenceTaskDataModule(**options)


# -- the character corpus --------------------------------------------------------------------------
def test_default_corpus_is_embedded_and_split_contiguously():
    text = read_default_text()
    assert 20_000 <= len(text.encode()) <= 40_000
    dm = CharCorpusDataModule(seq_len=50, val_size=0.1, test_size=0.2, eval_train_size=10)
    dm.setup()
    assert dm.model_inputs() == {"vocab_size": 3 + len(set(text)), "seq_len": 50}
    parts = [dm.split_text(split) for split in ("train", "val", "test")]
    assert "".join(parts) == text
    assert [round(len(p) / len(text), 2) for p in parts] == [0.7, 0.1, 0.2]
    for split, (inputs, targets, mask) in dm.splits.items():
        assert inputs.shape == targets.shape == mask.shape and inputs.shape[1] == 50
        assert torch.equal(mask, targets != PAD_ID)  # every character counts, padding does not
        assert bool(mask[:-1].all()), f"{split}: only the last window may be padded"
        assert torch.equal(inputs[:, 1:][mask[:, 1:]], targets[:, :-1][mask[:, 1:]])
    assert dm.sizes()["train_eval"] == 10


def test_a_smaller_stride_gives_overlapping_windows(tmp_path):
    path = tmp_path / "abc.txt"
    path.write_text("abcdefghijklmnopqrstuvwxyz" * 4)
    dm = CharCorpusDataModule(path=str(path), seq_len=8, stride=2, val_size=0.25, test_size=0.25)
    dm.setup()
    inputs = dm.splits["train"][0]
    assert len(inputs) == 26 and torch.equal(inputs[1, :6], inputs[0, 2:])
    assert dm.vocabulary.decode(inputs[0]) == "abcdefgh"


def test_missing_empty_and_binary_text_files_fail_with_one_line(tmp_path):
    missing = tmp_path / "nowhere.txt"
    with pytest.raises(DataNotFoundError, match=f"text file {missing} not found") as err:
        CharCorpusDataModule(path=str(missing)).check_available()
    assert "\n" not in str(err.value)
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    with pytest.raises(CorruptDataError, match=f"{empty} is empty"):
        CharCorpusDataModule(path=str(empty)).setup()
    binary = tmp_path / "weights.bin"
    binary.write_bytes(bytes(range(256)))
    with pytest.raises(CorruptDataError, match=f"{binary} is not UTF-8 text"):
        CharCorpusDataModule(path=str(binary)).setup()
    with pytest.raises(DataNotFoundError, match="nowhere.txt not found"):
        overrides = ["data=char_corpus", f"data.path={missing}", "model=rnn_lm", "logger=none"]
        execute(store.compose([*overrides, f"store.root={tmp_path / 'runs'}"]))
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"seq_len": 1}, "seq_len=1"),
        ({"stride": 0}, "stride=0"),
        ({"val_size": 0}, "val_size=0"),
        ({"val_size": 0.5, "test_size": 0.5}, "leave no text to train on"),
    ],
)
def test_impossible_corpus_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        CharCorpusDataModule(**options)


def test_a_text_too_short_for_its_splits_is_refused(tmp_path):
    path = tmp_path / "short.txt"
    path.write_text("tiny")
    with pytest.raises(ValueError, match="its val part"):
        CharCorpusDataModule(path=str(path)).setup()


# -- configs and the model -------------------------------------------------------------------------
@pytest.mark.parametrize("option", ["char_corpus", "copy_task", "reverse_task", "add_task", "memory_task"])
def test_sequence_data_configs_build_a_model(option):
    cfg = store.compose([f"data={option}", "model=rnn_lm"])
    dm = instantiate(cfg.data)
    assert dm.task == "language_model" and dm.batch_size == cfg.data.batch_size
    model = instantiate(cfg.model, vocab_size=dm.vocab_size)
    inputs = dm.splits["train"][0][:3]
    assert model(inputs).shape == (3, dm.seq_len, dm.vocab_size)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_model_cells_forward_and_generate(cell):
    model = RecurrentLanguageModel(vocab_size=12, embedding_dim=8, hidden_size=16, num_layers=2, cell=cell)
    assert type(model.recurrent).__name__ == cell.upper() and model.recurrent.num_layers == 2
    prompt = torch.tensor([[3, 4, 5], [6, 7, 8]])
    assert model(prompt).shape == (2, 3, 12)
    out = model.generate(prompt, steps=4)
    assert out.shape == (2, 7) and torch.equal(out[:, :3], prompt) and int(out.max()) < 12
    sampled = model.generate(prompt[0], 5, temperature=1.0, generator=torch.Generator().manual_seed(0))
    assert sampled.shape == (8,) and model.training
    # Greedy generation continues exactly as the full forward pass would predict.
    assert torch.equal(model(out[:, :-1]).argmax(-1)[:, 2:], out[:, 3:])


def test_the_loss_counts_masked_positions_only():
    logits = torch.randn(4, 6, 10)
    targets = torch.randint(3, 10, (4, 6))
    mask = torch.zeros(4, 6, dtype=torch.bool)
    mask[:, 3:] = True
    changed = targets.clone()
    changed[:, :3] = 0
    loss, per_token = masked_cross_entropy(logits, targets, mask)
    assert loss.dim() == 0 and per_token.shape == (4, 6)
    assert torch.allclose(loss, masked_cross_entropy(logits, changed, mask)[0])
    assert torch.allclose(loss, F.cross_entropy(logits[:, 3:].reshape(-1, 10), targets[:, 3:].reshape(-1)))
    assert not torch.allclose(loss, masked_cross_entropy(logits, changed, ~mask)[0])


@pytest.mark.parametrize(
    ("options", "message"),
    [({"cell": "transformer"}, "cell='transformer'"), ({"hidden_size": 0}, "hidden_size=0")],
)
def test_impossible_model_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        RecurrentLanguageModel(vocab_size=10, **options)


def test_a_short_run_through_the_runner_finishes(tmp_path):
    cfg = store.compose(
        ["data=copy_task", "model=rnn_lm", "trainer.max_epochs=1", "logger=none", f"store.root={tmp_path}"]
    )
    result = execute(cfg)
    assert result.status == "finished"
    expected = {
        f"{stage}/{name}" for stage in ("train", "val", "train_eval", "test") for name in ("loss", "acc")
    }
    assert expected <= set(result.metrics)
    assert 0 < result.metrics["test/acc"] <= 1


def test_an_lstm_learns_the_memory_task():
    """Four short epochs take the first answer token from chance (1 in 4) to nearly always right."""
    L.seed_everything(0, verbose=False)
    dm = SequenceTaskDataModule(
        task="memory", max_len=1, alphabet_size=4, gap=5, train_size=1000, val_size=200, test_size=200,
        batch_size=32,
    )  # fmt: skip
    model = RecurrentLanguageModel(
        vocab_size=dm.vocab_size, embedding_dim=16, hidden_size=64, cell="lstm",
        optimizer=functools.partial(torch.optim.Adam, lr=0.03),
    )  # fmt: skip
    trainer = L.Trainer(
        max_epochs=4, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
    )  # fmt: skip
    trainer.fit(model, datamodule=dm)
    inputs, targets, _ = dm.splits["test"]
    rows, answer_at = torch.arange(len(inputs)), source_lengths(inputs)
    with torch.no_grad():
        predicted = model(inputs).argmax(-1)[rows, answer_at]
    accuracy = (predicted == targets[rows, answer_at]).float().mean().item()
    assert accuracy > 0.9, f"first answer token accuracy {accuracy:.2f}, chance 0.25"
