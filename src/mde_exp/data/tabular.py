"""Tabular data sets with named columns: WDBC (breast cancer), iris, and Boston housing."""

from collections.abc import Sequence

import numpy as np

from mde_exp.data.in_memory import Arrays, InMemoryDataModule


class TabularDataModule(InMemoryDataModule):
    """A table of named feature columns; `features` keeps the named columns, in the order given."""

    def __init__(self, features: Sequence[str] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.features = tuple(features) if features is not None else None
        if self.features is not None:
            unknown = [f for f in self.features if f not in self.feature_names()]
            if unknown or not self.features:
                raise ValueError(
                    f"features={list(self.features)}: unknown column(s) {unknown}; "
                    f"choose from {', '.join(self.feature_names())}"
                )

    def feature_names(self) -> list[str]:
        raise NotImplementedError

    def table(self) -> tuple[np.ndarray, np.ndarray]:
        """All rows: features (in `feature_names()` order) and targets."""
        raise NotImplementedError

    def selected_features(self) -> list[str]:
        return list(self.features) if self.features is not None else self.feature_names()

    def load(self) -> dict[str, Arrays]:
        x, y = self.table()
        if self.features is not None:
            x = x[:, [self.feature_names().index(f) for f in self.features]]
        return {"train": (x.astype(np.float32), y)}


def _book_name(sklearn_name: str) -> str:
    """scikit-learn's 'worst smoothness' as the book's (and R's) 'smoothness_worst'."""
    words = sklearn_name.split()
    if words[0] in ("mean", "worst"):
        return "_".join(words[1:]) + "_" + words[0]
    if words[-1] == "error":
        return "_".join(words[:-1]) + "_se"
    return "_".join(words)


class WDBCDataModule(TabularDataModule):
    """WDBC, 569 tumours x 30 features (scikit-learn's breast cancer set; label 1 = benign), columns
    named as in the book (radius_mean, ..., smoothness_worst; book sections 2.3 and 3.1)."""

    def feature_names(self) -> list[str]:
        from sklearn.datasets import load_breast_cancer

        return [_book_name(n) for n in load_breast_cancer().feature_names]

    def table(self) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.datasets import load_breast_cancer

        data = load_breast_cancer()
        return data.data, data.target.astype(np.int64)


class IrisDataModule(TabularDataModule):
    """Fisher's iris: 150 flowers x 4 measurements, 3 species."""

    def feature_names(self) -> list[str]:
        return ["sepal_length", "sepal_width", "petal_length", "petal_width"]

    def table(self) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.datasets import load_iris

        data = load_iris()
        return data.data, data.target.astype(np.int64)


BOSTON_COLUMNS = [
    "crim", "zn", "indus", "chas", "nox", "rm", "age", "dis", "rad", "tax", "ptratio", "b", "lstat",
]  # fmt: skip


class BostonHousingDataModule(TabularDataModule):
    """Boston housing (mlxtend's copy: 506 tracts x 13 features), regressing the median value medv
    (book section 2.3, fig-2.3 and fig-2.7). The 16 tracts whose medv is censored at 50 are dropped
    when `drop_censored` (the book's medv < 50 filter, leaving 490)."""

    task = "regression"

    def __init__(self, drop_censored: bool = True, **kwargs) -> None:
        self.drop_censored = bool(drop_censored)
        super().__init__(**kwargs)

    def feature_names(self) -> list[str]:
        return list(BOSTON_COLUMNS)

    def table(self) -> tuple[np.ndarray, np.ndarray]:
        from mlxtend.data import boston_housing_data

        x, medv = boston_housing_data()
        keep = medv < 50 if self.drop_censored else np.ones(len(medv), dtype=bool)
        return x[keep], medv[keep].astype(np.float32)
