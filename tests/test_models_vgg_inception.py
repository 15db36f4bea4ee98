"""VGG (book section 6.3) and Inception (section 6.4): shapes on tiny images, the Inception module's
branches, gradient flow, the init / norm / dropout choices, bad configs, and stored runs loading back."""

import pytest
import torch
from torch import nn

from mde_exp import store
from mde_exp.errors import ConfigError
from mde_exp.models.inception import Inception, InceptionModule
from mde_exp.models.vgg import VGG
from mde_exp.preflight import check_command_line
from mde_exp.run import execute

from .conftest import one_training_step, run_cli

SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32)]


@pytest.mark.parametrize("shape", SHAPES)
def test_vgg_blocks_halve_the_images_and_feed_the_dense_layers(shape):
    model = VGG(shape, 3, blocks=[[4, 4], [6]], hidden_sizes=[12])
    c, h, w = shape
    assert model.feature_shapes == [(4, h, w), (4, h // 2, w // 2), (6, h // 4, w // 4)]  # after each conv
    convs = [m for m in model.features.modules() if isinstance(m, nn.Conv2d)]
    assert [(m.in_channels, m.out_channels, m.kernel_size, m.padding) for m in convs] == [
        (c, 4, (3, 3), (1, 1)),
        (4, 4, (3, 3), (1, 1)),
        (4, 6, (3, 3), (1, 1)),
    ]
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.modules()) == 2  # one per block
    dense = [m for m in model.classifier if isinstance(m, nn.Linear)]
    assert [(d.in_features, d.out_features) for d in dense] == [(6 * (h // 4) * (w // 4), 12), (12, 3)]
    assert model(torch.randn(5, *shape)).shape == (5, 3)
    assert torch.isfinite(one_training_step(model, shape))


@pytest.mark.parametrize("shape", SHAPES)
def test_the_default_vgg_and_inception_fit_every_image_size(shape):
    for cls in (VGG, Inception):
        model = cls(shape, 10)
        assert model(torch.randn(2, *shape).flatten(1)).shape == (2, 10)  # flattened data too


def test_inception_module_branches_keep_the_size_and_concatenate_along_channels():
    module = InceptionModule(5, [3, 4, 6, 2, 7, 8])
    x = torch.randn(2, 5, 9, 11)
    branches = module.branches(x)
    assert [tuple(b.shape) for b in branches] == [(2, c, 9, 11) for c in (3, 6, 7, 8)]
    out = module(x)
    assert out.shape == (2, 3 + 6 + 7 + 8, 9, 11) and module.out_channels == 24
    assert torch.equal(out, torch.cat(branches, 1))
    convs = lambda seq: [(m.in_channels, m.out_channels, m.kernel_size) for m in seq.modules()  # noqa: E731
                         if isinstance(m, nn.Conv2d)]  # fmt: skip
    assert convs(module.branch1) == [(5, 3, (1, 1))]
    assert convs(module.branch3) == [(5, 4, (1, 1)), (4, 6, (3, 3))]  # 1x1 reduce, then 3x3
    assert convs(module.branch5) == [(5, 2, (1, 1)), (2, 7, (5, 5))]  # 1x1 reduce, then 5x5
    assert convs(module.branch_pool) == [(5, 8, (1, 1))]
    pool = module.branch_pool[0]
    assert isinstance(pool, nn.MaxPool2d) and (pool.kernel_size, pool.stride, pool.padding) == (3, 1, 1)


@pytest.mark.parametrize("shape", SHAPES)
def test_inception_shapes_and_gradient_flow(shape):
    model = Inception(shape, 4, stem_channels=6, module_widths=[[2, 3, 4, 2, 3, 2], [3, 2, 4, 2, 2, 3]])
    _, h, w = shape
    assert model.feature_shapes == [(6, h // 2, w // 2), (11, h // 4, w // 4), (12, h // 4, w // 4)]
    assert [m.out_channels for m in model.inception_modules] == [11, 12]
    assert model.classifier[-1].in_features == 12  # global average pooling: one feature per channel
    assert model(torch.randn(3, *shape)).shape == (3, 4)
    assert torch.isfinite(one_training_step(model, shape))


@pytest.mark.parametrize("kind, norm_type", [("batch", nn.BatchNorm2d), ("layer", nn.GroupNorm)])
def test_norm_choice_follows_every_convolution(kind, norm_type):
    vgg = VGG((1, 8, 8), 10, blocks=[[4, 4], [8]], hidden_sizes=[16], norm={"kind": kind})
    assert sum(isinstance(m, norm_type) for m in vgg.features.modules()) == 3
    dense_norm = nn.BatchNorm1d if kind == "batch" else nn.LayerNorm
    assert sum(isinstance(m, dense_norm) for m in vgg.classifier.modules()) == 1
    one_training_step(vgg, (1, 8, 8))
    inception = Inception((1, 8, 8), 10, norm={"kind": kind})
    convs = sum(isinstance(m, nn.Conv2d) for m in inception.modules())
    assert convs == 1 + 2 * 6  # the stem and six convolutions per module
    assert sum(isinstance(m, norm_type) for m in inception.modules()) == convs
    one_training_step(inception, (1, 8, 8))
    assert not any(isinstance(m, norm_type) for m in Inception((1, 8, 8), 10).modules())


def test_dropout_acts_where_each_model_puts_it():
    vgg = VGG((1, 8, 8), 10, hidden_sizes=[32, 16], dropout=[0.5, 0.2, 0.1])
    assert [m.p for m in vgg.classifier if isinstance(m, nn.Dropout)] == [0.5, 0.2, 0.1]
    inception = Inception((1, 8, 8), 10, dropout=0.4)
    head = list(inception.classifier)
    assert isinstance(head[-2], nn.Dropout) and head[-2].p == 0.4 and isinstance(head[-1], nn.Linear)
    assert not any(isinstance(m, nn.Dropout) for m in Inception((1, 8, 8), 10).modules())
    x = torch.randn(4, 1, 8, 8)
    inception.train()
    assert not torch.equal(inception(x), inception(x))  # dropout is random in training
    inception.eval()
    assert torch.equal(inception(x), inception(x))
    with pytest.raises(ValueError, match="outside \\[0, 1\\)"):
        Inception((1, 8, 8), 10, dropout=1.5)


@pytest.mark.parametrize("cls", [VGG, Inception])
def test_init_choice_reaches_every_convolution(cls):
    torch.manual_seed(0)
    model = cls((1, 28, 28), 10, init={"scheme": "kaiming_normal"})
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) >= 4
    for conv in convs:
        assert torch.all(conv.bias == 0)
        fan_in = conv.weight[0].numel()
        if conv.weight.numel() >= 500:  # enough weights for a sample standard deviation
            assert conv.weight.std().item() == pytest.approx((2.0 / fan_in) ** 0.5, rel=0.2)
    zeros = cls((1, 28, 28), 10, init={"scheme": "zeros"})
    assert all(torch.all(m.weight == 0) for m in zeros.modules() if isinstance(m, nn.Conv2d | nn.Linear))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"blocks": []}, "blocks must be a non-empty list"),
        ({"blocks": [[8], []]}, "block 2 must be a non-empty list of channel counts"),
        ({"blocks": [8, 16]}, "block 1 must be a non-empty list"),
        ({"blocks": [[8, 0]]}, "block 1 has channels \\[8, 0\\]"),
        ({"blocks": [[4]] * 4}, "4 blocks halve 8 x 8 images 4 times, to nothing; use at most 3 blocks"),
        ({"hidden_sizes": [0]}, "hidden_sizes must be positive integers"),
        ({"dropout": [0.1, 0.2, 0.3]}, "dropout lists 3 rates for 2 hidden layers"),
        ({"activation": "swish"}, "unknown activation 'swish'"),
    ],
)
def test_bad_vgg_configs_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VGG((1, 8, 8), 10, **kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"module_widths": []}, "module_widths must be a non-empty list of modules, each 6 branch widths"),
        ({"module_widths": [[8, 8, 16, 4, 8]]}, "module 1 needs 6 branch widths \\(1x1, 3x3 reduce"),
        ({"module_widths": [[8, 8, 16, 4, 8, 8], [1, 0, 1, 1, 1, 1]]}, "module 2 has branch widths"),
        ({"pool": [2, 2, 2]}, "pool lists 3 values for 2 convolutional layers"),
        ({"pool": [2, 4]}, "the pool of 4 after module 2 leaves no output on \\[1, 8, 8\\] inputs"),
        ({"stem_pool": 16}, "the pool of 16 after the stem leaves no output"),
        ({"stem_channels": 0}, "stem_channels must be a positive integer"),
        ({"stem_kernel": 4}, "padding 'same' needs an odd dilated kernel span"),
        ({"dropout": [0.1, 0.2]}, "dropout lists 2 rates for 1 hidden layers"),
    ],
)
def test_bad_inception_configs_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Inception((1, 8, 8), 10, **kwargs)


