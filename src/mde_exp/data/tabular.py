"""Tabular data sets: the Wisconsin diagnostic breast cancer data (WDBC)."""

import numpy as np

from mde_exp.data.in_memory import Arrays, InMemoryDataModule


class WDBCDataModule(InMemoryDataModule):
    """WDBC, 569 tumours x 30 features (scikit-learn's breast cancer set; label 1 = benign),
    standardised with the training split's mean and standard deviation (book sections 2.3, 3.2)."""

    def load(self) -> dict[str, Arrays]:
        from sklearn.datasets import load_breast_cancer

        data = load_breast_cancer()
        return {"train": (data.data.astype(np.float32), data.target.astype(np.int64))}

    def normalise(self, train_x: np.ndarray, x: np.ndarray) -> np.ndarray:
        return (x - train_x.mean(axis=0)) / train_x.std(axis=0)
