"""The transformer blocks of book section 7.5: the encoder block (self-attention, then a position-wise
feed-forward network) and the decoder block (causal self-attention, cross-attention to the encoder's
output, then the feed-forward network), each sub-layer with dropout, a residual connection and layer
normalisation, and stacks of them.

`norm_position`: "post" normalises after each residual sum, x <- LayerNorm(x + sublayer(x)), as in Vaswani
et al. (2017); "pre" normalises each sub-layer's input, x <- x + sublayer(LayerNorm(x)), and a stack of
pre-norm blocks ends with one more LayerNorm.
"""

import torch
from torch import nn

from mde_exp.nn.attention import MultiHeadAttention

NORM_POSITIONS = ("pre", "post")


def _check(d_model: int, d_ff: int, dropout: float, norm_position: str) -> None:
    if int(d_ff) < 1:
        raise ValueError(f"d_ff={d_ff}: must be a positive integer")
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"dropout={dropout}: must be a number in [0, 1)")
    if norm_position not in NORM_POSITIONS:
        raise ValueError(f"norm_position={norm_position!r}: choose one of {', '.join(NORM_POSITIONS)}")


class FeedForward(nn.Sequential):
    """The position-wise feed-forward network: Linear(d_model, d_ff) - ReLU - dropout - Linear(d_ff,
    d_model), the same at every position."""

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0) -> None:
        super().__init__(
            nn.Linear(int(d_model), int(d_ff)),
            nn.ReLU(),
            nn.Dropout(float(dropout)),
            nn.Linear(int(d_ff), int(d_model)),
        )


class Residual(nn.Module):
    """One sub-layer wrapped with dropout, the residual connection and layer normalisation (pre or post)."""

    def __init__(self, d_model: int, dropout: float, norm_position: str) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(int(d_model))
        self.dropout = nn.Dropout(float(dropout))
        self.pre = norm_position == "pre"

    def forward(self, x: torch.Tensor, sublayer) -> torch.Tensor:
        if self.pre:
            return x + self.dropout(sublayer(self.norm(x)))
        return self.norm(x + self.dropout(sublayer(x)))


class EncoderBlock(nn.Module):
    """Self-attention over the whole sequence (masked only at padding), then the feed-forward network."""

    def __init__(
        self, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.0, norm_position: str = "pre"
    ) -> None:
        super().__init__()
        _check(d_model, d_ff, dropout, norm_position)
        self.self_attention = MultiHeadAttention(d_model, num_heads, dropout)
        self.feed_forward = FeedForward(d_model, d_ff, dropout)
        self.attention_residual = Residual(d_model, dropout, norm_position)
        self.feed_forward_residual = Residual(d_model, dropout, norm_position)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: N x T x d_model; `mask` (True: allowed) broadcasts to N x H x T x T."""
        x = self.attention_residual(x, lambda h: self.self_attention(h, h, h, mask))
        return self.feed_forward_residual(x, self.feed_forward)


class DecoderBlock(nn.Module):
    """Causal self-attention, then (with `cross_attention`) attention from the decoder's positions to the
    encoder's output (the memory), then the feed-forward network. Without cross-attention this is the
    block of a decoder-only (GPT-style) language model."""

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        d_ff: int,
        dropout: float = 0.0,
        norm_position: str = "pre",
        cross_attention: bool = True,
    ) -> None:
        super().__init__()
        _check(d_model, d_ff, dropout, norm_position)
        self.self_attention = MultiHeadAttention(d_model, num_heads, dropout)
        self.attention_residual = Residual(d_model, dropout, norm_position)
        self.cross_attention = MultiHeadAttention(d_model, num_heads, dropout) if cross_attention else None
        self.cross_residual = Residual(d_model, dropout, norm_position) if cross_attention else None
        self.feed_forward = FeedForward(d_model, d_ff, dropout)
        self.feed_forward_residual = Residual(d_model, dropout, norm_position)

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None = None,
        memory: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x: N x T x d_model; `mask`: the self-attention mask (the causal mask, and the padding);
        `memory`: N x S x d_model, the encoder's output, attended to where `memory_mask` (broadcasting
        to N x H x T x S) is True."""
        x = self.attention_residual(x, lambda h: self.self_attention(h, h, h, mask))
        if self.cross_attention is not None:
            if memory is None:
                raise ValueError("memory=None: a decoder block with cross-attention needs the encoder output")
            x = self.cross_residual(x, lambda h: self.cross_attention(h, memory, memory, memory_mask))
        return self.feed_forward_residual(x, self.feed_forward)


class _Stack(nn.Module):
    def __init__(self, num_layers: int, make_block, d_model: int, norm_position: str) -> None:
        super().__init__()
        if int(num_layers) < 1:
            raise ValueError(f"num_layers={num_layers}: a stack needs at least one block")
        self.blocks = nn.ModuleList(make_block() for _ in range(int(num_layers)))
        # Pre-norm blocks leave their residual stream unnormalised: one LayerNorm closes the stack.
        self.final_norm = nn.LayerNorm(int(d_model)) if norm_position == "pre" else nn.Identity()


class Encoder(_Stack):
    """`num_layers` encoder blocks."""

    def __init__(
        self,
        num_layers: int,
        d_model: int,
        num_heads: int,
        d_ff: int,
        dropout: float = 0.0,
        norm_position: str = "pre",
    ) -> None:
        super().__init__(
            num_layers, lambda: EncoderBlock(d_model, num_heads, d_ff, dropout, norm_position), d_model,
            norm_position,
        )  # fmt: skip

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, mask)
        return self.final_norm(x)


class Decoder(_Stack):
    """`num_layers` decoder blocks (with cross-attention to an encoder's output, or without)."""

    def __init__(
        self,
        num_layers: int,
        d_model: int,
        num_heads: int,
        d_ff: int,
        dropout: float = 0.0,
        norm_position: str = "pre",
        cross_attention: bool = True,
    ) -> None:
        super().__init__(
            num_layers,
            lambda: DecoderBlock(d_model, num_heads, d_ff, dropout, norm_position, cross_attention),
            d_model,
            norm_position,
        )

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None = None,
        memory: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, mask, memory, memory_mask)
        return self.final_norm(x)
