"""ParameterPath: the iterates are gradient descent's; the stopping rule and divergence stop a run; resume."""

import json

import lightning as L
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from mde_exp import store
from mde_exp.parameter_path import ParameterPath, path_array, read_parameter_path
from mde_exp.run import execute

A = torch.tensor([[2.0, 0.0], [0.0, 0.5]], dtype=torch.float64)


class Quadratic(L.LightningModule):
    """C(theta) = theta^T A theta / 2, minimised by plain gradient descent (gradient A theta)."""

    def __init__(self, lr: float, start=(1.0, 1.0)) -> None:
        super().__init__()
        self.theta = torch.nn.Parameter(torch.tensor(start, dtype=torch.float64))
        self.frozen = torch.nn.Parameter(torch.zeros(3), requires_grad=False)
        self.lr = lr

    def training_step(self, batch, batch_idx):
        loss = 0.5 * self.theta @ A @ self.theta
        self.log("train/loss", loss, on_step=False, on_epoch=True)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)


def _fit(tmp_path, callback, lr=0.1, steps=20, batches=5):
    loader = DataLoader(TensorDataset(torch.zeros(batches, 1)), batch_size=1)
    trainer = L.Trainer(
        max_steps=steps,
        max_epochs=-1,
        default_root_dir=tmp_path,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[callback],
    )
    model = Quadratic(lr)
    trainer.fit(model, loader)
    return model, trainer


def _gd_iterates(lr, steps, start=(1.0, 1.0)):
    theta = torch.tensor(start, dtype=torch.float64)
    out = [theta.numpy().copy()]
    for _ in range(steps):
        theta = theta - lr * (A @ theta)
        out.append(theta.numpy().copy())
    return np.array(out)


def test_records_every_iterate_of_gradient_descent(tmp_path, one_thread):
    cb = ParameterPath()
    _fit(tmp_path, cb, lr=0.1, steps=12, batches=5)  # 12 steps over 3 epochs: appended at epoch ends
    frame, summary = read_parameter_path(tmp_path)
    assert list(frame.columns) == ["step", "loss", "step_norm", "theta.0", "theta.1"]  # frozen: not recorded
    assert frame["step"].tolist() == list(range(13))
    expected = _gd_iterates(0.1, 12)
    np.testing.assert_allclose(path_array(frame), expected, rtol=1e-12)
    losses = 0.5 * np.einsum("ti,ij,tj->t", expected, A.numpy(), expected)
    np.testing.assert_allclose(frame["loss"].to_numpy()[:-1], losses[:-1], rtol=1e-12)
    assert np.isnan(frame["loss"].iloc[-1]) and np.isnan(frame["step_norm"].iloc[0])
    np.testing.assert_allclose(
        frame["step_norm"].to_numpy()[1:], np.linalg.norm(np.diff(expected, axis=0), axis=1)
    )
    assert summary == {**summary, "steps": 12, "converged": False, "diverged": False, "stopped_at_step": None}


def test_stops_when_the_step_norm_falls_below_the_tolerance(tmp_path, one_thread):
    cb = ParameterPath(stop_below=1e-3)
    _, trainer = _fit(tmp_path, cb, lr=0.1, steps=1000)
    expected = _gd_iterates(0.1, 200)
    norms = np.linalg.norm(np.diff(expected, axis=0), axis=1)
    first = int(np.argmax(norms < 1e-3)) + 1  # the first step t with ||theta_t - theta_{t-1}|| < tol
    assert trainer.global_step == first and cb.stopped_at_step == first and cb.converged
    frame, summary = read_parameter_path(tmp_path)
    assert len(frame) == first + 1 and summary["converged"] and summary["last_step_norm"] < 1e-3


def test_stops_and_records_divergence(tmp_path, one_thread):
    cb = ParameterPath()
    _, trainer = _fit(tmp_path, cb, lr=2.0, steps=5000)  # |1 - 2 * 2| = 3 > 1: the iterates blow up
    assert cb.diverged and trainer.global_step < 5000 and cb.stopped_at_step == trainer.global_step
    assert json.loads((tmp_path / "parameter_path.json").read_text())["diverged"]


def test_named_parameters_and_bad_names(tmp_path, one_thread):
    cb = ParameterPath(parameters=["theta"])
    _fit(tmp_path, cb, steps=3)
    assert cb.columns == ["theta.0", "theta.1"]
    with pytest.raises(ValueError, match="no parameter named nope"):
        _fit(tmp_path, ParameterPath(parameters=["nope"]), steps=1)
    with pytest.raises(ValueError, match="stop_below"):
        ParameterPath(stop_below=-1.0)


def test_in_a_stored_run_of_linear_regression(tmp_path, one_thread):
    cfg = store.compose(
        [
            "model=linear_regression",
            "data=boston",
            "data.features=[rm]",
            "optimizer=sgd",
            "optimizer.lr=0.01",
            "callbacks=parameter_path",
            "callbacks.parameter_path.stop_below=1e-4",
            "trainer.max_epochs=3",
            "logger=none",
            f"store.root={tmp_path}",
        ]
    )
    result = execute(cfg)
    frame, summary = read_parameter_path(result.dir)
    assert result.status == "finished" and summary["steps"] == result.summary["global_step"]
    assert len(frame) == summary["steps"] + 1 and path_array(frame).shape[1] == 2  # slope and intercept


def test_a_resumed_run_keeps_the_rows_its_checkpoint_holds(tmp_path, one_thread):
    def fit(root, epochs, ckpt=None):
        loader = DataLoader(TensorDataset(torch.zeros(5, 1)), batch_size=1)
        trainer = L.Trainer(
            max_epochs=epochs,
            default_root_dir=root,
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            callbacks=[ParameterPath()],
        )
        trainer.fit(Quadratic(0.1), loader, ckpt_path=ckpt)
        return trainer

    whole = tmp_path / "whole"
    fit(whole, 4)
    parts = tmp_path / "parts"
    first = fit(parts, 2)
    checkpoint = first.checkpoint_callback.best_model_path  # after epoch 2: 10 steps
    (parts / "parameter_path.csv").write_text(  # a crash after 3 more steps left extra rows behind
        (parts / "parameter_path.csv").read_text() + "11,0.1,0.1,9,9\n12,0.1,0.1,9,9\n13,0.1,0.1,9,9\n"
    )
    fit(parts, 4, ckpt=checkpoint)
    resumed, _ = read_parameter_path(parts)
    expected, _ = read_parameter_path(whole)
    assert resumed["step"].tolist() == list(range(21))
    np.testing.assert_allclose(path_array(resumed), path_array(expected), rtol=1e-12)
    np.testing.assert_allclose(resumed["loss"].to_numpy()[:-1], expected["loss"].to_numpy()[:-1], rtol=1e-12)
