"""abl-init at the smallest scale, and the LayerStatistics callback (its numbers, file, resume and W&B)."""

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from lightning.pytorch.loggers import WandbLogger
from torch import nn

from mde_exp import store
from mde_exp.layer_statistics import (
    COLUMNS,
    FILENAME,
    LayerStatistics,
    compute_layer_statistics,
    read_layer_stats,
)
from mde_exp.reproduce import main
from mde_exp.run import execute


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))


def test_statistics_match_a_hand_computation_and_leave_training_state_alone():
    net = _net().train()
    x, y = torch.randn(8, 5), torch.tensor([0, 1] * 4)
    rng = torch.get_rng_state()
    stats, samples, names, shapes = compute_layer_statistics(net, (x, y))
    assert torch.equal(torch.get_rng_state(), rng) and net.training
    assert all(p.grad is None for p in net.parameters())
    assert names == ["0", "2", "4"] and shapes == [(5, 4), (4, 3), (3, 2)] and samples == {}

    z1 = net[0](x)
    h1 = torch.tanh(z1)
    z2 = net[2](h1)
    h2 = torch.relu(z2)
    z3 = net[4](h2)
    loss = F.cross_entropy(z3, y)
    grads = torch.autograd.grad(loss, [net[0].weight, net[2].weight, net[4].weight, z1, z2, z3])

    def close(a, b) -> bool:
        return math.isclose(float(a), float(torch.as_tensor(b).detach()), rel_tol=1e-5, abs_tol=1e-7)

    for i, (z, h) in enumerate([(z1, h1), (z2, h2), (z3, None)]):
        assert close(stats["pre_std"][i], z.std(unbiased=False))
        assert close(stats["pre_mean"][i], z.mean())
        assert close(stats["weight_grad_std"][i], grads[i].std(unbiased=False))
        assert close(stats["out_grad_std"][i], grads[3 + i].std(unbiased=False))
        assert close(stats["batch_loss"][i], loss)
        if h is None:
            assert math.isnan(stats["post_std"][i]) and math.isnan(stats["post_zero"][i])
        else:
            assert close(stats["post_std"][i], h.std(unbiased=False))
    assert close(stats["post_zero"][1], (h2 == 0).float().mean())
    assert close(stats["weight_unit_spread"][0], net[0].weight.std(dim=0, unbiased=False).mean())


def test_zero_weights_give_identical_units_and_no_hidden_gradient():
    net = _net()
    for m in net:
        if isinstance(m, nn.Linear):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)
    stats, *_ = compute_layer_statistics(net, (torch.randn(8, 5), torch.tensor([0, 1] * 4)))
    assert float(stats["pre_unit_spread"][:2].abs().max()) == 0.0
    assert float(stats["weight_unit_spread"].abs().max()) == 0.0
    assert float(stats["out_grad_std"][0]) == 0.0 and float(stats["out_grad_std"][2]) > 0


def test_callback_writes_rows_at_init_and_every_epoch_and_keeps_them_on_resume(tmp_path, one_thread):
    cfg = store.compose(
        [
            "data=digits",
            "callbacks=layer_statistics",
            "callbacks.layer_statistics.every_n_epochs=2",
            "trainer.max_epochs=3",
            "logger=none",
            f"store.root={tmp_path}",
        ]
    )
    result = execute(cfg)
    stats = read_layer_stats(result.dir)
    assert list(stats.columns) == list(COLUMNS)
    # Epoch 0 (initialisation), 2 (every 2nd epoch) and 3 (the last), each with all 3 linear layers.
    assert stats.groupby("epoch").size().to_dict() == {0: 3, 2: 3, 3: 3}
    assert stats[stats.epoch == 0].global_step.eq(0).all()
    assert stats.name.tolist()[:3] == ["net.1", "net.4", "net.7"]
    assert stats.fan_in.tolist()[:3] == [64, 128, 64]
    assert stats.batch_loss.iloc[-1] < stats.batch_loss.iloc[0]

    # A resumed run at epoch 2 keeps the rows up to epoch 2 and drops later ones.
    callback = LayerStatistics()
    trainer = SimpleNamespace(default_root_dir=str(result.dir), current_epoch=2, global_step=20)
    callback.on_train_start(trainer, None)
    kept = pd.read_csv(Path(result.dir) / FILENAME)
    assert sorted(set(kept.epoch)) == [0, 2] and len(kept) == 6


