"""One-vs-rest and one-vs-one classifiers (sign voting, pairs trained on their own classes, least squares in
closed form), the constant initialisation and LogisticRegression's F1 (tab-2.1, fig-3.5)."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from sklearn.metrics import f1_score
from torch import nn

from mde_exp import store
from mde_exp.models.logistic import LogisticRegression
from mde_exp.models.multiclass import OneVsOne, OneVsRest
from mde_exp.nn.init import apply_init
from mde_exp.run import _build_model, execute


def _with_outputs(model, z: list[float]):
    """Set a model's classifiers to constant outputs z (weights 0, biases z)."""
    with torch.no_grad():
        model.net[1].weight.zero_()
        model.net[1].bias.copy_(torch.tensor(z))
    return model


def test_sign_voting_on_a_hand_made_case():
    model = OneVsOne(4, 3)
    assert model.pairs == [(0, 1), (0, 2), (1, 2)]
    x = torch.zeros(1, 4)
    # 0 beats 1 (z > 0), 2 beats 0 (z < 0), 2 beats 1: class 2 wins with two votes
    scores = _with_outputs(model, [0.3, -2.0, -0.1])(x)
    assert scores.tolist() == [[0.0, -2.0, 2.0]] and scores.argmax(1).item() == 2
    # the margins do not count, only their signs: a huge win of 1 over 2 does not outvote class 0
    scores = _with_outputs(model, [5.0, 0.1, 100.0])(x)
    assert scores.tolist() == [[2.0, 0.0, -2.0]] and scores.argmax(1).item() == 0
    # a cycle (0 > 1 > 2 > 0) ties every class: the lowest index wins, as the book's argmax
    scores = _with_outputs(model, [1.0, -1.0, 1.0])(x)
    assert scores.tolist() == [[0.0, 0.0, 0.0]] and scores.argmax(1).item() == 0
    # a logistic pair classifier votes by P > 1/2, i.e. by the sign of its logit: z = 0 casts no vote
    scores = _with_outputs(model, [0.0, 0.0, 3.0])(x)
    assert scores.tolist() == [[0.0, 1.0, -1.0]]


def test_one_vs_rest_predicts_the_largest_output():
    model = _with_outputs(OneVsRest(2, 4), [0.2, 1.5, -3.0, 1.4])
    assert model(torch.zeros(3, 2)).argmax(1).tolist() == [1, 1, 1]


def test_each_pair_is_trained_only_on_its_two_classes():
    torch.manual_seed(0)
    model = OneVsOne(5, 4, init={"scheme": "normal", "std": 1.0})
    y = torch.tensor([0, 1, 2, 3, 3, 2, 1, 0, 2])
    targets, masks = model.problems(y)
    for p, (i, j) in enumerate(model.pairs):
        assert masks[:, p].tolist() == [float(c in (i, j)) for c in y.tolist()]
        assert targets[:, p].tolist() == [float(c == i) for c in y.tolist()]
    # the gradient of pair (0, 1)'s classifier does not change when examples of classes 2 and 3 change
    x = torch.randn(len(y), 5)
    p01 = model.pairs.index((0, 1))

    def gradient(inputs):
        model.zero_grad()
        model.binary_losses(model.scores(inputs), y).sum().backward()
        return model.net[1].weight.grad[p01].clone(), model.net[1].bias.grad[p01].clone()

    before = gradient(x)
    other = (y == 2) | (y == 3)
    x_changed = x.clone()
    x_changed[other] = 100 * torch.randn(int(other.sum()), 5)
    after = gradient(x_changed)
    assert torch.equal(before[0], after[0]) and torch.equal(before[1], after[1])
    assert not torch.equal(model.net[1].weight.grad[model.pairs.index((2, 3))], torch.zeros(5))


def test_logistic_one_vs_rest_trains_each_classifier_as_logistic_regression():
    torch.manual_seed(1)
    x, y = torch.randn(30, 6), torch.randint(0, 3, (30,))
    ovr = OneVsRest(6, 3, init={"scheme": "normal", "std": 1.0})
    ovr.binary_losses(ovr.scores(x), y).sum().backward()
    for k in range(3):
        single = LogisticRegression(6)
        with torch.no_grad():
            single.net[1].weight.copy_(ovr.net[1].weight[k : k + 1])
            single.net[1].bias.copy_(ovr.net[1].bias[k : k + 1])
        F.cross_entropy(single(x), (y == k).long()).backward()  # LogisticRegression's own loss
        assert torch.allclose(single.net[1].weight.grad[0], ovr.net[1].weight.grad[k], atol=1e-6)
        assert torch.allclose(single.net[1].bias.grad, ovr.net[1].bias.grad[k : k + 1], atol=1e-6)


