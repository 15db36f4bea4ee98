"""Siamese (book section 6.5): embedding shapes, gradients of both losses, hand-computed contrastive and
triplet losses, the pairs and triplets a batch forms, the identification helpers, bad arguments, and a
stored run loading back."""

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from mde_exp import store
from mde_exp.identification import one_shot_identification, ranking_rate, sample_pairs
from mde_exp.models.siamese import Siamese
from mde_exp.nn.metric_learning import (
    batch_pairs,
    contrastive_loss,
    distance_matrix,
    triplet_loss,
    triplet_masks,
)
from mde_exp.run import execute

from .conftest import run_cli


def _grads(model: Siamese, shape: tuple[int, ...], n: int = 12) -> torch.Tensor:
    """One batch's loss and backward pass; every parameter must get a finite, non-zero gradient."""
    torch.manual_seed(0)
    x, y = torch.randn(n, *shape), torch.arange(n) % 3
    model.train()
    loss = model.loss(model(x), y)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f"no gradient reaches {name}"
    return loss


@pytest.mark.parametrize(
    "shape, kwargs",
    [
        ((1, 8, 8), {}),
        ((1, 28, 28), {"embedding_dim": 2, "loss": "triplet"}),
        ((1, 28, 28), {"loss": "triplet", "mining": "hard", "channels": [4, 8, 8], "hidden_sizes": []}),
        ((1, 8, 8), {"normalize": True, "norm": {"kind": "batch"}, "dropout": 0.2}),
        ((1, 8, 8), {"loss": "triplet", "norm": {"kind": "layer"}, "init": {"scheme": "kaiming_normal"}}),
    ],
)
def test_embedding_shapes_and_finite_gradients_for_both_losses(shape, kwargs):
    model = Siamese(shape, **kwargs)
    dim = kwargs.get("embedding_dim", 16)
    x = torch.randn(5, *shape)
    model.eval()
    assert model(x).shape == (5, dim)
    assert torch.equal(model(x), model(x.flatten(1)))  # flattened data are viewed as images
    if kwargs.get("normalize"):
        torch.testing.assert_close(model(x).norm(dim=1), torch.ones(5))
    assert torch.isfinite(_grads(model, shape))


def test_norm_dropout_and_init_choices_act_on_the_embedding_network():
    model = Siamese((1, 28, 28), hidden_sizes=[32], norm={"kind": "batch"}, dropout=[0.5, 0.1])
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 2
    assert sum(isinstance(m, nn.BatchNorm1d) for m in model.modules()) == 1
    assert [m.p for m in model.modules() if isinstance(m, nn.Dropout)] == [0.5, 0.1]
    assert model.feature_shapes == [(16, 14, 14), (32, 7, 7)]  # same padding, pooling by 2
    zeros = Siamese((1, 8, 8), init={"scheme": "zeros"})
    assert all(torch.all(m.weight == 0) for m in zeros.modules() if isinstance(m, nn.Conv2d | nn.Linear))
    assert not any(isinstance(m, nn.Dropout) for m in Siamese((1, 8, 8)).modules())


def test_batch_pairs_cover_every_positive_and_negative_pair_once():
    labels = torch.tensor([0, 1, 0, 2, 1, 0])
    first, second, same = batch_pairs(labels)
    pairs = set(zip(first.tolist(), second.tolist(), strict=True))
    assert pairs == set(itertools.combinations(range(6), 2)) and len(first) == 15
    assert same.tolist() == [
        labels[i] == labels[j] for i, j in zip(first.tolist(), second.tolist(), strict=True)
    ]
    assert int(same.sum()) == 3 + 1 and int((~same).sum()) == 11  # three 0-0 pairs, one 1-1 pair
    positive, negative = triplet_masks(labels)
    assert not positive.diagonal().any() and int(positive.sum()) == 2 * 4
    assert int((positive[:, :, None] & negative[:, None, :]).sum()) == 3 * 2 * 3 + 2 * 1 * 4  # valid triplets


