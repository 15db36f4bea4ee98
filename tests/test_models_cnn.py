"""ConvNet and LeNet5 (book sections 6.2 and 6.3): shapes, gradient flow, the init / norm / dropout
choices on convolutions, the book's output-size formula, stored runs loading back, and CLI errors."""

import itertools

import pytest
import torch
from torch import nn

from mde_exp import store
from mde_exp.models.cnn import ConvNet, LeNet5
from mde_exp.nn.conv import conv_output_size, image_shape, per_layer, same_padding
from mde_exp.run import execute

from .conftest import one_training_step, run_cli


@pytest.mark.parametrize(
    "kind, shape, kwargs, feature_shapes",
    [
        ("convnet", (1, 28, 28), {}, [(8, 12, 12), (16, 5, 5)]),  # the course's net: 400 features
        ("convnet", (1, 8, 8), {"padding": "same"}, [(8, 4, 4), (16, 2, 2)]),
        (
            "convnet",
            (3, 32, 32),
            {"channels": [4, 8, 8], "kernel_sizes": 3, "pool": [2, 1, 2]},
            [(4, 15, 15), (8, 13, 13), (8, 5, 5)],
        ),  # fmt: skip
        (
            "convnet",
            (1, 28, 28),
            {"strides": [2, 1], "dilation": [1, 2], "pool": 1, "hidden_sizes": [12]},
            [(8, 12, 12), (16, 8, 8)],
        ),  # fmt: skip
        ("lenet5", (1, 28, 28), {}, [(6, 14, 14), (16, 5, 5)]),  # 16 x 5 x 5 into 120, as in 1998
    ],
)
def test_shapes_and_gradient_flow(kind, shape, kwargs, feature_shapes):
    cls = {"convnet": ConvNet, "lenet5": LeNet5}[kind]
    model = cls(shape, 3, **kwargs)
    assert model.feature_shapes == feature_shapes
    flat = torch.randn(5, *shape)
    assert model(flat).shape == (5, 3)
    assert torch.equal(model(flat), model(flat.flatten(1)))  # flattened data are viewed as images
    assert torch.isfinite(one_training_step(model, shape))
    c, h, w = feature_shapes[-1]
    first_dense = next(m for m in model.classifier if isinstance(m, nn.Linear))
    assert first_dense.in_features == c * h * w


def test_lenet5_is_the_1998_architecture():
    model = LeNet5((1, 28, 28), 10)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    dense = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [
        (1, 6, (5, 5)),
        (6, 16, (5, 5)),
    ]
    assert [(d.in_features, d.out_features) for d in dense] == [(400, 120), (120, 84), (84, 10)]
    assert sum(isinstance(m, nn.AvgPool2d) for m in model.modules()) == 2
    assert sum(isinstance(m, nn.Tanh) for m in model.modules()) == 4
    assert sum(p.numel() for p in model.parameters()) == 61_706  # LeNet-5 with 28 x 28 (padded) inputs


@pytest.mark.parametrize("kind, norm_type", [("batch", nn.BatchNorm2d), ("layer", nn.GroupNorm)])
def test_norm_choice_normalises_each_conv_layer_and_each_hidden_dense_layer(kind, norm_type):
    model = ConvNet((1, 28, 28), 10, hidden_sizes=[32], norm={"kind": kind})
    assert sum(isinstance(m, norm_type) for m in model.features.modules()) == 2
    dense_norm = nn.BatchNorm1d if kind == "batch" else nn.LayerNorm
    assert sum(isinstance(m, dense_norm) for m in model.classifier.modules()) == 1
    one_training_step(model, (1, 28, 28))


def test_dropout_acts_on_the_flattened_features_and_each_hidden_layer():
    model = ConvNet((1, 28, 28), 10, hidden_sizes=[32, 16], dropout=[0.5, 0.2, 0.1])
    rates = [m.p for m in model.classifier if isinstance(m, nn.Dropout)]
    assert rates == [0.5, 0.2, 0.1]
    assert (
        len([m for m in ConvNet((1, 28, 28), 10, dropout=0.5).classifier if isinstance(m, nn.Dropout)]) == 1
    )
    with pytest.raises(ValueError, match="2 rates for 3 hidden layers"):
        ConvNet((1, 28, 28), 10, hidden_sizes=[32, 16], dropout=[0.5, 0.2])


def test_kaiming_init_uses_the_convolution_fan_in():
    torch.manual_seed(0)
    model = ConvNet((1, 28, 28), 10, channels=[64, 64], init={"scheme": "kaiming_normal"})
    for conv in (model.features[0][0], model.features[1][0]):
        fan_in = conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]  # 25 and 64 x 9
        expected = (2.0 / fan_in) ** 0.5  # He: std sqrt(2 / fan-in) for ReLU
        assert conv.weight.std().item() == pytest.approx(expected, rel=0.1)
        assert torch.all(conv.bias == 0)
    zeros = ConvNet((1, 28, 28), 10, init={"scheme": "zeros"})
    assert all(torch.all(m.weight == 0) for m in zeros.modules() if isinstance(m, nn.Conv2d | nn.Linear))


