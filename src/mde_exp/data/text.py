"""CharCorpusDataModule: next-character prediction on a text file or on the project's embedded text."""

from importlib.resources import files
from pathlib import Path

import torch

from mde_exp.data.sequences import PAD_ID, SequenceDataModule, Split, Vocabulary
from mde_exp.errors import CorruptDataError, DataNotFoundError

DEFAULT_CORPUS = "corpus/default.txt"  # package data of mde_exp.data: original prose written for the project


def read_default_text() -> str:
    """The embedded default corpus (about 30 KB of English prose on learning, gradients and networks)."""
    return files("mde_exp.data").joinpath(DEFAULT_CORPUS).read_text(encoding="utf-8")


def require_file(path: str | Path) -> Path:
    """`path` with ~ expanded; DataNotFoundError, naming it, if no file is there."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataNotFoundError(
            f"text file {path} not found: set data.path to a UTF-8 text file, or null for the embedded text"
        )
    return path


def read_text_file(path: str | Path) -> str:
    """The UTF-8 text of `path`, line ends normalised to \\n; DataNotFoundError if it is not there,
    CorruptDataError if it is empty or not text."""
    path = require_file(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise CorruptDataError(f"{path} is not UTF-8 text ({err.reason} at byte {err.start})") from None
    if "\x00" in text:
        raise CorruptDataError(f"{path} holds NUL bytes: it is a binary file, not text")
    if not text.strip():
        raise CorruptDataError(f"{path} is empty: a character corpus needs some text")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def windows(ids: torch.Tensor, seq_len: int, stride: int) -> Split:
    """Windows of `seq_len` inputs starting every `stride` characters, each with the next character as
    target; the windows that run past the end are padded with PAD, which the mask leaves out."""
    padded = torch.cat([ids, torch.full((seq_len + 1,), PAD_ID, dtype=ids.dtype)])
    starts = torch.arange(0, len(ids) - 1, stride)
    chunks = padded[starts[:, None] + torch.arange(seq_len + 1)]
    targets = chunks[:, 1:].contiguous()
    return chunks[:, :-1].contiguous(), targets, targets != PAD_ID


class CharCorpusDataModule(SequenceDataModule):
    """A character-level corpus (the language models of book chapter 7, sequence models): the text is cut
    contiguously into train, val and test parts (the last `val_size + test_size` fraction of the text
    is held out, test last), each part into windows of `seq_len` characters; the target of each
    position is the next character and the mask is True wherever that target is text (not padding).

    `path` is any UTF-8 text file; null takes the embedded default text. The vocabulary is every
    character of the whole text plus the special tokens. `stride` (default `seq_len`) is the step
    between window starts: a smaller stride gives overlapping windows, so more of them.
    """

    def __init__(
        self,
        path: str | None = None,
        seq_len: int = 64,
        stride: int | None = None,
        val_size: float = 0.1,
        test_size: float = 0.1,
        batch_size: int = 64,
        eval_train_size: int = 512,
        split_seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, eval_train_size=eval_train_size, split_seed=split_seed)
        if int(seq_len) < 2:
            raise ValueError(f"seq_len={seq_len}: a window needs at least 2 characters")
        if stride is not None and int(stride) < 1:
            raise ValueError(f"stride={stride}: must be a positive integer (or null for seq_len)")
        for name, fraction in (("val_size", val_size), ("test_size", test_size)):
            if not 0 < float(fraction) < 1:
                raise ValueError(f"{name}={fraction}: must be a fraction of the text in (0, 1)")
        if float(val_size) + float(test_size) >= 1:
            raise ValueError(f"val_size={val_size} and test_size={test_size} leave no text to train on")
        self.path = None if path is None else str(path)
        self.seq_len_option = int(seq_len)
        self.stride = int(stride) if stride is not None else int(seq_len)
        self.val_size = float(val_size)
        self.test_size = float(test_size)

    def check_available(self) -> None:
        if self.path is not None:
            require_file(self.path)

    def read(self) -> str:
        """The whole corpus."""
        return read_default_text() if self.path is None else read_text_file(self.path)

    def build(self) -> tuple[Vocabulary, dict[str, Split]]:
        text = self.read()
        vocabulary = Vocabulary.from_text(text)
        ids = torch.tensor(vocabulary.encode(text), dtype=torch.long)
        n_val, n_test = round(len(ids) * self.val_size), round(len(ids) * self.test_size)
        n_train = len(ids) - n_val - n_test
        parts = {
            "train": ids[:n_train],
            "val": ids[n_train : n_train + n_val],
            "test": ids[n_train + n_val :],
        }
        for name, part in parts.items():
            if len(part) < 2:
                raise ValueError(
                    f"the text has {len(ids)} characters: its {name} part ({len(part)}) is too short "
                    "for one window; use a longer text or larger fractions"
                )
        return vocabulary, {k: windows(v, self.seq_len_option, self.stride) for k, v in parts.items()}

    def split_text(self, split: str) -> str:
        """The text of one split, read back from its windows (the first input, then every counted
        target): for reading samples and checking splits."""
        if self.stride != self.seq_len_option:
            raise ValueError("split_text needs windows that do not overlap (stride == seq_len)")
        self.setup()
        inputs, targets, mask = (t.cpu() for t in self.splits[split])
        return self.vocabulary.decode(torch.cat([inputs[0, :1], targets[mask]]))
