"""The attention mechanism of book sections 7.4 and 7.5: scaled dot-product attention with masks, multi-head
attention with its query, key, value and output projections, and the causal and padding masks.

Masks here are boolean and say where attention is ALLOWED (True: query position i may attend to key
position j), broadcastable to N x H x T_q x T_k. (torch.nn.MultiheadAttention's boolean masks mean the
opposite: True there is a position that may not be attended to.)
"""

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


def causal_mask(length: int, device: torch.device | str | None = None) -> torch.Tensor:
    """The T x T mask of a causal (auto-regressive) model: position t attends to positions 1..t only,
    True on and below the diagonal."""
    if int(length) < 1:
        raise ValueError(f"length={length}: must be a positive integer")
    return torch.ones(int(length), int(length), dtype=torch.bool, device=device).tril()


def padding_mask(tokens: torch.Tensor, pad_id: int = 0) -> torch.Tensor:
    """The key mask of N x T token ids: N x 1 x 1 x T, True at the real tokens and False at the padding
    (`pad_id`), so that no query attends to a padded position."""
    if tokens.dim() != 2:
        raise ValueError(f"tokens of shape {tuple(tokens.shape)}: expected N x T token ids")
    return (tokens != pad_id)[:, None, None, :]


def scaled_dot_product_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None = None,
    dropout: nn.Module | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention of queries (... x T_q x d_k) on keys (... x T_k x d_k) with values (... x T_k x d_v):
    the weights are softmax(Q K^T / sqrt(d_k)) over the keys, each row a probability vector over the
    key positions that `mask` allows (rows with no allowed key are all zero), and the output is the
    weighted sum of the values, weights @ V. Returns (output ... x T_q x d_v, weights ... x T_q x T_k);
    `dropout`, where given, drops weights on the way to the output (the returned weights are undropped).
    """
    scores = query @ key.transpose(-2, -1) / math.sqrt(query.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        weights = torch.where(mask.any(dim=-1, keepdim=True), weights, torch.zeros_like(weights))
    else:
        weights = torch.softmax(scores, dim=-1)
    applied = dropout(weights) if dropout is not None else weights
    return applied @ value, weights


class MultiHeadAttention(nn.Module):
    """Multi-head attention (book section 7.5): H heads, each attending with its own projections of the
    queries, keys and values to d_model / H dimensions, W_q^(h) x, W_k^(h) x, W_v^(h) x; the heads'
    outputs are concatenated and mapped back to d_model by W_o.

    With `keep_weights` True (or inside `keep_attention(model)`) the last forward pass's attention
    weights are kept as `weights` (N x H x T_q x T_k) for plotting attention maps.
    """

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__()
        if int(d_model) < 1:
            raise ValueError(f"d_model={d_model}: must be a positive integer")
        if int(num_heads) < 1 or int(d_model) % int(num_heads):
            raise ValueError(f"num_heads={num_heads}: must be a positive divisor of d_model={d_model}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout={dropout}: must be a number in [0, 1)")
        self.d_model, self.num_heads = int(d_model), int(num_heads)
        self.head_dim = self.d_model // self.num_heads
        self.w_q = nn.Linear(self.d_model, self.d_model, bias=bias)
        self.w_k = nn.Linear(self.d_model, self.d_model, bias=bias)
        self.w_v = nn.Linear(self.d_model, self.d_model, bias=bias)
        self.w_o = nn.Linear(self.d_model, self.d_model, bias=bias)
        self.dropout = nn.Dropout(float(dropout))
        self.keep_weights = False
        self.weights: torch.Tensor | None = None

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """N x T x d_model -> N x H x T x d_model / H."""
        n, t, _ = x.shape
        return x.view(n, t, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Queries N x T_q x d_model attend to keys and values N x T_k x d_model; `mask` (True: allowed)
        broadcasts to N x H x T_q x T_k. Returns N x T_q x d_model."""
        q, k, v = self._heads(self.w_q(query)), self._heads(self.w_k(key)), self._heads(self.w_v(value))
        out, weights = scaled_dot_product_attention(q, k, v, mask, self.dropout)
        self.weights = weights.detach() if self.keep_weights else None
        n, _, t_q, _ = out.shape
        return self.w_o(out.transpose(1, 2).reshape(n, t_q, self.d_model))


@contextmanager
def keep_attention(model: nn.Module) -> Iterator[dict[str, MultiHeadAttention]]:
    """Within the block every MultiHeadAttention inside `model` keeps its last attention weights; yields
    the attention modules by name (read `.weights` after a forward pass)."""
    modules = {name: m for name, m in model.named_modules() if isinstance(m, MultiHeadAttention)}
    for m in modules.values():
        m.keep_weights = True
    try:
        yield modules
    finally:
        for m in modules.values():
            m.keep_weights = False
