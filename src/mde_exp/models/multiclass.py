"""One-vs-rest and one-vs-one classifiers built from binary linear classifiers (book sections 2.3 and 3.3,
tab-2.1 / tab-3.1): least squares on +-1 targets or logistic regression, with the book's sign voting."""

import itertools
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mde_exp.models.base import ClassifierModule, OptimizerFactory, SchedulerFactory
from mde_exp.models.linear import LinearRegression
from mde_exp.nn.init import apply_init

BINARY = ("logistic", "least_squares")


class BinaryLinearEnsemble(ClassifierModule):
    """P binary linear classifiers z_p(x) = b_p + w_p^T x on the raw inputs plus a bias, held as the rows
    of one nn.Linear(d, P) (net[1]: row p is classifier p's w_p, entry p of the bias its b_p), and a rule
    that turns their outputs into class scores (the predicted class is the highest score).

    Each classifier p has its own binary problem: a target t_p(y) in {0, 1} and the examples it is
    trained on (a mask m_p(y)); subclasses define both, and the class scores, in `problems` and
    `class_scores`. `binary` chooses the classifier:
    - `logistic`: P(t_p = 1 | x) = sigmoid(z_p(x)), as LogisticRegression (book section 3.2), trained by
      the configured optimiser on the sum over p of classifier p's mean binary cross-entropy over its
      own examples. The classifiers share no parameter, so this trains each one exactly as on its own
      (per-parameter optimisers such as Adam included), on the batches' examples of its problem.
    - `least_squares`: z_p fitted to the targets 2 t_p - 1 = +-1 by least squares over classifier p's
      training examples (book section 2.3), the minimum-norm solution of the normal equations, in
      closed form from the whole training split when training starts (`on_train_start`). No gradient
      step is taken: the one epoch that runs (training stops after it) records the losses.
    Logged per stage: <stage>/loss, the mean over the P classifiers of each one's mean loss (binary
    cross-entropy, or squared error to +-1), and <stage>/acc, the accuracy of the class scores.
    """

    def __init__(
        self,
        input_dim: int,
        num_classes: int,
        binary: str = "logistic",
        init: Mapping[str, Any] | None = None,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        if binary not in BINARY:
            raise ValueError(f"binary={binary!r}: choose one of {', '.join(BINARY)}")
        if num_classes < 2:
            raise ValueError(f"num_classes={num_classes}: a classifier needs at least two classes")
        super().__init__(num_classes, optimizer, scheduler)
        self.binary = binary
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(input_dim, self.num_problems(num_classes)))
        apply_init(self.net, init)
        # Least squares is solved, not descended: Lightning's loop runs without optimiser steps.
        self.automatic_optimization = binary == "logistic"
        self.save_hyperparameters({"input_dim": input_dim, "num_classes": num_classes, "binary": binary})

    # -- what a subclass defines -----------------------------------------------------------------
    @staticmethod
    def num_problems(num_classes: int) -> int:
        raise NotImplementedError

    def problems(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Targets t (N x P, 1 or 0) and masks m (N x P, 1 where example n trains classifier p)."""
        raise NotImplementedError

    def class_scores(self, z: torch.Tensor) -> torch.Tensor:
        """Class scores (N x K) from the classifiers' outputs z (N x P); argmax is the prediction."""
        raise NotImplementedError

    # -- the model ------------------------------------------------------------------------------
    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """z_p(x) = b_p + w_p^T x for every classifier p (N x P)."""
        return self.net(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.class_scores(self.scores(x))

    def binary_losses(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Each classifier's mean loss over its examples in the batch (P values; 0 where it has none)."""
        targets, masks = self.problems(y)
        if self.binary == "logistic":
            per_example = F.binary_cross_entropy_with_logits(z, targets, reduction="none")
        else:
            per_example = (z - (2 * targets - 1)) ** 2
        return (per_example * masks).sum(0) / masks.sum(0).clamp(min=1)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch
        z = self.scores(x)
        losses = self.binary_losses(z, y)
        if stage == "train" and not self.automatic_optimization:
            # No parameter has a gradient, so this step moves nothing; it lets Lightning count the
            # step, as its checkpointing skips epochs that took none.
            self.optimizers().step()
        acc = self.accuracy[f"{stage}_acc"]
        acc.update(self.class_scores(z.detach()), y)
        self.log_loss(f"{stage}/loss", losses.mean(), len(y), on_step=stage == "train")
        self.log(f"{stage}/acc", acc, on_step=False, on_epoch=True, add_dataloader_idx=False)
        return losses.sum()

    # -- least squares in closed form -----------------------------------------------------------
    @torch.no_grad()
    def fit_least_squares(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Set every classifier to the least-squares fit of +-1 targets on its own training examples
        (LinearRegression.least_squares, in float64 on the CPU: the minimum-norm solution also where a
        classifier has fewer examples than parameters, or pixels that are always zero)."""
        x = x.detach().reshape(len(x), -1).cpu()
        targets, masks = (t.cpu() for t in self.problems(y.detach().cpu()))
        signs = 2 * targets - 1
        bias = torch.empty(targets.shape[1], dtype=x.dtype)
        weight = torch.empty(targets.shape[1], x.shape[1], dtype=x.dtype)
        if bool(masks.all()):  # every classifier trains on every example: one solve for all
            bias[:], weight[:] = LinearRegression.least_squares(x, signs)
        else:
            for p in range(targets.shape[1]):
                rows = masks[:, p] > 0
                b, w = LinearRegression.least_squares(x[rows], signs[rows, p : p + 1])
                bias[p], weight[p] = b[0], w[0]
        layer = self.net[1]
        layer.bias.copy_(bias.to(layer.bias))
        layer.weight.copy_(weight.to(layer.weight))

    def on_train_start(self) -> None:
        if self.binary == "least_squares":
            batches = list(self.trainer.train_dataloader)
            x = torch.cat([b[0] for b in batches])
            y = torch.cat([b[1] for b in batches])
            self.fit_least_squares(x, y)

    def on_train_epoch_end(self) -> None:
        if self.binary == "least_squares":
            self.trainer.should_stop = True  # the closed form needs no further epochs


class OneVsRest(BinaryLinearEnsemble):
    """One-vs-rest (book sections 2.3 and 3.3): classifier k separates class k (t = 1) from all the
    others (t = 0) on every training example; the predicted class is the one whose classifier gives
    the largest output z_k(x) (for logistic classifiers, the largest probability)."""

    @staticmethod
    def num_problems(num_classes: int) -> int:
        return num_classes

    def problems(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        targets = F.one_hot(y, self.num_classes).to(self.net[1].weight.dtype)
        return targets, torch.ones_like(targets)

    def class_scores(self, z: torch.Tensor) -> torch.Tensor:
        return z


class OneVsOne(BinaryLinearEnsemble):
    """One-vs-one with sign voting (book sections 2.3 and 3.3): one classifier per pair of classes i < j,
    trained only on the examples of classes i (t = 1) and j (t = 0). Classifier (i, j) votes
    sign(z_ij(x)): +1 for i, -1 for j (a logistic classifier votes by P > 1/2), and class i scores
    sum over j != i of sign(z_ij(x)), with z_ji = -z_ij; the highest score wins, ties going to the
    lowest class index (as the book's argmax)."""

    def __init__(
        self,
        input_dim: int,
        num_classes: int,
        binary: str = "logistic",
        init: Mapping[str, Any] | None = None,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__(input_dim, num_classes, binary, init, optimizer, scheduler)
        pairs = list(itertools.combinations(range(num_classes), 2))
        votes = torch.zeros(len(pairs), num_classes)
        for p, (i, j) in enumerate(pairs):
            votes[p, i], votes[p, j] = 1.0, -1.0
        self.pairs = pairs
        self.register_buffer("first", torch.tensor([i for i, _ in pairs]), persistent=False)
        self.register_buffer("second", torch.tensor([j for _, j in pairs]), persistent=False)
        self.register_buffer("votes", votes, persistent=False)

    @staticmethod
    def num_problems(num_classes: int) -> int:
        return num_classes * (num_classes - 1) // 2

    def problems(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        one_hot = F.one_hot(y, self.num_classes).to(self.net[1].weight.dtype)
        first, second = one_hot[:, self.first.to(y.device)], one_hot[:, self.second.to(y.device)]
        return first, first + second

    def class_scores(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sign(z) @ self.votes
