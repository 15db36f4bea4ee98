"""ResNet and its plain twin (book section 6.4): shapes, gradient flow, depth, the shortcuts being the only
difference, the norm / dropout / init choices, a stored run loading back, and bad arguments refused."""

import pytest
import torch
from torch import nn

from mde_exp import store
from mde_exp.models.resnet import BasicBlock, ResNet, resnet_depth
from mde_exp.run import execute

from .conftest import one_training_step, run_cli


def _projections(model: ResNet) -> list[nn.Module]:
    return [b.shortcut for b in model.modules() if isinstance(b, BasicBlock) and b.shortcut is not None
            and not isinstance(b.shortcut, nn.Identity)]  # fmt: skip


@pytest.mark.parametrize("residual", [True, False])
@pytest.mark.parametrize(
    "shape, kwargs, feature_shapes",
    [
        ((1, 8, 8), {}, [(8, 8, 8), (16, 4, 4), (32, 2, 2)]),  # digits, the defaults
        ((1, 28, 28), {"blocks_per_stage": 1}, [(8, 28, 28), (16, 14, 14), (32, 7, 7)]),  # mnist_5k
        (
            (3, 9, 9),
            {"channels": [4, 6], "blocks_per_stage": [2, 1], "stem_channels": 5, "norm": {"kind": "batch"}},
            [(4, 9, 9), (6, 5, 5)],
        ),  # fmt: skip
    ],
)
def test_shapes_and_gradient_flow(residual, shape, kwargs, feature_shapes):
    model = ResNet(shape, 3, residual=residual, **kwargs)
    assert model.feature_shapes == feature_shapes and model.residual is residual
    images = torch.randn(5, *shape)
    model.eval()
    assert model(images).shape == (5, 3)
    assert torch.equal(model(images), model(images.flatten(1)))  # flattened data are viewed as images
    assert torch.isfinite(one_training_step(model, shape))
    assert model.head[-1].in_features == feature_shapes[-1][0]  # global average pooling: one per channel


def test_depth_counts_the_weighted_layers_of_the_main_path():
    for blocks, channels, depth in ((1, [8, 16, 32], 8), (3, [8, 16, 32], 20), (6, [8, 16, 32], 38),
                                    (9, [16, 32, 64], 56), ([2, 1], [4, 8], 8)):  # fmt: skip
        for residual in (True, False):
            model = ResNet((1, 8, 8), 10, channels=channels, blocks_per_stage=blocks, residual=residual)
            assert model.depth == depth == resnet_depth(blocks, len(channels))
            weighted = [m for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
            projections = [m for p in _projections(model) for m in p.modules() if isinstance(m, nn.Conv2d)]
            assert len(weighted) - len(projections) == depth
            # a projection where a stage changes the channels (and after the first, halves the maps)
            assert len(projections) == (len(channels) - 1 if residual else 0)


def test_plain_and_residual_nets_differ_only_by_the_shortcuts():
    torch.manual_seed(0)
    residual = ResNet((1, 8, 8), 10, channels=[4, 8], blocks_per_stage=2, norm={"kind": "batch"})
    plain = ResNet((1, 8, 8), 10, channels=[4, 8], blocks_per_stage=2, norm={"kind": "batch"}, residual=False)
    shortcut_keys = {k for k in residual.state_dict() if ".shortcut." in k}
    assert shortcut_keys and not any(".shortcut." in k for k in plain.state_dict())
    assert set(residual.state_dict()) - shortcut_keys == set(plain.state_dict())
    for key, value in plain.state_dict().items():
        assert residual.state_dict()[key].shape == value.shape, key
    projection_params = sum(p.numel() for s in _projections(residual) for p in s.parameters())
    assert projection_params == 4 * 8 + 2 * 8  # one 1x1 conv 4 -> 8 (no bias under batch norm) and its norm
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(residual) - count(plain) == projection_params
    # the same weights give different outputs: the shortcuts add x to the blocks' outputs
    plain.load_state_dict({k: v for k, v in residual.state_dict().items() if k not in shortcut_keys})
    residual.eval(), plain.eval()
    x = torch.randn(4, 1, 8, 8)
    assert not torch.allclose(residual(x), plain(x))
    # without its shortcut, a residual block computes the plain block's function
    block, twin = residual.stages[0][1], plain.stages[0][1]
    features = torch.randn(2, 4, 8, 8)
    assert torch.allclose(block.activation(block.body(features)), twin(features))
    assert torch.allclose(block(features), torch.relu(block.body(features) + features))


@pytest.mark.parametrize(
    "kind, norm_type, bias",
    [("none", nn.Identity, True), ("batch", nn.BatchNorm2d, False), ("layer", nn.GroupNorm, False)],
)
def test_norm_choice_normalises_every_convolution(kind, norm_type, bias):
    model = ResNet((1, 8, 8), 10, channels=[4, 8], blocks_per_stage=1, norm={"kind": kind})
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d | nn.GroupNorm)]
    assert len(convs) == 1 + 2 * 2 + 1  # stem, two per block, one projection
    assert len(norms) == (0 if kind == "none" else len(convs))  # one norm after each convolution
    assert all(isinstance(n, norm_type) for n in norms)
    assert all((c.bias is not None) == bias for c in convs)  # a norm's shift replaces the conv bias
    if kind == "layer":
        assert all(n.num_groups == 1 for n in norms)
    assert torch.isfinite(one_training_step(model, (1, 8, 8)))


