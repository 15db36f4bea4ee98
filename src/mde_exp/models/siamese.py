"""Siamese: a CNN embedding trained on pairs or triplets, for identification (book section 6.5).

One network (its weights shared by both members of a pair, or all three of a triplet) maps an image
to a point of R^embedding_dim; training makes images of the same class (the same digit, the same
person) close and images of different classes far apart, so that "same or different?" is answered by
a distance, also for classes never seen in training.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torchmetrics import MeanMetric
from torchmetrics.classification import BinaryROC, MulticlassAccuracy

from mde_exp.models.base import EVAL_STAGES, BookModule, OptimizerFactory, SchedulerFactory
from mde_exp.models.cnn import ConvNet
from mde_exp.nn.conv import image_shape
from mde_exp.nn.metric_learning import LOSSES, MININGS, contrastive_pair_loss, pair_distances, triplet_loss

STAGES = ("train", *EVAL_STAGES, "test")


class Siamese(BookModule):
    """A Siamese network (book section 6.5) on labelled images: `forward(x)` gives the embeddings.

    The embedding network is ConvNet's stack (Conv2d -> norm -> activation -> pooling per layer,
    then dense layers `hidden_sizes`) whose last linear layer has `embedding_dim` outputs; `init`,
    `norm` and `dropout` act as in ConvNet. With `normalize` the embeddings are scaled to unit length.

    `loss`: `contrastive` (Hadsell et al., 2006) on every pair of a batch, positive when the labels
    agree, with margin `margin`; or `triplet` (Schroff et al., 2015) on the batch's triplets, picked by
    `mining` (`all`: every valid triplet; `hard`: each anchor's farthest positive and nearest negative,
    which can collapse an unnormalised embedding to a point, its loss stuck at the margin).

    Logs per epoch <stage>/loss and two identification metrics over the pairs of each batch:
    <stage>/pair_acc, the balanced accuracy (mean of the rates on positive and on negative pairs) of
    "same class" decided by distance <= threshold, and <stage>/knn_acc, how often an example's nearest
    other example in the batch has its label. The threshold is `threshold` when given, else fitted
    at the end of each validation on the pairs of the training examples evaluated in eval mode
    (train_eval): the distance that maximises the balanced accuracy there (Youden's J on the ROC curve of
    torchmetrics), halfway across the gap to the next distance. It starts at margin / 2, is saved with
    the model, and an epoch's val/pair_acc uses the threshold fitted at the end of the epoch before.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        embedding_dim: int = 16,
        loss: str = "contrastive",
        margin: float = 1.0,
        mining: str = "all",
        threshold: float | None = None,
        normalize: bool = False,
        channels: Sequence[int] = (16, 32),
        kernel_sizes: int | Sequence[int] = 3,
        padding: int | str | Sequence[int | str] = "same",
        pool: int | Sequence[int] = 2,
        hidden_sizes: Sequence[int] = (64,),
        activation: str = "relu",
        init: Mapping[str, Any] | None = None,
        norm: Mapping[str, Any] | None = None,
        dropout: float | Sequence[float] = 0.0,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__(optimizer, scheduler)
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; choose one of: {', '.join(LOSSES)}")
        if mining not in MININGS:
            raise ValueError(f"unknown mining {mining!r}; choose one of: {', '.join(MININGS)}")
        if int(embedding_dim) < 1:
            raise ValueError(f"embedding_dim must be a positive integer, got {embedding_dim}")
        if not float(margin) > 0:
            raise ValueError(f"margin must be positive, got {margin}")
        if threshold is not None and not float(threshold) > 0:
            raise ValueError(f"threshold must be positive (or null: fitted in training), got {threshold}")
        self.input_shape = image_shape(input_shape)
        self.loss_name = loss
        self.margin = float(margin)
        self.mining = mining
        self.normalize = bool(normalize)
        self.fixed_threshold = None if threshold is None else float(threshold)
        backbone = ConvNet(
            self.input_shape, int(embedding_dim), channels=channels, kernel_sizes=kernel_sizes,
            padding=padding, pool=pool, hidden_sizes=hidden_sizes, activation=activation, init=init,
            norm=norm, dropout=dropout,
        )  # fmt: skip
        self.net = backbone.net  # ConvNet's features and dense layers, its output layer of embedding_dim
        self.feature_shapes = backbone.feature_shapes
        self.register_buffer("threshold", torch.tensor(self.fixed_threshold or self.margin / 2))
        self.metrics = nn.ModuleDict()  # by "<stage>_<name>" (a ModuleDict key may not be "train")
        for stage in STAGES:
            self.metrics[f"{stage}_pair_acc"] = MulticlassAccuracy(2, average="macro")
            self.metrics[f"{stage}_knn_acc"] = MeanMetric()
        self.threshold_roc = BinaryROC()  # train_eval pairs: "same" scored by 1 / (1 + distance)
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        embeddings = self.net(x.reshape(len(x), *self.input_shape))
        return nn.functional.normalize(embeddings, dim=1) if self.normalize else embeddings

    def loss(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The configured loss of a batch's embeddings."""
        if self.loss_name == "contrastive":
            return contrastive_pair_loss(*pair_distances(embeddings, labels), self.margin)
        return triplet_loss(embeddings, labels, self.margin, self.mining)

    @torch.no_grad()
    def fit_threshold(self) -> None:
        """Set the threshold from the train_eval pair distances collected since the last fit (none: left
        as it is), and start collecting afresh."""
        roc = self.threshold_roc
        if roc.update_count:
            false_positive, true_positive, scores = roc.compute()
            distance = 1.0 / scores - 1.0  # the ROC's scores are 1 / (1 + distance)
            best = int((true_positive - false_positive).argmax())
            following = distance[min(best + 1, len(distance) - 1)]
            self.threshold.copy_(0.5 * (distance[best] + following))
        roc.reset()

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:  # an untrained model's distances
            self.threshold_roc.reset()
        else:
            self.fit_threshold()

    @torch.no_grad()
    def update_metrics(self, stage: str, embeddings: torch.Tensor, labels: torch.Tensor) -> None:
        """Add a batch to the stage's pair and nearest-neighbour accuracies (and, for train_eval, to the
        pairs the threshold is fitted on)."""
        distance, same = pair_distances(embeddings, labels)
        if stage == "train_eval" and self.fixed_threshold is None:
            self.threshold_roc.update(1.0 / (1.0 + distance), same.long())
        self.metrics[f"{stage}_pair_acc"].update((distance <= self.threshold).long(), same.long())
        between = torch.cdist(embeddings, embeddings)
        between.fill_diagonal_(float("inf"))
        self.metrics[f"{stage}_knn_acc"].update((labels[between.argmin(1)] == labels).float())

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch
        embeddings = self(x)
        loss = self.loss(embeddings, y)
        self.update_metrics(stage, embeddings.detach(), y)
        self.log_loss(f"{stage}/loss", loss, len(y), on_step=stage == "train")
        for name in ("pair_acc", "knn_acc"):
            metric = self.metrics[f"{stage}_{name}"]
            self.log(f"{stage}/{name}", metric, on_step=False, on_epoch=True, add_dataloader_idx=False)
        return loss
