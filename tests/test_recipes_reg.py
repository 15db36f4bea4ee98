"""abl-regularization and abl-activations at the tiny profile, and the sweeps and helpers behind them."""

import math
from types import SimpleNamespace

import torch

from mde_exp import sweep
from mde_exp.recipes import load_recipes
from mde_exp.store import compose

from .conftest import reproduce_at_smallest_scale


def _module(recipe_id: str) -> SimpleNamespace:
    """The names a recipe's module defines (experiments/ is loaded from files, not imported)."""
    return SimpleNamespace(**load_recipes()[recipe_id].run.__globals__)


def _jobs(experiment: str) -> list[list[str]]:
    base = compose([f"+experiment={experiment}"], return_hydra_config=True)
    return sweep.expand([f"+experiment={experiment}"], sweep.sweep_params(base.hydra))


def test_dropout_sweep_has_the_per_layer_rates():
    jobs = _jobs("dropout_sweep")
    assert [j[0] for j in jobs] == ["dropout=0.0", "dropout=0.2", "dropout=0.5", "dropout=[0.4,0.3,0.2]"]
    labels = [_module("abl-dropout").dropout_label(j) for j in jobs]
    assert labels == ["0", "0.2", "0.5", "0.4/0.3/0.2"]
    cfg = compose(["+experiment=dropout_sweep", "dropout=[0.4,0.3,0.2]"])
    assert list(cfg.dropout) == [0.4, 0.3, 0.2] and len(cfg.model.hidden_sizes) == 3


def test_regularization_and_activation_sweeps_compose():
    jobs = _jobs("regularization_sweep")
    assert len(jobs) == 6
    cfg = compose(
        ["+experiment=regularization_sweep", "optimizer.weight_decay=0.01", "callbacks=early_stopping"]
    )
    assert cfg.optimizer.weight_decay == 0.01 and cfg.optimizer._target_ == "torch.optim.SGD"
    assert cfg.callbacks.early_stopping.monitor == "val/loss" and cfg.data.train_size == 1000
    acts = [j[0].split("=")[1] for j in _jobs("activations_sweep")]
    assert {"sigmoid", "tanh", "scaled_sigmoid", "relu", "leaky_relu_0.05", "leaky_relu_0.1", "step"} == set(
        acts
    )


def test_layer_gradient_norms_vanish_for_sigmoid_and_are_zero_for_step(one_thread):
    norms = _module("abl-activations").layer_gradient_norms
    small = ["+experiment=activations_sweep", "data.train_size=300", "data.batch_size=64", "logger=none"]
    relu = norms(compose([*small, "model.activation=relu"]), seed=0)
    sigmoid = norms(compose([*small, "model.activation=sigmoid"]), seed=0)
    step = norms(compose([*small, "model.activation=step"]), seed=0)
    assert len(relu) == len(sigmoid) == len(step) == 5
    assert sigmoid[0] / sigmoid[3] < 0.05 < relu[0] / relu[3]
    assert step[:4] == [0.0] * 4 and step[4] > 0


def test_weight_norm_reads_a_checkpoint(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    state = {"net.1.weight": torch.full((2, 2), 1.0), "net.1.bias": torch.full((2,), 5.0)}
    torch.save({"state_dict": state}, tmp_path / "checkpoints" / "last.ckpt")
    assert math.isclose(_module("abl-regularization").weight_norm(tmp_path), 2.0)


def test_abl_regularization_and_activations_at_the_smallest_scale(tmp_path, one_thread):
    records = reproduce_at_smallest_scale(tmp_path, ("abl-regularization", "abl-activations"))

    reg = records["abl-regularization"]["values"]
    assert set(reg["l2"]) == {"0", "0.001", "0.01"}
    assert (
        reg["l2"]["0"]["weight_norm"] > reg["l2"]["0.001"]["weight_norm"] > reg["l2"]["0.01"]["weight_norm"]
    )
    (stopped,) = reg["early_stopping"]
    assert stopped["stopped_at_epoch"] < stopped["max_epochs"]
    assert stopped["stopped_at_epoch"] - stopped["best_epoch"] == stopped["patience"]
    assert len(records["abl-regularization"]["runs"]) == 4  # three lambdas and one early-stopped run

    act = records["abl-activations"]["values"]
    assert len(act["final_val_acc"]) == 7 and len(records["abl-activations"]["runs"]) == 7
    assert act["gradient_ratio_first_to_last_hidden"]["sigmoid"] < 0.2
    assert act["gradient_norms_at_init"]["step"][:4] == [0.0] * 4
    assert act["final_val_acc"]["relu"] > act["final_val_acc"]["step"] + 0.3
