"""abl-cifar3 (course practical 5): the experiment's network, the full profile's composition on CIFAR-10
files the tests generate, the full path end to end for one epoch, and the recipe at the smallest scale."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from mde_exp import store, sweep
from mde_exp.recipes import RecipeContext, load_recipes
from mde_exp.validate import model_inputs_for

from .conftest import reproduce_at_smallest_scale
from .test_data_full import _write_cifar

RID = "abl-cifar3"


@pytest.fixture(scope="module")
def recipe() -> SimpleNamespace:
    return SimpleNamespace(recipe=load_recipes()[RID], **load_recipes()[RID].run.__globals__)


def _model_for(cfg, offered):
    return instantiate(cfg.model, **model_inputs_for(cfg.model, offered), _convert_="all")


def _dense_layers(model) -> list[tuple[str, int, int]]:
    """The classifier as (kind, in, out) rows: Linear layers and the Dropout layers before them."""
    return [
        ("dropout", m.p, 0) if isinstance(m, nn.Dropout) else ("linear", m.in_features, m.out_features)
        for m in model.classifier
        if isinstance(m, nn.Dropout | nn.Linear)
    ]


def test_recipe_is_registered(recipe):
    assert recipe.recipe.chapter == 6 and recipe.recipe.book_ref.startswith("Section 6.3")


def test_full_profile_composes_the_course_practical_on_cifar3(tmp_path, recipe):
    folder = _write_cifar(tmp_path / "cifar10", n_per_batch=40, n_test=30)
    overrides = ["profile=full", "+experiment=cifar3_cnn", *recipe.SETTINGS["full"]["overrides"]]
    cfg = store.compose(overrides)
    assert cfg.data._target_ == "mde_exp.data.cifar.CIFAR10DataModule"
    assert list(cfg.data.classes) == [0, 3, 9] and (cfg.data.train_size, cfg.data.val_size) == (2000, 1000)
    assert cfg.data.batch_size == 50 and cfg.data.flatten is False
    assert cfg.optimizer._target_ == "torch.optim.Adam" and cfg.optimizer.lr == 0.005
    assert cfg.trainer.max_epochs == 20 and cfg.norm.kind == "batch" and list(cfg.dropout) == [0, 0.5, 0.5]
    assert cfg.figure_id == RID and cfg.book_section == "6.3"

    small = store.compose([*overrides, f"data.data_dir={folder}", "data.train_size=30", "data.val_size=15"])
    datamodule = instantiate(small.data)
    datamodule.setup()
    offered = datamodule.model_inputs()
    assert offered["input_shape"] == (3, 32, 32) and offered["num_classes"] == 3
    model = _model_for(small, offered)
    assert model.input_shape == (3, 32, 32)
    assert model.feature_shapes == [(8, 32 // 2, 32 // 2), (4, 7, 7)]  # the practical's 196 features
    convs = [m for m in model.features.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.padding) for c in convs] == [
        (3, 8, (3, 3), (1, 1)),
        (8, 4, (3, 3), (0, 0)),
    ]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 2
    assert _dense_layers(model) == [
        ("linear", 196, 80),
        ("dropout", 0.5, 0),
        ("linear", 80, 40),
        ("dropout", 0.5, 0),
        ("linear", 40, 3),
    ]
    x, _ = next(iter(datamodule.train_dataloader()))
    assert model(x).shape == (len(x), 3)

    plain = _model_for(store.compose([*overrides, "norm=none", "dropout=0"]), offered)
    assert not any(isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d | nn.Dropout) for m in plain.modules())
    assert _dense_layers(plain) == [("linear", 196, 80), ("linear", 80, 40), ("linear", 40, 3)]


def test_the_experiment_crosses_batch_norm_and_dropout_and_the_recipe_runs_its_corners(recipe):
    base = store.compose(["+experiment=cifar3_cnn"], return_hydra_config=True)
    jobs = sweep.expand([], sweep.sweep_params(base.hydra))
    assert [tuple(j) for j in jobs] == [
        (f"norm={n}", f"dropout={d}") for n in ("batch", "none") for d in ("[0.0,0.5,0.5]", "0.0")
    ]
    hashes = {store.config_hash(store.compose(["+experiment=cifar3_cnn", *job])) for job in jobs}
    pair = {
        store.config_hash(store.compose(["+experiment=cifar3_cnn", *v])) for v in recipe.VARIANTS.values()
    }
    assert len(hashes) == 4 and pair <= hashes and len(pair) == 2  # the CLI sweep and the recipe share runs


def test_stand_in_keeps_digits_as_images_for_the_same_net(recipe):
    cfg = store.compose(["profile=quick", "+experiment=cifar3_cnn", *recipe.SETTINGS["quick"]["overrides"]])
    assert cfg.data._target_.endswith("MNIST5kDataModule") and list(cfg.data.classes) == [3, 5, 8]
    model = _model_for(cfg, {"input_shape": (1, 28, 28), "num_classes": 3})
    assert model.feature_shapes == [(8, 14, 14), (4, 6, 6)]
    assert (
        "stand-in" in recipe.SETTINGS["quick"]["data"] and "stand-in" not in recipe.SETTINGS["full"]["data"]
    )


def test_full_profile_runs_end_to_end_on_generated_cifar_files(tmp_path, recipe, one_thread):
    """The full profile's recipe for one epoch on small generated CIFAR-10 batches: every run reads the
    pickles, keeps airplane / cat / truck, trains the 3 x 32 x 32 net, and the course value is reported."""
    folder = _write_cifar(tmp_path / "cifar10", n_per_batch=40, n_test=30)
    small = [f"data.data_dir={folder}", "data.train_size=30", "data.val_size=15", "data.eval_train_size=30"]
    ctx = RecipeContext(
        "full",
        tmp_path / "figures",
        overrides=["logger=none", f"store.root={tmp_path / 'runs'}", "trainer.max_epochs=1", *small],
    )
    output = recipe.run(ctx)
    assert output.figure.is_file() and output.figure.stat().st_size > 10_000
    assert output.values["data"].startswith("CIFAR-10") and output.values["course_test_acc"] == 0.8
    course = [c for c in output.claims if c.book_value is not None]
    assert (
        len(course) == 1
        and course[0].book_value == 0.8
        and "|mean test accuracy - 0.8|" in course[0].expected
    )
    assert len(output.runs) == 2 * len(recipe.SETTINGS["full"]["seeds"])
    for run in output.runs:
        summary = json.loads((Path(run) / "summary.json").read_text())
        assert summary["status"] == "finished" and summary["epochs"] == 1
        cfg = OmegaConf.load(Path(run) / "config.yaml")
        assert cfg.data._target_.endswith("CIFAR10DataModule") and list(cfg.data.classes) == [0, 3, 9]
    model = store.load_model(output.runs[0])
    assert model.input_shape == (3, 32, 32) and model.first_layer.in_channels == 3
    datamodule = store.load_datamodule(output.runs[0])
    assert datamodule.class_names == ["airplane", "cat", "truck"] and datamodule.sizes()["train"] == 30
    with torch.no_grad():
        assert model(datamodule.splits["test"][0]).shape == (9, 3)


def test_abl_cifar3_at_the_smallest_scale(tmp_path, one_thread):
    record = reproduce_at_smallest_scale(tmp_path, [RID])[RID]
    values = record["values"]
    assert values["data"].startswith("stand-in: MNIST digits 3, 5, 8") and values["course_test_acc"] is None
    assert all(claim["book_value"] is None for claim in record["claims"])  # the course's 0.8 is CIFAR's
    course, plain = values["mean_test_acc"]
    assert values["mean_test_acc"][course] > max(0.6, values["mean_test_acc"][plain])
    assert values["mean_gap"][course] < values["mean_gap"][plain]
    assert len(values["test_acc"][course]) == len(values["seeds"]) == 2 and len(record["runs"]) == 4
