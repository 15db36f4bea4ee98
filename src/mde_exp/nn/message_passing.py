"""Graph layers written from the book's equations (book section 8.5, graph neural networks).

- BookMessagePassing: the general message-passing update of one layer,
      h_v' = W_self h_v + W_neigh AGG_{u in N(v)} h_u + b,
  with AGG the mean, sum or max of the neighbours' features (the activation sigma is applied by the
  model, after every hidden layer), as a torch_geometric MessagePassing subclass.
- BookGCNConv: the graph convolutional (Kipf & Welling) propagation H' = D^-1/2 (A + I) D^-1/2 H W + b,
  computed edge by edge by hand; on the same weights it equals PyTorch Geometric's GCNConv (its
  parameters carry GCNConv's names, `lin.weight` and `bias`, so state dicts load across).
- NodeLinear: H' = H W + b, a layer that ignores the edges (the MLP baseline on the same graph).

Edges follow PyG's convention: edge_index[0] holds the sources u and edge_index[1] the targets v,
and a message flows from u to v (an undirected graph lists both directions).
"""

import torch
from torch import nn
from torch_geometric.nn import MessagePassing

AGGREGATIONS = ("mean", "sum", "max")


def check_aggregation(aggregation: str) -> str:
    """The aggregation, if it is one of AGGREGATIONS; otherwise ValueError naming the allowed ones."""
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation={aggregation!r}: choose one of {', '.join(AGGREGATIONS)}")
    return aggregation


class BookMessagePassing(MessagePassing):
    """One message-passing layer (book section 8.5): h_v' = W_self h_v + W_neigh AGG_{u in N(v)} h_u + b.

    Each node v receives the features h_u of its in-neighbours u (the messages), aggregates them with
    `aggregation` (mean, sum or max, feature by feature), and adds the result, mapped by W_neigh, to its
    own features mapped by W_self, plus the bias b. A node without neighbours aggregates to zero (for
    every choice of AGG, as PyG's scatter does). The update is the same function at every node, so
    relabelling the nodes permutes the outputs (permutation equivariance).
    """

    def __init__(self, in_channels: int, out_channels: int, aggregation: str = "mean") -> None:
        super().__init__(aggr=check_aggregation(aggregation), flow="source_to_target")
        self.aggregation = aggregation
        self.lin_self = nn.Linear(int(in_channels), int(out_channels), bias=True)
        self.lin_neigh = nn.Linear(int(in_channels), int(out_channels), bias=False)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        aggregated = self.propagate(edge_index, x=x)  # AGG_{u in N(v)} h_u for every node v
        return self.lin_self(x) + self.lin_neigh(aggregated)

    def message(self, x_j: torch.Tensor) -> torch.Tensor:
        """The message from u to v is u's features h_u, unchanged."""
        return x_j

    def extra_repr(self) -> str:
        return f"aggregation={self.aggregation}"


def gcn_edge_weights(edge_index: torch.Tensor, num_nodes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The edges of A + I (every node also gets a self-loop) and their weights in D^-1/2 (A + I) D^-1/2.

    D is the diagonal degree matrix of A + I, counted at the target (the number of messages a node
    receives, its own included); the weight of the edge u -> v is 1 / sqrt(d_u d_v). Self-loops that
    edge_index already holds are replaced by one loop of weight one each (as GCNConv does).
    """
    source, target = edge_index
    keep = source != target
    loops = torch.arange(num_nodes, device=edge_index.device)
    source = torch.cat([source[keep], loops])
    target = torch.cat([target[keep], loops])
    degree = torch.zeros(num_nodes, device=edge_index.device).index_add_(
        0, target, torch.ones_like(target, dtype=torch.float)
    )
    inv_sqrt = degree.pow(-0.5)
    return torch.stack([source, target]), inv_sqrt[source] * inv_sqrt[target]


class BookGCNConv(nn.Module):
    """The GCN propagation rule of book section 8.5 (Kipf & Welling 2017), by hand:
    H' = D^-1/2 (A + I) D^-1/2 H W + b.

    H W is computed first (`lin`, no bias), then each node v sums the rows (H W)_u of its in-neighbours
    and itself, weighted by 1 / sqrt(d_u d_v) (gcn_edge_weights), and adds the bias. Initialised as
    GCNConv is (Glorot-uniform W, zero b) and with its parameter names, so the two are interchangeable.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.lin = nn.Linear(int(in_channels), int(out_channels), bias=False)
        self.bias = nn.Parameter(torch.zeros(int(out_channels)))
        nn.init.xavier_uniform_(self.lin.weight)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        hw = self.lin(x)
        (source, target), weight = gcn_edge_weights(edge_index, x.size(0))
        out = torch.zeros_like(hw).index_add_(0, target, weight.unsqueeze(-1) * hw[source])
        return out + self.bias


class NodeLinear(nn.Linear):
    """H' = H W + b on every node alone: a fully connected layer that ignores the edges (the MLP
    baseline of book section 8.5: what the graph adds is what a GNN gains over it)."""

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor | None = None) -> torch.Tensor:
        return super().forward(x)