def test_histograms_go_to_wandb_only_when_a_wandb_logger_is_there(tmp_path, monkeypatch):
    logged: list[dict] = []
    monkeypatch.setattr(WandbLogger, "experiment", property(lambda self: SimpleNamespace(log=logged.append)))
    net = _net()
    callback = LayerStatistics(batch_size=4)
    callback.path = tmp_path / FILENAME
    callback._batch = (torch.randn(6, 5)[:4], torch.tensor([0, 1, 0, 1]))
    trainer = SimpleNamespace(loggers=[], global_step=0)
    callback.record(trainer, net, epoch=0)
    assert logged == [] and len(pd.read_csv(callback.path)) == 3
    trainer.loggers = [WandbLogger(offline=True, save_dir=str(tmp_path))]
    callback.record(trainer, net, epoch=1)
    (data,) = logged
    assert data["layer_stats/epoch"] == 1 and data["trainer/global_step"] == 0
    kinds = {k.rsplit("/", 1)[1] for k in data if k.count("/") == 2}
    assert kinds == {"pre", "post", "out_grad", "weight_grad"}
    assert "layer_stats/4/post" not in data  # the output layer has no post-activation
    assert type(data["layer_stats/0/pre"]).__name__ == "Histogram"
    assert sorted(set(pd.read_csv(callback.path).epoch)) == [0, 1]


def test_callbacks_option_and_bad_arguments():
    cfg = store.compose(["callbacks=layer_statistics"])
    (callback,) = [instantiate(spec) for spec in cfg.callbacks.values()]
    assert isinstance(callback, LayerStatistics) and callback.every_n_epochs == 1
    for bad in ({"every_n_epochs": -1}, {"batch_size": 0}, {"split": "test"}):
        with pytest.raises(ValueError):
            LayerStatistics(**bad)


def test_init_sweep_lists_the_five_schemes_with_both_activations():
    from mde_exp import sweep

    base = store.compose(["+experiment=init_sweep"], return_hydra_config=True)
    jobs = sweep.expand(["+experiment=init_sweep"], sweep.sweep_params(base.hydra))
    inits = {}
    for job in jobs:
        cfg = store.compose(job)
        inits[(cfg.init_case, cfg.model.activation)] = dict(cfg.model.init)
        assert "layer_statistics" in cfg.callbacks
    assert len(jobs) == 10 and {a for _, a in inits} == {"tanh", "relu"}
    assert inits[("small_normal", "tanh")] == {"scheme": "normal", "std": 0.01}
    assert inits[("large_normal", "relu")] == {"scheme": "normal", "std": 1.0}
    assert inits[("he", "relu")] == {"scheme": "kaiming_normal"}
    assert inits[("xavier", "tanh")] == {"scheme": "xavier_normal"}
    assert inits[("zeros", "tanh")] == {"scheme": "zeros"}


def test_abl_init_at_the_smallest_scale(tmp_path, one_thread):
    out = tmp_path / "figures"
    code = main(
        [
            "--profile",
            "tiny",
            "--only",
            "abl-init",
            "--out",
            str(out),
            "logger=none",
            f"store.root={tmp_path / 'runs'}",
        ]
    )
    assert code == 0
    record = json.loads((out / "abl-init.json").read_text())
    assert record["status"] == "pass" and len(record["claims"]) == 6
    assert all(claim["passed"] for claim in record["claims"])
    values = record["values"]
    assert len(record["runs"]) == 10 and values["epochs"] == 5
    assert values["activation_ratio_last_first"]["small_normal tanh"] < 1e-3
    assert values["activation_ratio_last_first"]["large_normal relu"] > 100
    assert 0.5 <= values["activation_ratio_last_first"]["he relu"] <= 2
    assert values["tanh_saturated"]["large_normal"] > 0.5
    assert abs(values["final_train_loss"]["zeros tanh"] - math.log(10)) < 0.02
    assert values["final_train_loss"]["xavier tanh"] < 1.0
    assert (out / "abl-init.png").stat().st_size > 10_000 and (out / "abl-init.pdf").is_file()
    for run in record["runs"]:
        assert (Path(run) / FILENAME).is_file()