def test_contrastive_loss_by_hand():
    # Identical same-label embeddings and different-label embeddings beyond the margin: zero loss.
    e = torch.tensor([[0.0, 0.0], [0.0, 0.0], [3.0, 0.0]])
    y = torch.tensor([0, 0, 1])
    assert contrastive_loss(e, y, margin=1.0).item() == pytest.approx(0.0, abs=1e-9)
    assert contrastive_loss(e, y, margin=2.9).item() == pytest.approx(0.0, abs=1e-9)
    # The same pair at distance 1 (D^2 / 2 = 0.5); both different pairs at distance 0.5 inside margin 1
    # ((1 - 0.5)^2 / 2 = 0.125 each, mean 0.125): 0.5 + 0.125.
    e = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.5, 0.0]])
    assert contrastive_loss(e, y, margin=1.0).item() == pytest.approx(0.625, abs=1e-5)
    # No same pair; different pairs at 3, 4 and 5 with margin 5: ((5 - 3)^2 / 2 + (5 - 4)^2 / 2 + 0) / 3.
    e = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])
    assert contrastive_loss(e, torch.tensor([0, 1, 2]), margin=5.0).item() == pytest.approx(2.5 / 3, abs=1e-5)


def test_triplet_loss_by_hand_and_against_torch():
    # Anchor 0: positive at distance 1, negative at distance 3: satisfied with margin 1, 1.5 short with 3.5.
    e = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0]])
    y = torch.tensor([0, 0, 1])
    for mining in ("hard", "all"):
        assert triplet_loss(e, y, 1.0, mining).item() == pytest.approx(0.0, abs=1e-6)
    # margin 3.5: anchor 0: 1 - 3 + 3.5 = 1.5; anchor 1: 1 - sqrt(10) + 3.5; anchor 2 has no positive.
    expected = (1.5 + 4.5 - 10**0.5) / 2
    assert triplet_loss(e, y, 3.5, "hard").item() == pytest.approx(expected, abs=1e-5)
    assert triplet_loss(e, y, 3.5, "all").item() == pytest.approx(expected, abs=1e-5)
    # Batch all, on random data: torch's triplet_margin_loss over every valid triplet, averaged over
    # the triplets that violate the margin.
    torch.manual_seed(0)
    e, y = torch.randn(9, 4), torch.tensor([0, 1, 2, 0, 1, 2, 0, 0, 1])
    positive, negative = triplet_masks(y)
    a, p, n = (positive[:, :, None] & negative[:, None, :]).nonzero(as_tuple=True)
    losses = nn.functional.triplet_margin_loss(e[a], e[p], e[n], margin=0.5, reduction="none", eps=0.0)
    assert triplet_loss(e, y, 0.5, "all").item() == pytest.approx(
        (losses.sum() / (losses > 0).sum()).item(), rel=1e-5
    )
    d = torch.cdist(e, e)
    hardest = [d[i][positive[i]].max() - d[i][negative[i]].min() + 0.5 for i in range(9)]
    assert triplet_loss(e, y, 0.5, "hard").item() == pytest.approx(
        torch.stack(hardest).relu().mean().item(), rel=1e-5
    )
    # No valid triplet (one class): zero, with a gradient of zeros.
    e = torch.randn(4, 3, requires_grad=True)
    loss = triplet_loss(e, torch.zeros(4, dtype=torch.long), 1.0)
    loss.backward()
    assert loss.item() == 0.0 and torch.equal(e.grad, torch.zeros(4, 3))


