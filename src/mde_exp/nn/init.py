"""Weight initialisation schemes of book section 5.5, applied to every linear and convolutional layer."""

from collections.abc import Mapping
from typing import Any

from torch import nn

SCHEMES = (
    "default",
    "zeros",
    "normal",
    "xavier_uniform",
    "xavier_normal",
    "kaiming_uniform",
    "kaiming_normal",
    "orthogonal",
    "constant",
)


# The layers an init scheme applies to: dense layers (chapter 5) and convolutions (chapter 6).
WEIGHTED_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d)


def init_layer(
    layer: nn.Linear | nn.Conv1d | nn.Conv2d,
    scheme: str,
    *,
    gain: float = 1.0,
    std: float = 0.01,
    value: float = 0.0,
) -> None:
    """Initialise one layer's weight by `scheme` and its bias to zero (except `default`, and
    `constant`, which sets every weight and bias to `value`: fig-3.5's start at 0.1, section 3.2).

    `gain` is the activation's gain (nn.init.calculate_gain); the Kaiming schemes use fan-in mode,
    whose ReLU case gives std = sqrt(2 / n_in), the book's He initialisation. A convolution's fan-in
    is in_channels x kernel area (one output unit's inputs), its fan-out out_channels x kernel area.
    """
    w = layer.weight
    fan_in = w[0].numel()
    if scheme == "default":
        layer.reset_parameters()
        return
    if scheme == "constant":
        nn.init.constant_(w, value)
        if layer.bias is not None:
            nn.init.constant_(layer.bias, value)
        return
    if scheme == "zeros":
        nn.init.zeros_(w)
    elif scheme == "normal":
        nn.init.normal_(w, mean=0.0, std=std)
    elif scheme == "xavier_uniform":
        nn.init.xavier_uniform_(w, gain=gain)
    elif scheme == "xavier_normal":
        nn.init.xavier_normal_(w, gain=gain)
    elif scheme == "kaiming_uniform":
        # torch's kaiming_uniform_ only takes leaky-ReLU gains; the bound below allows any activation.
        bound = gain * (3.0 / fan_in) ** 0.5
        nn.init.uniform_(w, -bound, bound)
    elif scheme == "kaiming_normal":
        nn.init.normal_(w, mean=0.0, std=gain / fan_in**0.5)
    elif scheme == "orthogonal":
        nn.init.orthogonal_(w, gain=gain)
    else:
        raise ValueError(f"unknown init scheme {scheme!r}; choose one of: {', '.join(SCHEMES)}")
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


def apply_init(module: nn.Module, spec: Mapping[str, Any] | None, *, gain: float = 1.0) -> None:
    """Apply an init config ({scheme, std?, value?}) to every linear and convolutional layer inside
    `module`."""
    spec = dict(spec or {"scheme": "default"})
    scheme = spec.get("scheme", "default")
    std = float(spec.get("std", 0.01))
    value = float(spec.get("value", 0.0))
    for layer in module.modules():
        if isinstance(layer, WEIGHTED_LAYERS):
            init_layer(layer, scheme, gain=gain, std=std, value=value)
