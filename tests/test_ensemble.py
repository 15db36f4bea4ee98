"""Vectorised ensembles (mde_exp.ensemble): each member is stored as the run it would be if trained alone.

Tolerance: members and separate runs do the same float32 arithmetic except that vmap batches the
matrix products (another summation order, ~1e-7 relative per operation); over the few dozen steps here
that stays below 1e-5, while a wrong batch, seed, initialisation or learning rate moves losses and
weights by more than 1e-2.
"""

from pathlib import Path

import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from mde_exp import checkpoints, ensemble, store
from mde_exp.errors import ConfigError
from mde_exp.run import execute
from mde_exp.validate import check_config
from tests.conftest import run_cli

TOL = 1e-5
SMALL = ["data=digits", "model.hidden_sizes=[32,16]", "trainer=cpu", "profile.max_epochs=2", "logger=none"]


def _compose(root: Path, *overrides: str):
    base = [
        a for a in SMALL if not (a.startswith("model.") and any(o.startswith("model=") for o in overrides))
    ]
    return store.compose([*base, f"store.root={root}", *overrides])


def _member_overrides(directory: Path, vary: str | None) -> list[str]:
    cfg = OmegaConf.load(directory / "config.yaml")
    extra = [f"{vary}={OmegaConf.select(cfg, vary)}"] if vary else []
    return [f"seed={cfg.seed}", *extra]


def _assert_same_run(member: Path, plain: Path) -> None:
    a, b = pd.read_csv(member / "metrics.csv"), pd.read_csv(plain / "metrics.csv")
    assert list(a.columns) == list(b.columns)
    assert a[["epoch", "step"]].equals(b[["epoch", "step"]])
    values = [c for c in a.columns if c not in ("epoch", "step")]
    assert a[values].isna().equals(b[values].isna())
    assert (a[values] - b[values]).abs().max().max() < TOL
    configs = [OmegaConf.load(d / "config.yaml") for d in (member, plain)]
    configs[0].store.root = configs[1].store.root  # the two stores' folders differ, nothing else
    assert configs[0] == configs[1]
    assert (member / "hparams.yaml").read_text() == (plain / "hparams.yaml").read_text()
    sa, sb = store.read_summary(member), store.read_summary(plain)
    assert sa["status"] == sb["status"] == "finished"
    assert set(sb) <= set(sa) and sa["epochs"] == sb["epochs"] and sa["global_step"] == sb["global_step"]
    assert sa["metrics"].keys() == sb["metrics"].keys()
    assert all(abs(sa["metrics"][k] - sb["metrics"][k]) < TOL for k in sb["metrics"])
    ma, mb = store.load_model(member), store.load_model(plain)
    assert type(ma) is type(mb)
    for (name, ta), tb in zip(ma.state_dict().items(), mb.state_dict().values(), strict=True):
        assert torch.allclose(ta.float(), tb.float(), atol=TOL), name


@pytest.mark.parametrize(
    ("overrides", "vary"),
    [
        (["ensemble.size=3"], None),  # seeds 0, 1, 2, Adam
        # Batch-norm statistics per member. With SGD: under Adam the bias before a batch norm, whose true
        # gradient is zero, takes lr-sized steps on rounding noise (Adam divides by the gradient's own
        # scale), so its value and the running means, which separate runs agree on only to that noise,
        # differ by ~lr * steps; the training losses still agree to 1e-6.
        (["ensemble.size=3", "norm=batch", "optimizer=momentum"], None),
        (
            ["ensemble.size=3", "ensemble.vary=optimizer.lr", "ensemble.values=[0.001,0.003,0.01]"],
            "optimizer.lr",
        ),
    ],
    ids=["seeds-adam", "seeds-batchnorm-momentum", "lr-adam"],
)
def test_members_are_the_runs_trained_alone(tmp_path, one_thread, overrides, vary):
    results = ensemble.execute_ensemble(_compose(tmp_path / "a", *overrides))
    assert len(results) == 3 and all(r.status == "finished" and not r.skipped for r in results)
    assert len({r.dir for r in results}) == 3
    for r in results:
        member_args = _member_overrides(r.dir, vary)
        # The same configuration run plainly in the same store is found finished and skipped ...
        plain = [o for o in overrides if not o.startswith("ensemble.")]
        again = execute(_compose(tmp_path / "a", *plain, *member_args))
        assert again.skipped and again.dir == r.dir
        # ... and trained alone in another store it gives the same metrics, checkpoint and files.
        alone = execute(_compose(tmp_path / "b", *plain, *member_args))
        assert alone.dir.name == r.dir.name
        _assert_same_run(r.dir, alone.dir)
        assert checkpoints.choose_resume(r.dir / "checkpoints") is not None  # resumable, like Lightning's
    # Asked again, the whole ensemble is read back from the store.
    assert all(r.skipped for r in ensemble.execute_ensemble(_compose(tmp_path / "a", *overrides)))


