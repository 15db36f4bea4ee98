"""GCN: the graph convolutional network node classifier of book chapter 8 (graph neural networks)."""

from collections.abc import Sequence
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.data import Data
from torch_geometric.nn import GCNConv
from torchmetrics.classification import MulticlassAccuracy

from mde_exp.data.graphs import STAGE_MASKS
from mde_exp.models.base import EVAL_STAGES, BookModule, OptimizerFactory, SchedulerFactory
from mde_exp.nn.activations import make_activation
from mde_exp.nn.layers import hidden_widths
from mde_exp.nn.message_passing import BookGCNConv, BookMessagePassing, NodeLinear, check_aggregation

# What each layer of the network is (the `layer` argument of GCN): all map (x, edge_index) to features.
LAYERS = ("gcnconv", "book_gcn", "message_passing", "linear")


def make_graph_layer(layer: str, in_channels: int, out_channels: int, aggregation: str = "mean") -> nn.Module:
    """One graph layer by name: PyG's GCNConv, the book's GCN rule by hand (BookGCNConv), the book's
    message-passing update with `aggregation` (BookMessagePassing), or a Linear map that ignores the
    edges (NodeLinear, the MLP baseline)."""
    if layer == "gcnconv":
        return GCNConv(in_channels, out_channels)
    if layer == "book_gcn":
        return BookGCNConv(in_channels, out_channels)
    if layer == "message_passing":
        return BookMessagePassing(in_channels, out_channels, aggregation)
    if layer == "linear":
        return NodeLinear(in_channels, out_channels)
    raise ValueError(f"layer={layer!r}: choose one of {', '.join(LAYERS)}")


class GCN(BookModule):
    """Graph convolutional network for node classification (Kipf & Welling 2017; book chapter 8,
    section on graph neural networks).

    By default each layer is PyTorch Geometric's GCNConv, which computes the book's propagation rule
    H' = D^-1/2 (A + I) D^-1/2 H W (+ bias): every node averages its own and its neighbours'
    features, weighted by their degrees, then maps them linearly. Hidden layers are followed by the
    activation (ReLU by default); the last layer gives class logits. As in Kipf & Welling, dropout
    with rate `feature_dropout` is applied to the input of every layer (the node features and each
    hidden representation) while training.

    `layer` chooses what each layer is (book section 8.5): "gcnconv" (PyG's GCNConv, the default),
    "book_gcn" (the same rule written by hand, BookGCNConv), "message_passing" (the book's update
    h_v' = W_self h_v + W_neigh AGG_{u in N(v)} h_u + b with AGG = `aggregation`: mean, sum or max) or
    "linear" (a Linear map per node that ignores the edges: an MLP on the node features, the baseline).
    `aggregation` is used by "message_passing" only.

    A batch is the whole graph (a torch_geometric Data with x, edge_index, y and masks); the loss is
    the cross-entropy over the nodes of the stage's mask (train_mask for train and train_eval,
    val_mask, test_mask). Logs per epoch <stage>/loss and <stage>/acc for train, val, train_eval
    and test (train/loss also per step).
    """

    def __init__(
        self,
        num_features: int,
        num_classes: int,
        hidden_sizes: Sequence[int] = (16,),
        activation: str = "relu",
        feature_dropout: float = 0.5,
        layer: str = "gcnconv",
        aggregation: str = "mean",
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__(optimizer, scheduler)
        hidden_sizes = hidden_widths(hidden_sizes)
        if not 0.0 <= feature_dropout < 1.0:
            raise ValueError(f"feature_dropout={feature_dropout}: must be in [0, 1)")
        if layer not in LAYERS:
            raise ValueError(f"layer={layer!r}: choose one of {', '.join(LAYERS)}")
        check_aggregation(aggregation)
        widths = [int(num_features), *hidden_sizes, int(num_classes)]
        self.convs = nn.ModuleList(make_graph_layer(layer, a, b, aggregation) for a, b in pairwise(widths))
        self.activation = make_activation(activation)
        self.dropout = nn.Dropout(feature_dropout)
        self.accuracy = nn.ModuleDict(
            {
                f"{stage}_acc": MulticlassAccuracy(int(num_classes), average="micro")
                for stage in ("train", *EVAL_STAGES, "test")
            }
        )
        self.save_hyperparameters(
            {
                "num_features": int(num_features),
                "num_classes": int(num_classes),
                "hidden_sizes": hidden_sizes,
                "activation": activation,
                "feature_dropout": float(feature_dropout),
                "layer": layer,
                "aggregation": aggregation,
            }
        )

    def hidden(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        """The last hidden layer's node representations (after its activation)."""
        for conv in self.convs[:-1]:
            x = self.activation(conv(self.dropout(x), edge_index))
        return x

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        """Class logits for every node of the graph."""
        return self.convs[-1](self.dropout(self.hidden(x, edge_index)), edge_index)

    @torch.no_grad()
    def embed(self, data: Data) -> torch.Tensor:
        """The last hidden layer for every node of `data` (num_nodes x hidden_sizes[-1]), computed in
        eval mode (no dropout) and without gradients: the node embedding to plot."""
        was_training = self.training
        self.eval()
        try:
            return self.hidden(data.x.to(self.device), data.edge_index.to(self.device))
        finally:
            self.train(was_training)

    def _step(self, data: Data, stage: str) -> torch.Tensor:
        mask = data[STAGE_MASKS[stage]]
        logits = self(data.x, data.edge_index)[mask]
        y = data.y[mask]
        loss = F.cross_entropy(logits, y)
        acc = self.accuracy[f"{stage}_acc"]
        acc.update(logits, y)
        on_step = stage == "train"
        self.log(
            f"{stage}/loss", loss, on_step=on_step, on_epoch=True, add_dataloader_idx=False, batch_size=1
        )
        self.log(f"{stage}/acc", acc, on_step=False, on_epoch=True, add_dataloader_idx=False)
        return loss
