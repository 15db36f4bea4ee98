"""SequenceTaskDataModule: generated sequence-to-sequence tasks (copy, reverse, add, memory) framed as
causal language modelling over `source SEP target EOS`."""

import string
from collections.abc import Callable

import numpy as np

from mde_exp.data.sequences import SequenceDataModule, Split, Vocabulary, frame_source_target

TASKS = ("copy", "reverse", "add", "memory")
DIGITS = string.digits
BLANK = "."

Pairs = list[tuple[list[str], list[str]]]


def _strings(rng: np.random.Generator, n: int, min_len: int, max_len: int, alphabet: str) -> list[list[str]]:
    lengths = rng.integers(min_len, max_len + 1, size=n)
    return [list(rng.choice(list(alphabet), size=k)) for k in lengths]


def copy_pairs(rng: np.random.Generator, n: int, min_len: int, max_len: int, alphabet: str) -> Pairs:
    """A random string of min_len..max_len symbols, and the same string."""
    return [(s, s) for s in _strings(rng, n, min_len, max_len, alphabet)]


def reverse_pairs(rng: np.random.Generator, n: int, min_len: int, max_len: int, alphabet: str) -> Pairs:
    """A random string of min_len..max_len symbols, and the string reversed."""
    return [(s, s[::-1]) for s in _strings(rng, n, min_len, max_len, alphabet)]


def _number(rng: np.random.Generator, digits: int) -> int:
    low = 0 if digits == 1 else 10 ** (digits - 1)
    return low + int(rng.integers(0, 10**digits - low))  # exact for any number of digits


def add_pairs(rng: np.random.Generator, n: int, min_len: int, max_len: int) -> Pairs:
    """ "a+b" for two numbers of min_len..max_len decimal digits each, and their sum: "123+45" -> "168"."""
    pairs = []
    for d1, d2 in rng.integers(min_len, max_len + 1, size=(n, 2)):
        a, b = _number(rng, int(d1)), _number(rng, int(d2))
        pairs.append((list(f"{a}+{b}"), list(str(a + b))))
    return pairs


def memory_pairs(
    rng: np.random.Generator, n: int, min_len: int, max_len: int, alphabet: str, gap: int, noise: bool
) -> Pairs:
    """min_len..max_len symbols to remember, then `gap` filler tokens (the blank "." or, with `noise`,
    random digits, which are never symbols); the target is the remembered symbols."""
    pairs = []
    for symbols in _strings(rng, n, min_len, max_len, alphabet):
        filler = list(rng.choice(list(DIGITS), size=gap)) if noise else [BLANK] * gap
        pairs.append(([*symbols, *filler], symbols))
    return pairs


class SequenceTaskDataModule(SequenceDataModule):
    """Generated tasks on which recurrent networks are tested (book chapter 7): `copy` and `reverse` a
    string, `add` two decimal numbers, and the long-range `memory` task (remember the first symbols
    across `gap` filler tokens). Every example is the causal sequence `source SEP target EOS`, padded
    with PAD to one width for all splits; the mask is True on the positions whose next token is a
    target token or EOS, so one causal model fits every task and the character corpus. The source
    length is the index of SEP in the inputs (`mde_exp.data.sequences.source_lengths`), which is what
    an encoder-decoder model needs to split a batch back into source and target.

    Lengths: copy, reverse and memory sources have min_len..max_len symbols from the first
    `alphabet_size` lowercase letters (memory adds `gap` fillers); add operands have min_len..max_len
    digits each. The train, val and test sets are drawn from independent streams of
    `generator_seed` (so changing one size leaves the other sets as they were); `split_seed` orders
    the training batches.
    """

    def __init__(
        self,
        task: str = "copy",
        min_len: int = 1,
        max_len: int = 8,
        alphabet_size: int = 8,
        gap: int = 20,
        noise: bool = False,
        train_size: int = 4000,
        val_size: int = 500,
        test_size: int = 500,
        generator_seed: int = 0,
        batch_size: int = 64,
        eval_train_size: int = 500,
        split_seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, eval_train_size=eval_train_size, split_seed=split_seed)
        if task not in TASKS:
            raise ValueError(f"task={task!r}: choose one of {', '.join(TASKS)}")
        if int(min_len) < 1 or int(max_len) < int(min_len):
            raise ValueError(f"min_len={min_len}, max_len={max_len}: need 1 <= min_len <= max_len")
        if not 2 <= int(alphabet_size) <= len(string.ascii_lowercase):
            raise ValueError(f"alphabet_size={alphabet_size}: must be between 2 and 26 (letters a-z)")
        if task == "add" and int(max_len) > 18:
            raise ValueError(f"max_len={max_len}: the add task draws operands of at most 18 digits")
        if int(gap) < 1:
            raise ValueError(f"gap={gap}: the memory task needs at least one filler token")
        for name, size in (("train_size", train_size), ("val_size", val_size), ("test_size", test_size)):
            if int(size) < 1:
                raise ValueError(f"{name}={size}: must be a positive number of sequences")
        self.task_name = task
        self.min_len, self.max_len = int(min_len), int(max_len)
        self.alphabet = string.ascii_lowercase[: int(alphabet_size)]
        self.gap = int(gap)
        self.noise = bool(noise)
        self.split_sizes = {"train": int(train_size), "val": int(val_size), "test": int(test_size)}
        self.generator_seed = int(generator_seed)

    def symbols(self) -> str:
        """Every symbol the task's sequences use, besides the special tokens."""
        if self.task_name == "add":
            return DIGITS + "+"
        if self.task_name == "memory":
            return self.alphabet + (DIGITS if self.noise else BLANK)
        return self.alphabet

    def width(self) -> int:
        """T, the inputs width: the longest source + SEP + the longest target + EOS, less one."""
        longest_source, longest_target = {
            "copy": (self.max_len, self.max_len),
            "reverse": (self.max_len, self.max_len),
            "add": (2 * self.max_len + 1, self.max_len + 1),
            "memory": (self.max_len + self.gap, self.max_len),
        }[self.task_name]
        return longest_source + longest_target + 1

    def pairs(self, rng: np.random.Generator, n: int) -> Pairs:
        """`n` (source, target) token lists of the task."""
        draw: dict[str, Callable[[], Pairs]] = {
            "copy": lambda: copy_pairs(rng, n, self.min_len, self.max_len, self.alphabet),
            "reverse": lambda: reverse_pairs(rng, n, self.min_len, self.max_len, self.alphabet),
            "add": lambda: add_pairs(rng, n, self.min_len, self.max_len),
            "memory": lambda: memory_pairs(
                rng, n, self.min_len, self.max_len, self.alphabet, self.gap, self.noise
            ),
        }
        return draw[self.task_name]()

    def build(self) -> tuple[Vocabulary, dict[str, Split]]:
        vocabulary = Vocabulary(self.symbols())
        streams = np.random.SeedSequence(self.generator_seed).spawn(len(self.split_sizes))
        splits = {}
        for (name, n), stream in zip(self.split_sizes.items(), streams, strict=True):
            pairs = self.pairs(np.random.default_rng(stream), n)
            encoded = [(vocabulary.encode(s), vocabulary.encode(t)) for s, t in pairs]
            splits[name] = frame_source_target(encoded, self.width())
        return vocabulary, splits
