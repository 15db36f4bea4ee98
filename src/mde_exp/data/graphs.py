"""Graph data sets for node classification: Zachary's karate club (embedded) and Cora (Planetoid files)."""

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from sklearn.model_selection import train_test_split
from torch_geometric.data import Data

from mde_exp.data.base import BookDataModule
from mde_exp.errors import CorruptDataError, DataNotFoundError

# The mask that each stage's loss and accuracy are computed on (see mde_exp.models.base.EVAL_STAGES).
STAGE_MASKS = {"train": "train_mask", "val": "val_mask", "train_eval": "train_mask", "test": "test_mask"}

# Graphs already read and split in this process, by data configuration: the check before a run, the
# run itself and the runs of a sweep read the files once.
_GRAPH_CACHE: dict[tuple, Data] = {}


class WholeGraph:
    """A loader of one batch: the whole graph, every epoch (full-graph training).

    Not a list on purpose: Lightning flattens lists of loaders, and would then iterate the `Data`
    object itself (its attributes) rather than hand it over as the batch.
    """

    def __init__(self, data: Data) -> None:
        self.data = data

    def __len__(self) -> int:
        return 1

    def __iter__(self) -> Iterator[Data]:
        yield self.data


class GraphDataModule(BookDataModule):
    """One graph whose nodes carry features `x`, labels `y` and boolean train/val/test masks.

    Every loader yields the whole graph as its single batch; the model computes on all nodes and
    scores the nodes of the stage's mask (STAGE_MASKS). `val_dataloader()` gives two loaders, the
    validation nodes and the training nodes (the latter scored in eval mode: "train_eval").
    Subclasses implement `load()`, returning the graph on the CPU with its three masks.
    `normalize_features` divides each node's features by their sum (Kipf & Welling's row
    normalisation of bag-of-words features); rows summing to zero are left as they are.
    """

    task = "node_classification"

    def __init__(self, normalize_features: bool = False) -> None:
        super().__init__()
        self.normalize_features = bool(normalize_features)
        self.data: Data | None = None

    # -- what subclasses provide -------------------------------------------------------------
    def load(self) -> Data:
        raise NotImplementedError

    def cache_key(self) -> tuple:
        """What identifies the graph `load()` returns (the data module's options, its files)."""
        return (type(self).__qualname__, self.normalize_features)

    # -- Lightning hooks ---------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        key = self.cache_key()
        if key not in _GRAPH_CACHE:
            data = self.load()
            if self.normalize_features:
                from torch_geometric.transforms import NormalizeFeatures

                data = NormalizeFeatures()(data)
            _GRAPH_CACHE[key] = data
        device = self.training_device()
        if self.data is None or self.data.x.device != device:
            # A shallow copy: moving it (Data.to works in place) leaves the cached graph on the CPU.
            self.data = copy.copy(_GRAPH_CACHE[key]).to(device)

    def _loader(self) -> WholeGraph:
        if self.data is None:
            self.setup()
        return WholeGraph(self.data)

    def train_dataloader(self) -> WholeGraph:
        return self._loader()

    def val_dataloader(self) -> list[WholeGraph]:
        return [self._loader(), self._loader()]

    def test_dataloader(self) -> WholeGraph:
        return self._loader()

    # -- what models need to know --------------------------------------------------------------
    def model_inputs(self) -> dict[str, Any]:
        self.setup()
        return {"num_features": int(self.data.num_features), "num_classes": int(self.data.y.max()) + 1}

    def sizes(self) -> dict[str, int]:
        """Number of nodes in each mask, and in the graph."""
        self.setup()
        sizes = {stage: int(self.data[mask].sum()) for stage, mask in STAGE_MASKS.items()}
        return {**sizes, "nodes": int(self.data.num_nodes)}


class KarateClubDataModule(GraphDataModule):
    """Zachary's karate club (PyTorch Geometric's KarateClub, embedded): 34 members, 78 friendships
    (156 directed edges), one-hot node features (34), and 4 communities as labels.

    PyG labels one member of each community for training (train_mask: nodes 0, 4, 8, 24). The other
    30 nodes are split by a seeded, stratified draw (scikit-learn's train_test_split with
    random_state=`split_seed`): `val_size` of them (a count >= 1, or a fraction in (0, 1)) become the
    validation nodes and the rest the test nodes.
    """

    def __init__(self, split_seed: int = 0, val_size: float = 0.5, normalize_features: bool = False) -> None:
        super().__init__(normalize_features)
        self.split_seed = int(split_seed)
        self.val_size = val_size
        n = self._val_count(30)
        if not 1 <= n < 30:
            raise ValueError(
                f"val_size={val_size}: give a count in 1..29 or a fraction in (0, 1) of the 30 unlabelled "
                "nodes, leaving at least one test node"
            )

    def _val_count(self, unlabelled: int) -> int:
        size = self.val_size
        return int(round(size * unlabelled)) if 0 < size < 1 else int(size)

    def cache_key(self) -> tuple:
        return (*super().cache_key(), self.split_seed, self._val_count(30))

    def load(self) -> Data:
        from torch_geometric.datasets import KarateClub

        data = KarateClub()[0]
        rest = (~data.train_mask).nonzero().view(-1).numpy()
        test, val = train_test_split(
            rest,
            test_size=self._val_count(len(rest)),
            random_state=self.split_seed,
            stratify=data.y[rest].numpy(),
        )
        data.val_mask = torch.zeros_like(data.train_mask)
        data.val_mask[torch.as_tensor(val)] = True
        data.test_mask = torch.zeros_like(data.train_mask)
        data.test_mask[torch.as_tensor(test)] = True
        return data


