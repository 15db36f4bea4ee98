"""MLPClassifier with one activation per hidden layer (section 6.3's dense net 784-200(relu)-100(tanh)-10)."""

import pytest
import torch
from torch import nn

from mde_exp import store
from mde_exp.errors import ConfigError
from mde_exp.models.mlp import MLPClassifier
from mde_exp.nn.activations import activation_gain
from mde_exp.validate import check_config


def _dense(model: MLPClassifier) -> list[nn.Linear]:
    return [m for m in model.net if isinstance(m, nn.Linear)]


def test_one_activation_per_hidden_layer_builds_and_trains():
    model = MLPClassifier(784, 10, hidden_sizes=[200, 100], activation=["relu", "tanh"])
    kinds = [type(m) for m in model.net if isinstance(m, nn.ReLU | nn.Tanh)]
    assert kinds == [nn.ReLU, nn.Tanh]
    assert [m.out_features for m in _dense(model)] == [200, 100, 10]
    assert sum(p.numel() for p in model.parameters()) == 784 * 200 + 200 + 200 * 100 + 100 + 100 * 10 + 10
    x = torch.rand(6, 1, 28, 28)
    logits = model(x)
    assert logits.shape == (6, 10)
    nn.functional.cross_entropy(logits, torch.arange(6)).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    # the hidden tanh layer's outputs lie in (-1, 1); the relu layer's are >= 0 and unbounded
    with torch.no_grad():
        relu_out, tanh_in, tanh_out = model.net[:4](x), model.net[:6](x), model.net[:7](x)
    assert float(relu_out.min()) == 0 and float(relu_out.max()) > 0
    assert float(tanh_out.abs().max()) < 1 and torch.allclose(tanh_out, torch.tanh(tanh_in))
    assert model.hparams.activation == ["relu", "tanh"]
    assert isinstance(MLPClassifier(**model.hparams).net[6], nn.Tanh)  # a stored run rebuilds the same net


def test_each_layer_is_initialised_with_its_own_activations_gain():
    torch.manual_seed(0)
    model = MLPClassifier(
        784, 10, hidden_sizes=[400, 300], activation=["relu", "sigmoid"], init={"scheme": "kaiming_normal"}
    )
    gains = [activation_gain("relu"), activation_gain("sigmoid"), activation_gain("sigmoid")]
    assert gains[0] > 1.4 and gains[1] == 1.0  # torch's gains: sqrt(2) and 1
    for layer, gain in zip(_dense(model), gains, strict=True):
        expected = gain / layer.in_features**0.5
        assert abs(float(layer.weight.detach().std()) / expected - 1) < 0.1, (layer, gain)


def test_one_name_is_the_same_as_a_list_of_that_name():
    torch.manual_seed(3)
    single = MLPClassifier(20, 3, hidden_sizes=[8, 5], activation="tanh", init={"scheme": "xavier_normal"})
    torch.manual_seed(3)
    listed = MLPClassifier(
        20, 3, hidden_sizes=[8, 5], activation=["tanh", "tanh"], init={"scheme": "xavier_normal"}
    )
    for a, b in zip(single.parameters(), listed.parameters(), strict=True):
        assert torch.equal(a, b)
    assert single.hparams.activation == "tanh"


def test_bad_activation_lists_are_refused():
    with pytest.raises(ValueError, match="activation lists 1 names for 2 hidden layers"):
        MLPClassifier(20, 3, hidden_sizes=[8, 5], activation=["relu"])
    with pytest.raises(ValueError, match="unknown activation 'swishy'"):
        MLPClassifier(20, 3, hidden_sizes=[8, 5], activation=["relu", "swishy"])


def test_the_config_check_accepts_per_layer_lists():
    good = ["model=mlp", "model.hidden_sizes=[200,100]", "model.activation=[relu,tanh]", "data=digits"]
    check_config(store.compose(good))
    with pytest.raises(
        ConfigError, match="model MLPClassifier: activation lists 1 names for 2 hidden layers"
    ):
        check_config(store.compose([*good[:2], "model.activation=[relu]", "data=digits"]))
    with pytest.raises(ConfigError, match="model.activation=swishy"):
        check_config(store.compose([*good[:2], "model.activation=[relu,swishy]", "data=digits"]))