def test_dropout_masks_differ_per_member():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(20, 400), nn.Dropout(0.5))
    vec = ensemble.VectorisedModel([net, net])  # two members with the very same weights
    x = torch.randn(2, 8, 20)
    x[1] = x[0]
    train, evaluate = vec(x, train=True), vec(x, train=False)
    assert torch.equal(evaluate[0], evaluate[1])
    kept = train != 0
    assert (kept[0] != kept[1]).float().mean() > 0.3  # independent masks disagree on half the units
    assert abs(kept.float().mean().item() - 0.5) < 0.05
    assert torch.allclose(train[kept], 2 * evaluate[kept])  # inverted dropout, scaled by 1 / (1 - p)


def test_dropout_members_match_separate_runs_in_distribution(tmp_path, one_thread):
    """With dropout the masks differ from a separate run's, so members match in distribution: same start,
    same batches, final validation accuracy within a few points, but not identical losses."""
    overrides = ["ensemble.size=2", "dropout=0.3", "profile.max_epochs=6", "optimizer.lr=0.01"]
    results = ensemble.execute_ensemble(_compose(tmp_path / "a", *overrides))
    for r in results:
        alone = execute(_compose(tmp_path / "b", *overrides[1:], f"seed={r.summary['seed']}"))
        a, b = store.read_summary(r.dir)["metrics"], store.read_summary(alone.dir)["metrics"]
        assert abs(a["val/acc"] - b["val/acc"]) < 0.05  # 8 seeds: 0.864 ± 0.014 vs 0.871 ± 0.039
        assert a["train/loss"] != b["train/loss"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model=lenet5"], "cannot be trained as a vectorised ensemble"),
        (["optimizer=lbfgs"], "updates each tensor on its own"),
        (["callbacks=early_stopping"], "runs no callbacks"),
        (["ensemble.vary=dropout", "ensemble.values=[0.1,0.2]"], "share one architecture"),
        (["ensemble.seeds=[3,3]"], "must differ"),
    ],
)
def test_refused_before_training(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        ensemble.execute_ensemble(_compose(tmp_path, "ensemble.size=2", *overrides))
    assert not (tmp_path / "default").exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["ensemble.size=0"], "ensemble.size=0"),
        (["ensemble.size=2", "ensemble.seeds=[1]"], "one per member"),
        (["ensemble.size=2", "ensemble.vary=optimizer.lr"], "go together"),
        (["ensemble.size=2", "ensemble.vary=seed", "ensemble.values=[1,2]"], "ensemble.vary=seed"),
        (["ensemble.size=2", "ensemble.vary=optimizer.lr", "ensemble.values=[0.1]"], "1 values"),
    ],
)
def test_ensemble_settings_checked(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        check_config(_compose(tmp_path, *overrides))


def test_plain_execute_refuses_an_ensemble(tmp_path):
    with pytest.raises(ConfigError, match="execute_ensemble"):
        execute(_compose(tmp_path, "ensemble.size=2"))


def test_member_configs_hash_as_plain_runs(tmp_path):
    cfg = _compose(tmp_path, "ensemble.size=2", "ensemble.seeds=[5,9]")
    members = ensemble.member_configs(cfg)
    assert [m.seed for m in members] == [5, 9]
    assert [store.run_dir(m) for m in members] == [
        store.run_dir(_compose(tmp_path, f"seed={s}")) for s in (5, 9)
    ]


def test_cli_trains_an_ensemble_with_wandb_offline(tmp_path):
    args = [a for a in SMALL if a != "logger=none"] + ["profile.max_epochs=1", "ensemble.size=2"]
    done = run_cli([*args, f"store.root={tmp_path}"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    runs = sorted((tmp_path / "default").iterdir())
    assert [r.name.rsplit("-", 1)[1] for r in runs] == ["seed0", "seed1"]
    for r in runs:
        summary = store.read_summary(r)
        assert summary["status"] == "finished" and summary["wandb"]["mode"] == "offline"
        assert list((r / "wandb").glob("offline-run-*"))
    assert (done.stdout + done.stderr).count(": finished, test accuracy") == 2
