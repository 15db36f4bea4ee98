"""Generated data sets with fixed seeds: the two-arm spiral of book fig-3.9."""

import numpy as np

from mde_exp.data.in_memory import Arrays, InMemoryDataModule


def two_arm_spiral(points_per_class: int, noise: float, turns: float, seed: int) -> Arrays:
    """Two interleaved spiral arms in the plane (book fig-3.9), class k rotated by k pi.

    Radius grows linearly with the angle; `noise` is the std of Gaussian jitter on each coordinate.
    """
    rng = np.random.default_rng(seed)
    t = np.linspace(0.05, 1.0, points_per_class)
    xs, ys = [], []
    for k in (0, 1):
        angle = 2 * np.pi * turns * t + k * np.pi
        arm = np.stack([t * np.cos(angle), t * np.sin(angle)], axis=1)
        xs.append(arm + noise * rng.standard_normal(arm.shape))
        ys.append(np.full(points_per_class, k))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64)


class SpiralDataModule(InMemoryDataModule):
    """The two-class spiral (book fig-3.9): 400 points a class by default, generated from `split_seed`."""

    def __init__(
        self, points_per_class: int = 400, noise: float = 0.05, turns: float = 1.5, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.points_per_class = int(points_per_class)
        self.noise = float(noise)
        self.turns = float(turns)

    def load(self) -> dict[str, Arrays]:
        return {"train": two_arm_spiral(self.points_per_class, self.noise, self.turns, self.split_seed)}