def test_dropout_and_init_choices_act():
    model = ResNet((1, 8, 8), 10, dropout=0.5)
    assert [m.p for m in model.head if isinstance(m, nn.Dropout)] == [0.5]
    assert not any(isinstance(m, nn.Dropout) for m in ResNet((1, 8, 8), 10).modules())
    x = torch.randn(8, 1, 8, 8)
    model.train()
    torch.manual_seed(0)
    assert not torch.equal(model(x), model(x))  # dropout draws a new mask each pass
    model.eval()
    assert torch.equal(model(x), model(x))
    he = ResNet((1, 28, 28), 10, channels=[16, 32], init={"scheme": "kaiming_normal"})
    conv = he.stages[1][0].body[3]  # 32 channels of 3 x 3 in: fan-in 288, std sqrt(2 / 288) under ReLU
    assert conv.weight.std().item() == pytest.approx((2 / 288) ** 0.5, rel=0.1)
    const = ResNet((1, 8, 8), 10, init={"scheme": "constant", "value": 0.1})
    assert all(torch.all(m.weight == 0.1) for m in const.modules() if isinstance(m, nn.Conv2d | nn.Linear))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"channels": []}, "channels must be positive integers"),
        ({"channels": [8, 0]}, "channels must be positive integers"),
        ({"blocks_per_stage": 0}, "blocks_per_stage must be at least 1"),
        ({"blocks_per_stage": [1, 2]}, "blocks_per_stage lists 2 numbers for 3 stages"),
        ({"stem_channels": 0}, "stem_channels must be a positive integer"),
        ({"kernel_size": 4}, "kernel_size must be a positive odd number"),
        ({"dropout": 1.0}, "dropout rate 1.0 is outside [0, 1)"),
        ({"dropout": [0.1, 0.2]}, "a ResNet has one dropout rate"),
        ({"norm": {"kind": "group"}}, "unknown norm kind 'group'"),
        ({"activation": "nope"}, "nope"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace(")", r"\)")):
        ResNet((1, 8, 8), 10, **kwargs)


def test_a_stored_resnet_loads_back_and_the_cli_reports_bad_arguments(tmp_path, one_thread):
    common = ["logger=none", f"store.root={tmp_path}", "trainer.max_epochs=1"]
    result = execute(store.compose(["model=resnet", "data=digits", "norm=batch", "model.blocks_per_stage=1",
                                    "model.residual=false", *common]))  # fmt: skip
    model = store.load_model(result.dir)
    assert isinstance(model, ResNet) and not model.residual and model.depth == 8
    datamodule = store.load_datamodule(result.dir)
    x, y = datamodule.splits["test"][:2]
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == y).float().mean().item()
    assert accuracy == pytest.approx(result.metrics["test/acc"], abs=1e-6)

    done = run_cli(["model=resnet", "data=digits", "model.blocks_per_stage=[1,1]", *common], cwd=tmp_path)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == (
        "mde_exp: error: model ResNet: blocks_per_stage lists 2 numbers for 3 stages (one per channels entry)"
    )
