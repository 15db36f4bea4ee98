"""abl-residual at the smallest scale: its sweep, claims, values and figure."""

from mde_exp import sweep
from mde_exp.recipes import load_recipes
from mde_exp.store import compose

from .conftest import reproduce_at_smallest_scale

RID = "abl-residual"


def test_sweep_expands_to_plain_and_residual_nets_of_three_depths():
    cfg = compose(["+experiment=residual_sweep"], return_hydra_config=True)
    jobs = sweep.expand([], sweep.sweep_params(cfg.hydra))
    assert {tuple(j) for j in jobs} == {
        (f"model.blocks_per_stage={b}", f"model.residual={r}") for b in (1, 3, 6) for r in ("False", "True")
    }
    cfg = compose(["+experiment=residual_sweep", "model.residual=false", "model.blocks_per_stage=6"])
    assert cfg.model._target_ == "mde_exp.models.resnet.ResNet" and cfg.model.residual is False
    assert (
        cfg.norm.kind == "batch"
        and cfg.optimizer._target_ == "torch.optim.SGD"
        and cfg.optimizer.momentum == 0.9
    )
    assert cfg.data._target_.endswith("DigitsDataModule") and cfg.figure_id == RID
    recipe = load_recipes()[RID]
    assert recipe.chapter == 6 and recipe.book_ref == "Section 6.4 (ResNet)"


def test_abl_residual_at_the_smallest_scale(tmp_path, one_thread):
    record = reproduce_at_smallest_scale(tmp_path, [RID])[RID]
    assert all(claim["book_value"] is None for claim in record["claims"])
    values = record["values"]
    shallow, deep = values["depths"][0], values["depths"][-1]
    assert (shallow, deep) == (8, 38)
    error = values["train_error"]
    # degradation: the deep plain net trains far worse than the shallow one; the residual net does not
    assert error["plain"][f"{deep}"] > error["plain"][f"{shallow}"] + 0.1
    assert error["residual"][f"{deep}"] < error["residual"][f"{shallow}"] + 0.05 < error["plain"][f"{deep}"]
    area = values["mean_train_error_over_epochs"]
    assert area["residual"][f"{deep}"] < area["plain"][f"{deep}"]
    assert values["test_acc"]["residual"][f"{deep}"] > values["test_acc"]["plain"][f"{deep}"]
    # the same layers: the plain net lacks only the two projection shortcuts (1x1 conv + batch norm)
    params = values["parameters"]
    for d in (shallow, deep):
        assert params["residual"][f"{d}"] - params["plain"][f"{d}"] == (8 * 16 + 2 * 16) + (16 * 32 + 2 * 32)
    assert len(record["runs"]) == 4