def test_stored_vgg_and_inception_load_back_after_one_cli_epoch(tmp_path):
    common = ["logger=none", f"store.root={tmp_path}", "trainer.max_epochs=1", "data=digits", "norm=batch"]
    done = run_cli(["-m", "model=vgg,inception", *common], cwd=tmp_path)  # one process for both runs
    assert done.returncode == 0, done.stderr[-2000:]
    runs = sorted(p.parent for p in tmp_path.glob("default/*/summary.json"))
    assert len(runs) == 2
    for directory in runs:
        model = store.load_model(directory)
        assert isinstance(model, VGG | Inception)
        assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # the norm choice comes back
        datamodule = store.load_datamodule(directory)
        x, y = datamodule.splits["test"][:2]
        with torch.no_grad():
            accuracy = (model(x).argmax(1) == y).float().mean().item()
        summary = store.read_summary(directory)
        assert summary["epochs"] == 1
        assert accuracy == pytest.approx(summary["metrics"]["test/acc"], abs=1e-6)
    assert {type(store.load_model(d)).__name__ for d in runs} == {"VGG", "Inception"}


def test_a_stored_run_of_a_non_default_vgg_loads_back(tmp_path, one_thread):
    overrides = ["model=vgg", "model.blocks=[[4],[6,6]]", "model.hidden_sizes=[]", "data=digits"]
    result = execute(
        store.compose([*overrides, "logger=none", f"store.root={tmp_path}", "trainer.max_epochs=1"])
    )
    model = store.load_model(result.dir)
    assert model.blocks == [[4], [6, 6]]
    assert model.feature_shapes[-1] == (6, 2, 2)


def test_the_preflight_refuses_a_bad_config_with_one_line():
    with pytest.raises(ConfigError) as err:
        check_command_line(["model=inception", "model.pool=[4,2]", "data=digits", "logger=none"])
    assert str(err.value).startswith("model Inception: the pool of 2 after module 2 leaves no output")
    with pytest.raises(ConfigError, match="model VGG: 5 blocks halve 28 x 28 images 5 times"):
        check_command_line(["model=vgg", "model.blocks=[[4],[4],[4],[4],[4]]", "logger=none"])