PLANETOID_PARTS = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")
PLANETOID_SOURCE = "https://github.com/kimiyoung/planetoid (folder data/)"


class CoraDataModule(GraphDataModule):
    """Cora citation graph (2,708 papers, 1,433 binary word features, 7 topics, 5,429 citations) from
    the original Planetoid files `ind.cora.{x,tx,allx,y,ty,ally,graph,test.index}`, with the standard
    Planetoid public split: 140 training nodes (20 per class), 500 validation nodes, 1,000 test nodes.

    The files go in `data_dir/raw/`, which is where PyTorch Geometric's `Planetoid(root, "cora")`
    keeps them when `data_dir` is `<root>/cora` (so a PyG data folder can be pointed at as it is).
    They are read by PyG's own reader (torch_geometric.io.read_planetoid_data), never through the
    Planetoid dataset class, so nothing is ever downloaded and nothing is written into `data_dir`.
    Missing files raise DataNotFoundError; a file that cannot be read, CorruptDataError naming it.
    The files are Python pickles (Planetoid's format): put only files from a source you trust there.
    """

    def __init__(self, data_dir: str = "data/cora", normalize_features: bool = True) -> None:
        super().__init__(normalize_features)
        self.data_dir = Path(data_dir)

    @property
    def raw_dir(self) -> Path:
        return self.data_dir / "raw"

    def files(self) -> list[Path]:
        return [self.raw_dir / f"ind.cora.{part}" for part in PLANETOID_PARTS]

    def check_available(self) -> None:
        missing = [path.name for path in self.files() if not path.is_file()]
        if missing:
            raise DataNotFoundError(
                f"Cora files missing in {self.raw_dir.resolve()}: {', '.join(missing)}; download them from "
                f"{PLANETOID_SOURCE} into that folder, or point data.data_dir (or the MDE_EXP_DATA folder) "
                "at the folder whose raw/ holds them"
            )

    def cache_key(self) -> tuple:
        stamps = tuple(
            (p.stat().st_size, p.stat().st_mtime_ns) if p.is_file() else None for p in self.files()
        )
        return (*super().cache_key(), str(self.raw_dir.resolve()), stamps)

    def load(self) -> Data:
        from torch_geometric.io.planetoid import read_file, read_planetoid_data

        self.check_available()
        folder = str(self.raw_dir)
        parts = {}
        for part, path in zip(PLANETOID_PARTS, self.files(), strict=True):
            try:
                parts[part] = read_file(folder, "cora", part)
            except Exception as err:
                raise CorruptDataError(
                    f"{path.resolve()}: cannot be read as a Planetoid file ({type(err).__name__}: {err}); "
                    f"fetch it again from {PLANETOID_SOURCE}"
                ) from err
        self._check_shapes(parts)
        try:
            data = read_planetoid_data(folder, "cora")
        except Exception as err:
            raise CorruptDataError(
                f"{self.raw_dir.resolve()}: the Cora files do not fit together ({type(err).__name__}: {err})"
            ) from err
        return Data(
            x=data.x,
            edge_index=data.edge_index,
            y=data.y,
            train_mask=data.train_mask,
            val_mask=data.val_mask,
            test_mask=data.test_mask,
        )

    def _check_shapes(self, parts: dict[str, Any]) -> None:
        """Raise CorruptDataError, naming the file, where the parts' sizes disagree."""

        def fail(part: str, why: str) -> None:
            raise CorruptDataError(f"{self.raw_dir.resolve() / f'ind.cora.{part}'}: {why}")

        for part in ("x", "tx", "allx", "y", "ty", "ally"):
            if not isinstance(parts[part], torch.Tensor) or parts[part].dim() != 2:
                fail(part, "expected a matrix (a pickled scipy sparse matrix or numpy array)")
        for features, labels in (("x", "y"), ("tx", "ty"), ("allx", "ally")):
            if len(parts[features]) != len(parts[labels]):
                fail(labels, f"{len(parts[labels])} label rows for {len(parts[features])} feature rows")
        for part in ("x", "tx"):
            if parts[part].shape[1] != parts["allx"].shape[1]:
                fail(part, f"{parts[part].shape[1]} feature columns, allx has {parts['allx'].shape[1]}")
        for part in ("y", "ty"):
            if parts[part].shape[1] != parts["ally"].shape[1]:
                fail(part, f"{parts[part].shape[1]} classes, ally has {parts['ally'].shape[1]}")
        if not isinstance(parts["graph"], dict):
            fail(
                "graph", f"expected a pickled dict of adjacency lists, found {type(parts['graph']).__name__}"
            )
        index = parts["test.index"].view(-1)
        nodes = len(parts["allx"]) + len(parts["tx"])
        if len(index) != len(parts["tx"]) or (
            len(index) and not 0 <= int(index.min()) <= int(index.max()) < nodes
        ):
            fail("test.index", f"expected {len(parts['tx'])} node indices in [0, {nodes})")
