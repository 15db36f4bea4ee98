"""BookDataModule: what every data set of the project offers besides Lightning's hooks."""

from typing import Any

import lightning as L

TASKS = (
    "classification",
    "regression",
    "unsupervised",
    "language_model",
    "node_classification",
    "reinforcement",
)


class BookDataModule(L.LightningDataModule):
    """A LightningDataModule that can say, before any training, whether its data are there and what
    a model needs to know about them.

    `task` names the kind of learning problem (classification, regression, unsupervised,
    language_model, node_classification, reinforcement); `model_inputs()` returns the sizes a model is
    built from (input_dim, num_classes, output_dim, vocab_size, ...). A run passes each model the
    entries its constructor accepts, and refuses a model that needs one the data do not offer.
    """

    task: str = "classification"

    def check_available(self) -> None:
        """Raise DataNotFoundError, naming the files and where to put them, if the data cannot be loaded."""

    def model_inputs(self) -> dict[str, Any]:
        raise NotImplementedError