def _numpy_least_squares(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    design = np.column_stack([np.ones(len(x)), x])
    return np.linalg.lstsq(design, t, rcond=None)[0]


@pytest.mark.parametrize("n", [60, 12])  # more examples than parameters, and fewer (minimum norm)
def test_least_squares_matches_numpy_lstsq(n):
    rng = np.random.default_rng(0)
    x = rng.random((n, 8))
    x[:, 5] = 0.0  # a pixel that is always zero: the design is rank-deficient
    y = np.arange(n) % 3
    ovr = OneVsRest(8, 3, binary="least_squares")
    ovr.fit_least_squares(torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y))
    beta = _numpy_least_squares(x, 2.0 * np.eye(3)[y] - 1)  # +-1 targets, one column per class
    assert np.allclose(ovr.net[1].bias.detach().numpy(), beta[0], atol=1e-5)
    assert np.allclose(ovr.net[1].weight.detach().numpy(), beta[1:].T, atol=1e-5)
    assert np.abs(ovr.net[1].weight.detach().numpy()[:, 5]).max() < 1e-10  # minimum norm: no weight on it

    ovo = OneVsOne(8, 3, binary="least_squares")
    ovo.fit_least_squares(torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y))
    for p, (i, j) in enumerate(ovo.pairs):
        rows = (y == i) | (y == j)  # each pair from its own two classes only
        beta = _numpy_least_squares(x[rows], np.where(y[rows] == i, 1.0, -1.0))
        assert np.allclose(ovo.net[1].bias.detach().numpy()[p], beta[0], atol=1e-5)
        assert np.allclose(ovo.net[1].weight.detach().numpy()[p], beta[1:], atol=1e-5)
        if rows.sum() < 9:  # fewer examples than parameters: the fit interpolates its +-1 targets
            z = ovo.scores(torch.as_tensor(x[rows], dtype=torch.float32)).detach().numpy()[:, p]
            assert np.allclose(z, np.where(y[rows] == i, 1.0, -1.0), atol=1e-4)


def test_least_squares_through_the_store_is_the_closed_form_in_one_epoch(store_root, one_thread):
    cfg = store.compose(
        ["data=digits", "model=one_vs_one", "model.binary=least_squares", "trainer.max_epochs=5",
         "logger=none", f"store.root={store_root}"]
    )  # fmt: skip
    result = execute(cfg)
    assert result.status == "finished" and result.summary["epochs"] == 1  # stopped after one epoch
    model = OneVsOne.load_from_checkpoint(result.dir / "checkpoints" / "last.ckpt").eval()
    dm = instantiate(cfg.data)
    dm.setup()
    x, y = dm.splits["train"]
    reference = OneVsOne(64, 10, binary="least_squares")
    reference.fit_least_squares(x, y)
    assert torch.allclose(model.net[1].weight, reference.net[1].weight, atol=1e-5)
    x_test, y_test = dm.splits["test"]
    with torch.no_grad():
        accuracy = float((model(x_test).argmax(1) == y_test).float().mean())
    assert accuracy == pytest.approx(result.metrics["test/acc"], abs=1e-6) and accuracy > 0.9


@pytest.mark.parametrize("option", ["one_vs_rest", "one_vs_one"])
@pytest.mark.parametrize("binary", ["logistic", "least_squares"])
def test_configs_build_the_wrappers(option, binary):
    cfg = store.compose([f"model={option}", f"model.binary={binary}", "data=iris"])
    dm = instantiate(cfg.data)
    dm.setup()
    model = _build_model(cfg, dm)
    assert model.net[1].out_features == {"one_vs_rest": 3, "one_vs_one": 3}[option]
    assert model.automatic_optimization == (binary == "logistic")
    assert model(dm.splits["train"][0][:5]).shape == (5, 3)
    with pytest.raises(ValueError, match="binary='svm'"):
        OneVsRest(4, 3, binary="svm")


def test_one_vs_one_has_a_classifier_per_pair():
    assert OneVsOne(784, 10).net[1].out_features == 45 == len(list(itertools.combinations(range(10), 2)))


def test_constant_initialisation_sets_every_weight_and_bias():
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    apply_init(net, {"scheme": "constant", "value": 0.1})
    for layer in (net[0], net[2]):
        assert torch.all(layer.weight == 0.1) and torch.all(layer.bias == 0.1)
    model = _build_model(store.compose(["model=logistic_regression", "data=wdbc", "init=constant"]), _wdbc())
    assert torch.all(model.net[1].weight == 0.1) and model.net[1].bias.item() == pytest.approx(0.1)


def _wdbc():
    dm = instantiate(store.compose(["data=wdbc"]).data)
    dm.setup()
    return dm


def test_logistic_regression_logs_the_f1_score_of_class_1(store_root, one_thread):
    cfg = store.compose(
        [
            "data=wdbc",
            "model=logistic_regression",
            "trainer.max_epochs=2",
            "logger=none",
            f"store.root={store_root}",
        ]
    )
    result = execute(cfg)
    for stage in ("train", "val", "train_eval", "test"):
        assert f"{stage}/f1" in result.metrics
    model = LogisticRegression.load_from_checkpoint(result.dir / "checkpoints" / "last.ckpt").eval()
    dm = instantiate(cfg.data)
    dm.setup()
    x, y = dm.splits["test"]
    with torch.no_grad():
        predicted = (model.logit(x) > 0).long()
    assert result.metrics["test/f1"] == pytest.approx(f1_score(y.numpy(), predicted.numpy()), abs=1e-6)
