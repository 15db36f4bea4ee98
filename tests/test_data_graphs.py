"""Graph data sets (karate club, Cora from generated Planetoid files) and the GCN trained on them."""

import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch_geometric.data import Data

from mde_exp import store
from mde_exp.data.graphs import PLANETOID_PARTS, CoraDataModule, KarateClubDataModule
from mde_exp.errors import ConfigError, CorruptDataError, DataNotFoundError
from mde_exp.models.gnn import GCN
from mde_exp.run import execute
from mde_exp.validate import check_config

# A tiny graph in the Planetoid layout: 6 labelled training rows (x, y), 510 rows in allx/ally (the
# reader takes the 500 after the training rows as validation nodes), 10 test rows (tx, ty) whose node
# ids, 510..519, are listed shuffled in test.index; 5 features, 3 classes.
N_TRAIN, N_ALL, N_TEST, N_FEATURES, N_CLASSES = 6, 510, 10, 5, 3


def _one_hot(labels: np.ndarray) -> np.ndarray:
    return np.eye(N_CLASSES, dtype=np.int64)[labels]


def write_planetoid(folder: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """Write ind.cora.* as Planetoid stores them: pickled scipy CSR features, numpy one-hot labels,
    a pickled dict of adjacency lists and a text file of test node ids. Returns the truth."""
    rng = np.random.default_rng(seed)
    nodes = N_ALL + N_TEST
    features = (rng.random((nodes, N_FEATURES)) < 0.5).astype(np.float32)
    features[:, 0] = 1.0  # no empty rows
    labels = rng.integers(0, N_CLASSES, nodes)
    test_index = rng.permutation(np.arange(N_ALL, nodes))
    ring = {i: [(i - 1) % nodes, (i + 1) % nodes] for i in range(nodes)}
    tx, ty = features[test_index], labels[test_index]  # row j of tx is node test_index[j]
    parts = {
        "x": sp.csr_matrix(features[:N_TRAIN]),
        "tx": sp.csr_matrix(tx),
        "allx": sp.csr_matrix(features[:N_ALL]),
        "y": _one_hot(labels[:N_TRAIN]),
        "ty": _one_hot(ty),
        "ally": _one_hot(labels[:N_ALL]),
        "graph": ring,
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, value in parts.items():
        with open(folder / f"ind.cora.{name}", "wb") as f:
            pickle.dump(value, f)
    (folder / "ind.cora.test.index").write_text("".join(f"{i}\n" for i in test_index))
    return {"features": features, "labels": labels, "test_index": test_index}


@pytest.fixture
def cora_dir(tmp_path: Path) -> Path:
    write_planetoid(tmp_path / "cora" / "raw")
    return tmp_path / "cora"


# -- karate club -------------------------------------------------------------------------------------
def test_karate_shapes_labels_and_masks():
    dm = KarateClubDataModule()
    assert dm.task == "node_classification"
    dm.check_available()
    assert dm.model_inputs() == {"num_features": 34, "num_classes": 4}
    data = dm.data
    assert data.x.shape == (34, 34) and data.x.dtype == torch.float32
    assert data.edge_index.shape == (2, 156) and data.edge_index.dtype == torch.long
    assert data.y.dtype == torch.long and data.y.min() == 0 and data.y.max() == 3
    masks = torch.stack([data.train_mask, data.val_mask, data.test_mask])
    assert masks.dtype == torch.bool
    assert dm.sizes() == {"train": 4, "val": 15, "train_eval": 4, "test": 15, "nodes": 34}
    assert (masks.sum(0) == 1).all()  # disjoint, and every node in one of them
    assert sorted(data.y[data.train_mask].tolist()) == [0, 1, 2, 3]  # one labelled node per class


def test_karate_split_is_seeded():
    def val_nodes(**kwargs) -> list[int]:
        dm = KarateClubDataModule(**kwargs)
        dm.setup()
        return dm.data.val_mask.nonzero().view(-1).tolist()

    assert val_nodes(split_seed=3) == val_nodes(split_seed=3)
    assert val_nodes(split_seed=3) != val_nodes(split_seed=4)
    assert len(val_nodes(val_size=10)) == 10
    with pytest.raises(ValueError, match="val_size"):
        KarateClubDataModule(val_size=30)


def test_loaders_give_the_whole_graph_as_one_batch():
    dm = KarateClubDataModule()
    dm.setup()
    (batch,) = list(dm.train_dataloader())
    assert isinstance(batch, Data) and batch.num_nodes == 34
    val, train_eval = dm.val_dataloader()
    assert len(val) == len(train_eval) == len(dm.test_dataloader()) == 1


def test_gcn_logits_and_embedding():
    dm = KarateClubDataModule()
    dm.setup()
    model = GCN(num_features=34, num_classes=4, hidden_sizes=[8, 2], feature_dropout=0.5)
    assert model(dm.data.x, dm.data.edge_index).shape == (34, 4)
    embedding = model.embed(dm.data)
    assert embedding.shape == (34, 2) and not embedding.requires_grad
    assert model.training  # embed computes in eval mode and gives the mode back
    torch.testing.assert_close(model.embed(dm.data), embedding)  # no dropout in the embedding


def test_gcn_trains_on_karate_end_to_end(tmp_path, one_thread):
    overrides = ["data=karate", "model=gcn", "trainer.max_epochs=50", "logger=none", "optimizer.lr=0.01"]
    result = execute(store.compose([*overrides, f"store.root={tmp_path}"]))
    assert result.status == "finished"
    assert result.metrics["train_eval/acc"] == 1.0  # the four labelled members, scored without dropout
    assert {"val/acc", "test/acc", "train/acc"} <= set(result.metrics)
    curves = store.read_epoch_metrics(result.dir)
    assert len(curves) == 50 and curves["train/loss"].iloc[-1] < curves["train/loss"].iloc[0]


def test_models_and_data_must_fit():
    with pytest.raises(ConfigError, match="num_features"):
        check_config(store.compose(["data=digits", "model=gcn"]))
    with pytest.raises(ConfigError, match="input_dim"):
        check_config(store.compose(["data=karate", "model=mlp"]))


# -- Cora from Planetoid files ---------------------------------------------------------------------
def test_cora_is_read_from_planetoid_files(tmp_path):
    truth = write_planetoid(tmp_path / "cora" / "raw")
    dm = CoraDataModule(data_dir=str(tmp_path / "cora"), normalize_features=False)
    dm.check_available()
    assert dm.model_inputs() == {"num_features": N_FEATURES, "num_classes": N_CLASSES}
    data = dm.data
    nodes = N_ALL + N_TEST
    assert data.num_nodes == nodes and data.x.dtype == torch.float32 and data.y.dtype == torch.long
    torch.testing.assert_close(data.x, torch.as_tensor(truth["features"]))  # test rows back in place
    assert data.y.tolist() == truth["labels"].tolist()
    assert data.edge_index.shape == (2, 2 * nodes)  # the ring, both directions
    assert dm.sizes() == {"train": N_TRAIN, "val": 500, "train_eval": N_TRAIN, "test": N_TEST, "nodes": nodes}
    assert data.train_mask[:N_TRAIN].all() and data.val_mask[N_TRAIN : N_TRAIN + 500].all()
    assert data.test_mask[N_ALL:].all()
    assert not (data.train_mask & data.val_mask).any() and not (data.val_mask & data.test_mask).any()
    assert sorted(p.name for p in (tmp_path / "cora").iterdir()) == ["raw"]  # nothing written there


def test_cora_features_are_row_normalised(cora_dir):
    dm = CoraDataModule(data_dir=str(cora_dir))
    dm.setup()
    torch.testing.assert_close(dm.data.x.sum(1), torch.ones(N_ALL + N_TEST))


def test_missing_cora_files_are_named_with_their_folder_and_source(cora_dir, tmp_path):
    for part in ("graph", "test.index"):
        (cora_dir / "raw" / f"ind.cora.{part}").unlink()
    dm = CoraDataModule(data_dir=str(cora_dir))
    with pytest.raises(DataNotFoundError) as err:
        dm.check_available()
    message = str(err.value)
    assert "ind.cora.graph, ind.cora.test.index" in message and "ind.cora.x," not in message
    assert str((cora_dir / "raw").resolve()) in message and "kimiyoung/planetoid" in message
    assert "\n" not in message
    with pytest.raises(DataNotFoundError):
        dm.setup()  # never a download
    with pytest.raises(DataNotFoundError, match="ind.cora.allx"):
        check_config(store.compose(["data=cora", "model=gcn", f"data.data_dir={tmp_path / 'nowhere'}"]))
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("part", PLANETOID_PARTS)
def test_a_truncated_cora_file_is_named(cora_dir, part):
    path = cora_dir / "raw" / f"ind.cora.{part}"
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 3] if part != "test.index" else b"510\nfive hundred\n")
    with pytest.raises(CorruptDataError, match=re.escape(f"ind.cora.{part}")):
        CoraDataModule(data_dir=str(cora_dir)).setup()


def test_cora_files_that_do_not_fit_together_are_named(cora_dir):
    with open(cora_dir / "raw" / "ind.cora.ty", "wb") as f:
        pickle.dump(_one_hot(np.zeros(N_TEST + 1, dtype=np.int64)), f)
    with pytest.raises(CorruptDataError, match="ind.cora.ty"):
        CoraDataModule(data_dir=str(cora_dir)).setup()


def test_gcn_runs_on_cora_files(cora_dir, tmp_path, one_thread):
    overrides = ["data=cora", "model=gcn", "trainer.max_epochs=3", "logger=none", f"data.data_dir={cora_dir}"]
    result = execute(store.compose([*overrides, f"store.root={tmp_path / 'runs'}"]))
    assert result.status == "finished" and 0.0 <= result.metrics["test/acc"] <= 1.0
