"""Normalisation and dropout choices for hidden layers (book sections 5.6 and 5.7)."""

from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

NORM_KINDS = ("none", "batch", "layer")


def hidden_widths(hidden_sizes: Sequence[int]) -> list[int]:
    """The hidden layer sizes as integers; an empty list or a size below 1 is refused."""
    widths = [int(h) for h in hidden_sizes]
    if not widths or min(widths) < 1:
        raise ValueError(f"hidden_sizes must be positive integers, got {widths}")
    return widths


def make_norm(spec: Mapping[str, Any] | None, width: int, *, spatial: bool = False) -> nn.Module:
    """A normalisation layer for `width` features from a norm config ({kind, momentum?}).

    With `spatial`, `width` is a number of channels of C x H x W feature maps (chapter 6): batch norm
    then averages each channel over the batch and the positions (BatchNorm2d), and layer norm each
    example over all its channels and positions (one group of GroupNorm).
    """
    kind = (spec or {}).get("kind", "none")
    if kind == "none":
        return nn.Identity()
    if kind == "batch":
        batch_norm = nn.BatchNorm2d if spatial else nn.BatchNorm1d
        return batch_norm(width, momentum=float(spec.get("momentum", 0.1)))
    if kind == "layer":
        return nn.GroupNorm(1, width) if spatial else nn.LayerNorm(width)
    raise ValueError(f"unknown norm kind {kind!r}; choose one of: {', '.join(NORM_KINDS)}")


def dropout_rates(dropout: float | Sequence[float], n_layers: int) -> list[float]:
    """One dropout rate per hidden layer, from a single rate or a per-layer list."""
    if isinstance(dropout, int | float):
        rates = [float(dropout)] * n_layers
    else:
        rates = [float(p) for p in dropout]
        if len(rates) != n_layers:
            raise ValueError(f"dropout lists {len(rates)} rates for {n_layers} hidden layers")
    for p in rates:
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout rate {p} is outside [0, 1)")
    return rates
