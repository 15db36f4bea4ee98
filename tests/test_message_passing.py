"""The book's graph layers (book section 8.5): GCN by hand against PyG's GCNConv, message passing against a
dense computation, permutation equivariance, and the GCN model's `layer` option."""

import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from torch_geometric.nn import GCNConv

from mde_exp.data.graphs import KarateClubDataModule
from mde_exp.models.gnn import GCN, LAYERS
from mde_exp.nn.message_passing import AGGREGATIONS, BookGCNConv, BookMessagePassing, gcn_edge_weights
from mde_exp.run import _build_model
from mde_exp.store import compose
from mde_exp.validate import check_config

# A small directed graph (u -> v: column [u, v]): node 4 receives no message, node 0 three.
EDGES = torch.tensor([[1, 2, 3, 0, 2, 0, 3], [0, 0, 0, 1, 1, 2, 2]])
N = 5


def dense_adjacency(edge_index: torch.Tensor, n: int) -> torch.Tensor:
    """A[v, u] = 1 for every edge u -> v (rows: receivers)."""
    a = torch.zeros(n, n, dtype=torch.float64)
    a[edge_index[1], edge_index[0]] = 1.0
    return a


def karate() -> KarateClubDataModule:
    dm = KarateClubDataModule()
    dm.setup()
    return dm


@pytest.mark.parametrize("graph", ["small", "karate"])
def test_book_gcn_equals_pyg_gcnconv_on_the_same_weights(graph):
    torch.manual_seed(0)
    if graph == "small":
        x, edge_index = torch.randn(N, 3), EDGES
    else:
        data = karate().data
        x, edge_index = data.x + 0.1 * torch.randn_like(data.x), data.edge_index
    book = BookGCNConv(x.shape[1], 4)
    pyg = GCNConv(x.shape[1], 4)
    with torch.no_grad():
        book.bias.normal_()
    pyg.load_state_dict(book.state_dict())  # same names: lin.weight, bias
    torch.testing.assert_close(book(x, edge_index), pyg(x, edge_index), rtol=1e-5, atol=1e-6)


def test_book_gcn_is_the_normalised_adjacency_formula():
    torch.manual_seed(1)
    x = torch.randn(N, 3, dtype=torch.float64)
    layer = BookGCNConv(3, 2).double()
    a_hat = dense_adjacency(EDGES, N) + torch.eye(N, dtype=torch.float64)
    d = torch.diag(a_hat.sum(1).pow(-0.5))
    expected = d @ a_hat @ d @ x @ layer.lin.weight.T + layer.bias
    torch.testing.assert_close(layer(x, EDGES), expected)
    # a self-loop already in the graph is counted once, not twice
    looped = torch.cat([EDGES, torch.tensor([[3], [3]])], 1)
    torch.testing.assert_close(layer(x, looped), expected)
    (src, dst), w = gcn_edge_weights(EDGES, N)
    assert len(w) == EDGES.shape[1] + N and torch.all(w > 0)


def dense_message_passing(layer: BookMessagePassing, x: torch.Tensor, aggregation: str) -> torch.Tensor:
    """W_self h_v + W_neigh AGG_{u in N(v)} h_u + b node by node, with N(v) read off the dense matrix."""
    a = dense_adjacency(EDGES, N)
    rows = []
    for v in range(N):
        neighbours = x[a[v] > 0]
        if len(neighbours) == 0:
            agg = torch.zeros(x.shape[1], dtype=x.dtype)
        elif aggregation == "mean":
            agg = neighbours.mean(0)
        elif aggregation == "sum":
            agg = neighbours.sum(0)
        else:
            agg = neighbours.max(0).values
        rows.append(layer.lin_self(x[v]) + layer.lin_neigh(agg))
    return torch.stack(rows)


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
def test_message_passing_equals_a_dense_hand_computation(aggregation):
    torch.manual_seed(2)
    x = torch.randn(N, 3, dtype=torch.float64)
    layer = BookMessagePassing(3, 2, aggregation).double()
    out = layer(x, EDGES)
    torch.testing.assert_close(out, dense_message_passing(layer, x, aggregation))
    # node 4 receives nothing: only its own term W_self h_4 + b
    torch.testing.assert_close(out[4], layer.lin_self(x[4]))