def test_channels_last_gives_the_same_outputs():
    torch.manual_seed(0)
    plain = ConvNet((3, 32, 32), 5, norm={"kind": "batch"})
    fast = ConvNet((3, 32, 32), 5, norm={"kind": "batch"}, memory_format="channels_last")
    fast.load_state_dict(plain.state_dict())
    assert fast.first_layer.weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.randn(4, 3, 32, 32)
    torch.testing.assert_close(fast(x), plain(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"channels": []}, "channels must be positive integers"),
        ({"kernel_sizes": [5, 3, 3]}, "kernel_sizes lists 3 values for 2 convolutional layers"),
        ({"pooling": "median"}, "unknown pooling 'median'; choose one of: max, avg"),
        ({"memory_format": "nhwc"}, "unknown memory_format 'nhwc'"),
        ({"padding": ["same", 0], "kernel_sizes": [4, 3]}, "padding 'same' needs an odd dilated kernel span"),
        ({"hidden_sizes": [0]}, "hidden_sizes must be positive integers"),
    ],
)
def test_bad_architectures_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ConvNet((1, 28, 28), 10, **kwargs)


def test_inputs_that_are_not_images_or_too_small_are_refused():
    with pytest.raises(ValueError, match="needs images"):
        ConvNet((30,), 2)
    with pytest.raises(ValueError, match="convolutional layer 2 .* leaves no output on \\[1, 8, 8\\]"):
        ConvNet((1, 8, 8), 10)
    assert image_shape((8, 8)) == (1, 8, 8)


def test_output_size_formula_agrees_with_torch():
    """The book's formula against torch's convolution, over a grid (the cnn-filters recipe covers more)."""
    grid = itertools.product((5, 8, 11), (1, 3, 5), (1, 2, 3), (0, 1, 2), (1, 2))
    checked = 0
    for size, k, s, p, d in grid:
        predicted = conv_output_size(size, k, s, p, d)
        x = torch.zeros(1, 1, size, size)
        if predicted < 1:
            with pytest.raises(RuntimeError):
                nn.functional.conv2d(x, torch.zeros(1, 1, k, k), stride=s, padding=p, dilation=d)
            continue
        out = nn.functional.conv2d(x, torch.zeros(1, 1, k, k), stride=s, padding=p, dilation=d)
        assert out.shape[-2:] == (predicted, predicted), (size, k, s, p, d)
        checked += 1
    assert checked > 150
    assert same_padding(5) == 2 and same_padding(3, dilation=2) == 2
    assert per_layer(3, 2, "k") == [3, 3] and per_layer("same", 2, "p") == ["same", "same"]


def test_a_stored_lenet5_and_a_batch_norm_mlp_load_back(tmp_path, one_thread):
    common = ["logger=none", f"store.root={tmp_path}", "trainer.max_epochs=1", "data.train_size=300"]
    for overrides in (["model=lenet5", "norm=batch"], ["model=mlp", "norm=batch", "data=digits"]):
        result = execute(store.compose([*overrides, *common]))
        model = store.load_model(result.dir)
        datamodule = store.load_datamodule(result.dir)
        x, y = datamodule.splits["test"][:2]
        with torch.no_grad():
            accuracy = (model(x).argmax(1) == y).float().mean().item()
        assert accuracy == pytest.approx(result.metrics["test/acc"], abs=1e-6)


def test_cli_refuses_a_net_that_does_not_fit_the_images(tmp_path):
    done = run_cli(["model=convnet", "data=digits", "logger=none", f"store.root={tmp_path}"], cwd=tmp_path)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == (
        "mde_exp: error: model ConvNet: convolutional layer 2 (kernel 3, stride 1, padding 0, dilation 1, "
        "pool 2) leaves no output on [1, 8, 8] inputs; use padding=same, smaller kernels or less pooling"
    )
    assert not any(tmp_path.glob("default/*"))
    done = run_cli(["model=lenet5", "data=wdbc", "logger=none", f"store.root={tmp_path}"], cwd=tmp_path)
    last = done.stderr.strip().splitlines()[-1]  # tabular data offer no image shape: the model cannot fit
    assert done.returncode != 0 and last.startswith("mde_exp: error: model LeNet5 needs input_shape, which ")
    fitting = last.split("models for it: ")[1].split(", ")
    assert "mlp" in fitting
    assert not {"convnet", "lenet5", "vgg", "inception", "resnet", "siamese"} & set(fitting)
