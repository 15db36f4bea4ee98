"""gnn-karate at the smallest scale: its sweep, claims, values and figure (book section 8.5)."""

import numpy as np

from mde_exp import sweep
from mde_exp.recipes import load_recipes
from mde_exp.store import compose

from .conftest import reproduce_at_smallest_scale

RID = "gnn-karate"


def test_sweep_expands_to_gcn_message_passing_and_mlp_layers():
    cfg = compose(["+experiment=gnn_karate"], return_hydra_config=True)
    jobs = sweep.expand([], sweep.sweep_params(cfg.hydra))
    assert jobs == [["model.layer=gcnconv"], ["model.layer=message_passing"], ["model.layer=linear"]]
    cfg = compose(["+experiment=gnn_karate", "model.layer=message_passing"])
    assert cfg.model._target_ == "mde_exp.models.gnn.GCN" and cfg.model.aggregation == "mean"
    assert list(cfg.model.hidden_sizes) == [16, 2] and cfg.model.feature_dropout == 0.0
    assert cfg.data._target_.endswith("KarateClubDataModule") and cfg.figure_id == RID
    recipe = load_recipes()[RID]
    assert recipe.chapter == 8 and recipe.book_ref.startswith("Section 8.5")


def test_gnn_karate_at_the_smallest_scale(tmp_path, one_thread):
    record = reproduce_at_smallest_scale(tmp_path, [RID])[RID]
    values = record["values"]
    acc = values["test_acc"]
    assert set(acc) == {"gcnconv", "message_passing", "linear"}
    assert all(0.0 <= a <= 1.0 for a in acc.values())
    # the graph helps: GCN well above the MLP that ignores the edges, which is near chance
    assert acc["gcnconv"] >= acc["linear"] + 0.2
    assert acc["gcnconv"] > values["majority_test_acc"]
    assert values["nodes"] == {"train": 4, "val": 15, "test": 15}
    for layer, each in values["test_acc_each_seed"].items():
        assert np.isclose(np.mean(each), acc[layer])
    assert len(record["runs"]) == 3 * len(values["seeds"])
