"""abl-batchnorm and abl-width-depth at the smallest scale: their sweeps, claims, values and figures."""

from mde_exp import sweep
from mde_exp.recipes import load_recipes
from mde_exp.store import compose

from .conftest import reproduce_at_smallest_scale

IDS = ("abl-batchnorm", "abl-width-depth")


def _jobs(experiment: str) -> list[list[str]]:
    cfg = compose([f"+experiment={experiment}"], return_hydra_config=True)
    return sweep.expand([], sweep.sweep_params(cfg.hydra))


def test_sweeps_expand_to_the_ablation_grids():
    bn = _jobs("batchnorm_sweep")
    assert len(bn) == 10
    assert {(j[0], j[1]) for j in bn} == {
        (f"norm={n}", f"optimizer.lr={lr}")
        for n in ("none", "batch")
        for lr in ("0.01", "0.1", "1.0", "3.0", "10.0")
    }
    wd = _jobs("width_depth_sweep")
    sizes = [j[0].split("=", 1)[1] for j in wd]
    assert len(sizes) == 9 and sizes[0] == "[16]" and sizes[-1] == "[256,256,256]"
    cfg = compose(["+experiment=width_depth_sweep", "model.hidden_sizes=[64,64]"])
    assert list(cfg.model.hidden_sizes) == [64, 64] and cfg.optimizer._target_ == "torch.optim.RMSprop"
    assert cfg.figure_id == "abl-width-depth" and cfg.experiment == "width_depth_sweep"
    cfg = compose(["+experiment=batchnorm_sweep", "norm=batch"])
    assert cfg.norm.kind == "batch" and cfg.optimizer._target_ == "torch.optim.SGD"
    assert list(cfg.model.hidden_sizes) == [128, 64] and cfg.figure_id == "abl-batchnorm"


def test_recipes_are_registered():
    recipes = load_recipes()
    for rid in IDS:
        assert rid in recipes and recipes[rid].chapter == 5 and recipes[rid].book_ref.startswith("Section 5.")


def test_abl_batchnorm_and_width_depth_at_the_smallest_scale(tmp_path, one_thread):
    records = reproduce_at_smallest_scale(tmp_path, IDS)
    for record in records.values():
        for claim in record["claims"]:
            assert claim["book_value"] is None  # course values only in the full profile

    bn = records["abl-batchnorm"]["values"]
    assert bn["learning_rates"] == [0.1, 1.0, 3.0]  # the tiny profile's subset of the sweep
    assert bn["largest_trainable_lr"]["batch"] > bn["largest_trainable_lr"]["none"]
    assert bn["final_val_acc"]["batch"]["3"] > 0.5 > bn["final_val_acc"]["none"]["3"]
    assert all(r < 0.8 for r in bn["early_loss_ratio"].values())
    assert set(bn["adam_test_acc"]) == {"none", "batch"}
    assert len(records["abl-batchnorm"]["runs"]) == 3 * 2 + 2  # the sweep and the Adam pair

    wd = records["abl-width-depth"]["values"]
    assert wd["depths"] == [1, 2, 3] and wd["widths"] == [16, 64, 256]
    assert len(wd["test_acc"]) == len(wd["train_loss"]) == 9
    for d in (1, 2, 3):
        assert wd["train_loss"][f"{d}x16"] > wd["train_loss"][f"{d}x64"] > wd["train_loss"][f"{d}x256"]
    assert wd["test_acc"]["1x64"] > wd["test_acc"]["1x16"]
    assert len(records["abl-width-depth"]["runs"]) == 9
