"""Generated data sets: any generator function (scikit-learn's make_* or the book's sets) as a DataModule."""

from collections.abc import Callable
from typing import Any

import numpy as np

from mde_exp.data.in_memory import IN_MEMORY_TASKS, Arrays, InMemoryDataModule


class GeneratedDataModule(InMemoryDataModule):
    """Data drawn by `generator()` (a function configured with its own fixed seed), returning
    features or (features, targets): scikit-learn's make_moons, make_circles, make_blobs,
    make_swiss_roll, or the book's sets in mde_exp.data.toy_sets. `task` says what the targets are
    (classification labels, regression values) or drops them (unsupervised)."""

    def __init__(self, generator: Callable[[], Any], task: str = "classification", **kwargs) -> None:
        if task not in IN_MEMORY_TASKS:
            raise ValueError(f"task={task!r}: choose one of {', '.join(IN_MEMORY_TASKS)}")
        self.task = task
        super().__init__(**kwargs)
        self.generator = generator
        self.generator_name = getattr(generator, "func", generator).__name__
        self.generator_args = repr(sorted(getattr(generator, "keywords", {}).items()))

    def load(self) -> dict[str, Arrays]:
        out = self.generator()
        x, y = (out[0], out[1]) if isinstance(out, tuple) else (out, None)
        real = np.float64 if self.dtype == "float64" else np.float32
        x = np.asarray(x, dtype=real)
        x = x[:, None] if x.ndim == 1 else x
        if self.task == "unsupervised" or y is None:
            if self.task != "unsupervised":
                raise ValueError(f"generator {self.generator_name} gives no targets for a {self.task} task")
            return {"train": (x,)}
        y = np.asarray(y, dtype=np.int64 if self.task == "classification" else real)
        return {"train": (x, y)}
