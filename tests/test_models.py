"""Each model trains for an epoch on each of its data sets; the book's init, norm and dropout axes
build what they say."""

import math

import pytest
import torch
from hydra.utils import instantiate
from torch import nn

from mde_exp import store
from mde_exp.models.autoencoder import Autoencoder
from mde_exp.models.linear import LinearRegression
from mde_exp.models.mlp import MLPClassifier
from mde_exp.nn.activations import ACTIVATIONS, activation_gain, make_activation
from mde_exp.run import execute

from .test_data import EMBEDDED

DATA = ["digits", "mnist_5k", "wdbc", "spiral"]


@pytest.mark.parametrize("model", ["mlp", "softmax_regression"])
@pytest.mark.parametrize("data", DATA)
def test_one_epoch_of_each_model_on_each_data_set(model, data, store_root):
    cfg = store.compose(
        [
            f"model={model}",
            f"data={data}",
            "trainer.max_epochs=1",
            "logger=none",
            f"store.root={store_root}",
            "trainer.accelerator=cpu",
            "optimizer.lr=0.01",
        ]
    )
    result = execute(cfg)
    assert result.status == "finished"
    chance = 1 / {"digits": 10, "mnist_5k": 10, "wdbc": 2, "spiral": 2}[data]
    for key in ("train/loss", "val/acc", "train_eval/acc", "test/acc"):
        assert key in result.metrics
    if data != "spiral":  # the spiral is not linearly separable and takes more than an epoch
        assert result.metrics["val/acc"] > chance + 0.1
    assert (result.dir / "metrics.csv").is_file() and (result.dir / "checkpoints" / "last.ckpt").is_file()


# A model that fits each kind of data (what `python -m mde_exp data=<set> model=<model>` is run with).
FITTING_MODEL = {"classification": "mlp", "regression": "linear_regression", "unsupervised": "autoencoder"}


@pytest.mark.parametrize("data", EMBEDDED)
def test_one_epoch_on_every_embedded_set_with_a_model_that_fits_it(data, store_root):
    task = EMBEDDED[data][0]
    cfg = store.compose(
        [f"data={data}", f"model={FITTING_MODEL[task]}", "trainer.max_epochs=1", "logger=none",
         f"store.root={store_root}", "trainer.accelerator=cpu"]
    )  # fmt: skip
    result = execute(cfg)
    assert result.status == "finished"
    metric = "acc" if task == "classification" else "mse"
    for stage in ("train", "val", "train_eval", "test"):
        assert math.isfinite(result.metrics[f"{stage}/loss"])
        assert f"{stage}/{metric}" in result.metrics


def test_linear_regression_approaches_least_squares(store_root):
    cfg = store.compose(
        ["data=boston", "model=linear_regression", "optimizer=sgd", "optimizer.lr=0.1", "data.batch_size=512",
         "trainer.max_epochs=300", "logger=none", f"store.root={store_root}"]
    )  # fmt: skip
    result = execute(cfg)
    model = LinearRegression.load_from_checkpoint(result.dir / "checkpoints" / "last.ckpt")
    dm = instantiate(cfg.data)
    dm.setup()
    x, y = dm.splits["train"]
    bias, weights = LinearRegression.least_squares(x, y)
    assert torch.allclose(model.net[1].bias, bias, atol=0.05)
    # rad and tax are nearly collinear, so gradient descent approaches their coefficients slowly; the
    # fit itself (the training error) is what must reach the least-squares minimum.
    least = float(((x @ weights.T + bias - y) ** 2).mean())
    with torch.no_grad():
        reached = float(((model(x) - y) ** 2).mean())
    assert least * 0.999 <= reached < least * 1.01
    assert torch.allclose(model.net[1].weight, weights, atol=0.1)
    assert result.metrics["train/mse"] < 30 and result.metrics["test/mse"] < 40


def test_autoencoder_layers_and_reconstruction():
    deep = Autoencoder(784, [50, 10], ["tanh", "identity"], [50], ["tanh"])
    sizes = [m.out_features for m in deep.modules() if isinstance(m, nn.Linear)]
    assert sizes == [50, 10, 50, 784] and deep.hparams.code_dim == 10
    x = torch.rand(5, 1, 28, 28)
    assert deep(x).shape == (5, 784) and deep.encode(x).shape == (5, 10)
    out = deep(x).detach()
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    with pytest.raises(ValueError, match="2 layer sizes but 1 activations"):
        Autoencoder(4, [2, 1], ["tanh"])


def test_zero_initialisation_leaves_hidden_units_identical():
    model = MLPClassifier(
        4, 3, hidden_sizes=[5], init={"scheme": "zeros"}, optimizer=lambda p: torch.optim.SGD(p, lr=0.5)
    )
    opt = model.configure_optimizers()
    x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    for _ in range(5):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    hidden = model.net[1].weight
    assert torch.allclose(hidden, hidden[0].expand_as(hidden)), "symmetry is never broken"


@pytest.mark.parametrize(
    ("scheme", "std"),
    [("kaiming_normal", (2 / 400) ** 0.5), ("xavier_normal", 2**0.5 * (2 / 600) ** 0.5), ("normal", 0.01)],
)
def test_initial_weight_scale_follows_the_scheme(scheme, std):
    model = MLPClassifier(
        400, 10, hidden_sizes=[200], activation="relu", init={"scheme": scheme, "std": 0.01}
    )
    measured = model.net[1].weight.std().item()
    assert measured == pytest.approx(std, rel=0.05)
    assert torch.count_nonzero(model.net[1].bias) == 0


def test_dropout_per_layer_and_norm_placement():
    model = MLPClassifier(10, 2, hidden_sizes=[8, 6, 4], dropout=[0.4, 0.3, 0.2], norm={"kind": "batch"})
    rates = [m.p for m in model.modules() if isinstance(m, nn.Dropout)]
    assert rates == [0.4, 0.3, 0.2]
    layers = [type(m).__name__ for m in model.net]
    assert layers[:5] == ["Flatten", "Linear", "BatchNorm1d", "ReLU", "Dropout"]
    with pytest.raises(ValueError, match="outside"):
        MLPClassifier(10, 2, hidden_sizes=[8], dropout=1.5)


def test_activations_are_modules_with_gains():
    for name in ACTIVATIONS:
        assert make_activation(name)(torch.zeros(3)).shape == (3,)
        assert activation_gain(name) > 0
    with pytest.raises(ValueError, match="choose one of"):
        make_activation("swishy")


def test_logistic_regression_is_the_binary_cross_entropy_model():
    from mde_exp.models.logistic import LogisticRegression

    torch.manual_seed(0)
    model = LogisticRegression(input_dim=3)
    x, y = torch.randn(8, 3), torch.randint(0, 2, (8,))
    z = model.logit(x)
    assert torch.allclose(z, model.net[1](x).squeeze(-1))
    assert torch.allclose(torch.softmax(model(x), dim=1)[:, 1], model.probability(x))
    bce = torch.nn.functional.binary_cross_entropy_with_logits(z, y.float())
    assert torch.allclose(torch.nn.functional.cross_entropy(model(x), y), bce)
    with pytest.raises(ValueError, match="binary classifier but the data have 10 classes"):
        LogisticRegression(input_dim=3, num_classes=10)