def test_distances_have_finite_gradients_at_zero():
    e = torch.zeros(3, 2, requires_grad=True)
    (distance_matrix(e).sum() + contrastive_loss(e, torch.tensor([0, 0, 1]), 1.0)).backward()
    assert torch.isfinite(e.grad).all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"loss": "cosine"}, "unknown loss 'cosine'; choose one of: contrastive, triplet"),
        ({"mining": "semi"}, "unknown mining 'semi'; choose one of: hard, all"),
        ({"embedding_dim": 0}, "embedding_dim must be a positive integer"),
        ({"margin": 0.0}, "margin must be positive"),
        ({"threshold": -1.0}, "threshold must be positive"),
        ({"channels": []}, "channels must be positive integers"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Siamese((1, 8, 8), **kwargs)
    with pytest.raises(ValueError, match="needs images"):
        Siamese((30,))


def test_the_threshold_is_fitted_on_train_eval_pairs_to_the_best_balanced_accuracy():
    model = Siamese((1, 8, 8), margin=2.0)
    assert model.threshold.item() == 1.0  # margin / 2 to begin with
    x = torch.randn(6, 64)
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    model.eval()
    with torch.no_grad():
        distance = torch.cdist(model(x), model(x))
    model.update_metrics("test", model(x).detach(), y)  # test and training batches are never fitted on
    model.update_metrics("train", model(x).detach(), y)
    model.fit_threshold()
    assert model.threshold.item() == 1.0
    model.update_metrics("train_eval", model(x).detach(), y)
    model.fit_threshold()
    fitted = model.threshold.item()
    first, second, same = batch_pairs(y)
    pairs = distance[first, second]
    best = max(((pairs[same] <= t).float().mean() + (pairs[~same] > t).float().mean()) / 2 for t in pairs)
    accuracy = ((pairs[same] <= fitted).float().mean() + (pairs[~same] > fitted).float().mean()) / 2
    assert accuracy == pytest.approx(best.item())  # the best balanced accuracy on these pairs
    assert not (pairs == torch.tensor(fitted)).any()  # halfway between two pair distances
    fixed = Siamese((1, 8, 8), threshold=0.7)
    fixed.update_metrics("train_eval", fixed(x).detach(), y)
    fixed.fit_threshold()
    assert fixed.threshold.item() == pytest.approx(0.7)


def test_identification_helpers():
    rng = np.random.default_rng(0)
    labels = np.array([2, 0, 1, 0, 2, 2, 1, 0, 0, 5])
    same = sample_pairs(labels, 5000, True, rng)
    assert (labels[same[:, 0]] == labels[same[:, 1]]).all() and (same[:, 0] != same[:, 1]).all()
    every_same = {(i, j) for i, j in itertools.permutations(range(10), 2) if labels[i] == labels[j]}
    assert set(map(tuple, same.tolist())) == every_same  # the lone 5 never appears
    different = sample_pairs(labels, 5000, False, rng)
    every_different = {(i, j) for i, j in itertools.permutations(range(10), 2) if labels[i] != labels[j]}
    assert set(map(tuple, different.tolist())) == every_different
    assert ranking_rate(np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 1.0])) == pytest.approx(0.5)
    one_hot = np.eye(3)[labels[:9]]  # a perfect embedding, and a random one at chance (1 / 4 classes)
    assert one_shot_identification(one_hot, labels[:9], 500, rng) == 1.0
    y = rng.integers(4, size=400)
    assert one_shot_identification(rng.normal(size=(400, 3)), y, 4000, rng) == pytest.approx(0.25, abs=0.04)
    with pytest.raises(ValueError, match="two classes"):
        sample_pairs(np.zeros(5), 3, False, rng)


def test_a_stored_run_loads_back_and_the_cli_reports_pair_accuracy(tmp_path, one_thread):
    common = ["logger=none", f"store.root={tmp_path}", "trainer.max_epochs=1", "data=digits"]
    result = execute(store.compose(["model=siamese_triplet", "norm=batch", *common]))
    metrics = result.metrics
    for stage in ("train", "val", "train_eval", "test"):
        assert {f"{stage}/loss", f"{stage}/pair_acc", f"{stage}/knn_acc"} <= set(metrics)
    model = store.load_model(result.dir)
    assert isinstance(model, Siamese) and model.loss_name == "triplet"
    x, y = store.load_datamodule(result.dir).splits["test"][:2]
    with torch.no_grad():
        embeddings = model(x)
    assert embeddings.shape == (len(x), 16)
    assert model.threshold.item() != pytest.approx(model.margin / 2)  # fitted in training, saved, loaded
    correct = []  # the test metric recomputed: each example's nearest other example in its batch of 64
    for batch in range(0, len(x), 64):
        between = torch.cdist(embeddings[batch : batch + 64], embeddings[batch : batch + 64])
        between.fill_diagonal_(float("inf"))
        correct.append(y[batch : batch + 64][between.argmin(1)] == y[batch : batch + 64])
    assert torch.cat(correct).float().mean().item() == pytest.approx(metrics["test/knn_acc"], abs=1e-6)
    done = run_cli(["model=siamese", *common, "trainer.max_epochs=2"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "finished, test pair accuracy (same vs different) 0." in done.stdout + done.stderr
