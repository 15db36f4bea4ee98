"""MLPClassifier: the feedforward network of book chapter 5 (sections 5.1 to 5.7)."""

from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from mde_exp.models.base import ClassifierModule, OptimizerFactory, SchedulerFactory
from mde_exp.nn.activations import activation_gain, make_activation
from mde_exp.nn.init import apply_init
from mde_exp.nn.layers import dropout_rates, hidden_widths, make_norm


class MLPClassifier(ClassifierModule):
    """Fully connected network (book section 5.1) for classification.

    Each hidden layer is Linear -> norm (none / batch / layer, section 5.6) -> activation ->
    dropout (section 5.7); the output layer gives logits for the softmax (section 5.2). `activation` is
    one name for every hidden layer or a list with one per hidden layer (the course's dense net of
    section 6.3 is 784-200(relu)-100(tanh)-10). Weights are initialised by the `init` choice (section
    5.5), each layer with the gain of the activation that follows it (the output layer: the last one's).
    """

    def __init__(
        self,
        input_dim: int,
        num_classes: int,
        hidden_sizes: Sequence[int] = (128, 64),
        activation: str | Sequence[str] = "relu",
        init: Mapping[str, Any] | None = None,
        norm: Mapping[str, Any] | None = None,
        dropout: float | Sequence[float] = 0.0,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__(num_classes, optimizer, scheduler)
        hidden_sizes = hidden_widths(hidden_sizes)
        rates = dropout_rates(dropout, len(hidden_sizes))
        activations = [activation] * len(hidden_sizes) if isinstance(activation, str) else list(activation)
        if len(activations) != len(hidden_sizes):
            raise ValueError(
                f"activation lists {len(activations)} names for {len(hidden_sizes)} hidden layers"
            )
        layers: list[nn.Module] = []
        width = input_dim
        for size, rate, name in zip(hidden_sizes, rates, activations, strict=True):
            layers += [nn.Linear(width, size), make_norm(norm, size), make_activation(name)]
            if rate > 0:
                layers.append(nn.Dropout(rate))
            width = size
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(nn.Flatten(), *layers)
        dense = [m for m in self.net if isinstance(m, nn.Linear)]
        for layer, name in zip(dense, [*activations, activations[-1]], strict=True):
            apply_init(layer, init, gain=activation_gain(name))
        self.save_hyperparameters(
            {
                "input_dim": input_dim,
                "num_classes": num_classes,
                "hidden_sizes": hidden_sizes,
                "activation": activation if isinstance(activation, str) else activations,
                "dropout": rates,
                "norm": dict(norm) if norm else None,  # rebuilds the same layers when loaded
            }
        )