def test_the_three_aggregations_differ():
    torch.manual_seed(3)
    x = torch.randn(N, 3)
    layer = BookMessagePassing(3, 2, "mean")
    outs = {}
    for aggregation in AGGREGATIONS:
        other = BookMessagePassing(3, 2, aggregation)
        other.load_state_dict(layer.state_dict())
        outs[aggregation] = other(x, EDGES)
    assert not torch.allclose(outs["mean"], outs["sum"]) and not torch.allclose(outs["mean"], outs["max"])


@pytest.mark.parametrize("layer", ["gcnconv", "book_gcn", "message_passing"])
@pytest.mark.parametrize("aggregation", AGGREGATIONS)
def test_relabelling_the_nodes_permutes_the_outputs(layer, aggregation):
    if layer != "message_passing" and aggregation != "mean":
        pytest.skip("aggregation is a message-passing option")
    torch.manual_seed(4)
    data = karate().data
    x = torch.randn(data.num_nodes, 5)
    model = GCN(5, 3, [8, 4], layer=layer, aggregation=aggregation, feature_dropout=0.0).eval()
    perm = torch.randperm(data.num_nodes)
    inverse = torch.argsort(perm)  # node i is called inverse[i] after relabelling
    out = model(x, data.edge_index)
    out_perm = model(x[perm], inverse[data.edge_index])
    torch.testing.assert_close(out_perm, out[perm], rtol=1e-5, atol=1e-6)
    # ... and the output depends on the edges: dropping half of them changes it
    assert not torch.allclose(model(x, data.edge_index[:, ::2]), out)


def test_the_linear_layer_ignores_the_edges():
    torch.manual_seed(5)
    data = karate().data
    model = GCN(34, 4, [8], layer="linear").eval()
    torch.testing.assert_close(model(data.x, data.edge_index), model(data.x, data.edge_index[:, :0]))


@pytest.mark.parametrize("layer", LAYERS)
def test_one_training_step_reaches_every_parameter_and_lowers_the_loss(layer):
    torch.manual_seed(6)
    data = karate().data
    model = GCN(34, 4, [16, 2], activation="tanh", feature_dropout=0.0, layer=layer, aggregation="sum")
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    model.train()
    loss = F.cross_entropy(model(data.x, data.edge_index)[data.train_mask], data.y[data.train_mask])
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f"no gradient reaches {name}"
    optimizer.step()
    after = F.cross_entropy(model(data.x, data.edge_index)[data.train_mask], data.y[data.train_mask])
    assert after < loss


def test_same_seed_gives_gcnconv_and_book_gcn_the_same_weights():
    torch.manual_seed(7)
    pyg = GCN(34, 4, [16, 2], layer="gcnconv")
    torch.manual_seed(7)
    book = GCN(34, 4, [16, 2], layer="book_gcn")
    book.load_state_dict(pyg.state_dict())  # the same parameter names
    for (name, a), (_, b) in zip(pyg.state_dict().items(), book.state_dict().items(), strict=True):
        torch.testing.assert_close(a, b, msg=name)


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["model.layer=book_gcn"],
        ["model.layer=message_passing", "model.aggregation=max"],
        ["model.layer=linear"],
        ["+experiment=gnn_karate"],
    ],
)
def test_config_composes_and_builds_the_chosen_layers(overrides):
    cfg = compose(["model=gcn", "data=karate", *overrides])
    check_config(cfg)
    dm = instantiate(cfg.data)
    dm.setup()
    model = _build_model(cfg, dm)
    layer_type = {
        "gcnconv": "GCNConv",
        "book_gcn": "BookGCNConv",
        "message_passing": "BookMessagePassing",
        "linear": "NodeLinear",
    }[cfg.model.layer]
    assert all(type(conv).__name__ == layer_type for conv in model.convs)
    assert model(dm.data.x, dm.data.edge_index).shape == (34, 4)
    if cfg.model.layer == "message_passing":
        assert all(conv.aggregation == cfg.model.aggregation for conv in model.convs)


def test_the_default_is_pyg_gcnconv():
    cfg = compose(["model=gcn", "data=karate"])
    assert cfg.model.layer == "gcnconv" and cfg.model.aggregation == "mean"


@pytest.mark.parametrize(("key", "value"), [("layer", "gat"), ("aggregation", "median")])
def test_bad_layer_or_aggregation_names_the_key(key, value):
    with pytest.raises(ValueError, match=rf"{key}='{value}'.*choose one of"):
        GCN(34, 4, [8], **{key: value})
