"""What the sequence data sets share: the Vocabulary, causal framing of (source, target) pairs, and the
SequenceDataModule base that holds token tensors on the device and batches them."""

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

from mde_exp.data.base import TensorSplitsDataModule

PAD, SEP, EOS = "<pad>", "<sep>", "<eos>"
SPECIAL_TOKENS = (PAD, SEP, EOS)
PAD_ID, SEP_ID, EOS_ID = 0, 1, 2

Split = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class Vocabulary:
    """A token <-> id map. Ids 0, 1, 2 are the special tokens PAD, SEP (between a source and its
    target) and EOS (after a target); the symbols follow in the order given, duplicates dropped."""

    def __init__(self, symbols: Iterable[str]) -> None:
        symbols = list(dict.fromkeys(symbols))
        clashes = [s for s in symbols if s in SPECIAL_TOKENS]
        if clashes:
            raise ValueError(f"symbols {clashes} are reserved for the special tokens")
        self.tokens: list[str] = [*SPECIAL_TOKENS, *symbols]
        self.ids: dict[str, int] = {token: i for i, token in enumerate(self.tokens)}

    @classmethod
    def from_text(cls, text: str) -> "Vocabulary":
        """The characters of `text`, in code-point order."""
        return cls(sorted(set(text)))

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self.ids

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Ids of `tokens` (a string is a sequence of one-character tokens)."""
        try:
            return [self.ids[t] for t in tokens]
        except KeyError as err:
            raise ValueError(f"token {err.args[0]!r} is not in the vocabulary") from None

    def decode(self, ids: Iterable[int] | torch.Tensor, skip_special: bool = False) -> str:
        """The tokens of `ids` joined into a string; special tokens as <pad>, <sep>, <eos> or left out."""
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else ids
        return "".join(self.tokens[i] for i in ids if not (skip_special and i < len(SPECIAL_TOKENS)))


def frame_source_target(pairs: Sequence[tuple[list[int], list[int]]], width: int) -> Split:
    """Causal language-model framing of (source ids, target ids) pairs.

    Each pair becomes the sequence `source SEP target EOS`, padded with PAD to `width + 1` tokens;
    inputs are its first `width` tokens, targets the same shifted by one (the next token), and mask is
    True where the target is a target token or the final EOS. So the source length is both the
    index of SEP in the inputs and the index of the first True in the mask (see `source_lengths`).
    """
    full = np.full((len(pairs), width + 1), PAD_ID, dtype=np.int64)
    mask = np.zeros((len(pairs), width), dtype=bool)
    for i, (source, target) in enumerate(pairs):
        sequence = [*source, SEP_ID, *target, EOS_ID]
        if len(sequence) > width + 1:
            raise ValueError(f"a sequence of {len(sequence)} tokens does not fit in width {width} + 1")
        full[i, : len(sequence)] = sequence
        mask[i, len(source) : len(sequence) - 1] = True
    full_t = torch.from_numpy(full)
    return full_t[:, :-1].contiguous(), full_t[:, 1:].contiguous(), torch.from_numpy(mask)


def source_lengths(inputs: torch.Tensor) -> torch.Tensor:
    """The source length of each framed sequence (the index of its SEP; inputs without SEP give 0).

    With n = source_lengths(inputs)[i], an encoder-decoder reads `inputs[i, :n]` as the source,
    `inputs[i, n:]` as the decoder's inputs (SEP, then the target: teacher forcing) and
    `targets[i, n:]` where `mask[i, n:]` as the target sequence it must produce (ending with EOS)."""
    return (inputs == SEP_ID).int().argmax(dim=1)


class SequenceDataModule(TensorSplitsDataModule):
    """Token sequences held as tensors on the training device and served as (inputs, targets, mask)
    batches: inputs and targets are N x T token ids (targets = the next token), mask is N x T bool,
    True where the loss counts. Subclasses implement `build()`.

    The validation loaders are the validation split and the first `eval_train_size` training
    sequences, evaluated in eval mode (see EVAL_STAGES in mde_exp.models.base).
    """

    task = "language_model"

    def __init__(self, batch_size: int = 64, eval_train_size: int = 512, split_seed: int = 0) -> None:
        super().__init__()
        if int(batch_size) < 1:
            raise ValueError(f"batch_size={batch_size}: must be a positive integer")
        if int(eval_train_size) < 1:
            raise ValueError(f"eval_train_size={eval_train_size}: must be a positive integer")
        self.batch_size = int(batch_size)
        self.eval_train_size = int(eval_train_size)
        self.split_seed = int(split_seed)
        self.splits: dict[str, Split] = {}
        self.vocabulary: Vocabulary | None = None

    # -- what subclasses provide -------------------------------------------------------------
    def build(self) -> tuple[Vocabulary, dict[str, Split]]:
        """The vocabulary and the train, val and test splits as (inputs, targets, mask) on the CPU."""
        raise NotImplementedError

    # -- Lightning hooks ---------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if not self.splits:
            self.check_available()
            self.vocabulary, splits = self.build()
            n_eval = min(self.eval_train_size, len(splits["train"][0]))
            self.splits = {**splits, "train_eval": tuple(t[:n_eval] for t in splits["train"])}
        self._move_to_training_device()

    # -- what models need to know --------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        self.setup()
        return len(self.vocabulary)

    @property
    def seq_len(self) -> int:
        """T, the number of positions of an inputs row."""
        self.setup()
        return int(self.splits["train"][0].shape[1])

    def model_inputs(self) -> dict[str, Any]:
        return {"vocab_size": self.vocab_size, "seq_len": self.seq_len}
