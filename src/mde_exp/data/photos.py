"""scikit-learn's two sample photographs as pixel arrays, for K-means and SVD (fig-2.13, fig-2.15)."""

import numpy as np

from mde_exp.data.in_memory import Arrays, InMemoryDataModule

PHOTOS = ("china", "flower")


def sample_photo(name: str = "china", grayscale: bool = False, step: int = 1) -> np.ndarray:
    """The photograph `name` (427 x 640, shipped with scikit-learn) as floats in [0, 1]: H x W x 3,
    or H x W in grey (ITU-R 601 luma) when `grayscale`; every `step`-th row and column."""
    if name not in PHOTOS:
        raise ValueError(f"photo={name!r}: choose one of {', '.join(PHOTOS)}")
    from sklearn.datasets import load_sample_image

    image = load_sample_image(f"{name}.jpg")[::step, ::step].astype(np.float64) / 255.0
    return image @ np.array([0.299, 0.587, 0.114]) if grayscale else image


class SamplePhotoDataModule(InMemoryDataModule):
    """The pixels of a sample photograph as unlabelled examples (one row per pixel: R, G, B, or the
    grey level), for colour clustering and autoencoders; `image()` gives the picture itself."""

    task = "unsupervised"

    def __init__(self, photo: str = "china", grayscale: bool = False, step: int = 1, **kwargs) -> None:
        if photo not in PHOTOS:
            raise ValueError(f"photo={photo!r}: choose one of {', '.join(PHOTOS)}")
        if int(step) < 1:
            raise ValueError(f"step={step}: must be an integer >= 1")
        super().__init__(**kwargs)
        self.photo = photo
        self.grayscale = bool(grayscale)
        self.step = int(step)

    def image(self) -> np.ndarray:
        return sample_photo(self.photo, self.grayscale, self.step)

    def load(self) -> dict[str, Arrays]:
        pixels = self.image()
        return {"train": (pixels.reshape(-1, 1 if self.grayscale else 3).astype(np.float32),)}
