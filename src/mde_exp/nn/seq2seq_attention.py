"""Attention of a decoder over an encoder's states (book section 7.4, the attention mechanism): additive
(Bahdanau) and dot-product (Luong) scores, the masked softmax that turns them into weights, and the
context vector that the weights average."""

import torch
from torch import nn


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """softmax over the last axis of `scores` (N x Q x S) with the positions where `mask` (N x S) is
    False left out: they get weight exactly 0 and the others sum to 1 (each row needs one True)."""
    scores = scores.masked_fill(~mask[:, None, :], float("-inf"))
    return torch.softmax(scores, dim=-1)


class SourceAttention(nn.Module):
    """Attention of decoder states q_t (queries) over encoder states h_1..h_S (the memory), book
    section 7.4: scores e_{t,i} = score(q_t, h_i), weights alpha_{t,i} = exp(e_{t,i}) / sum_j
    exp(e_{t,j}) over the source positions j (padding left out), and the context vector
    c_t = sum_i alpha_{t,i} h_i. Subclasses define `score`; `prepare` may precompute what depends on
    the memory alone (once per source, not once per decoding step)."""

    def prepare(self, memory: torch.Tensor) -> torch.Tensor:
        """What `score` needs of the memory (N x S x H); by default the memory itself."""
        return memory

    def score(self, queries: torch.Tensor, prepared: torch.Tensor) -> torch.Tensor:
        """N x Q x S scores of queries (N x Q x D) against the prepared memory."""
        raise NotImplementedError

    def forward(
        self,
        queries: torch.Tensor,
        memory: torch.Tensor,
        mask: torch.Tensor,
        prepared: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Context vectors (N x Q x H) and attention weights (N x Q x S) of `queries` (N x Q x D) over
        `memory` (N x S x H), source positions where `mask` (N x S) is False left out."""
        scores = self.score(queries, self.prepare(memory) if prepared is None else prepared)
        weights = masked_softmax(scores, mask)
        return weights @ memory, weights


class AdditiveAttention(SourceAttention):
    """Bahdanau et al. (2015): e_{t,i} = v^T tanh(W q_t + U h_i), a one-hidden-layer network of
    `attention_size` tanh units scoring each (query, encoder state) pair."""

    def __init__(self, query_size: int, memory_size: int, attention_size: int) -> None:
        super().__init__()
        self.query_map = nn.Linear(query_size, attention_size, bias=False)  # W
        self.memory_map = nn.Linear(memory_size, attention_size)  # U (and the hidden units' bias)
        self.v = nn.Linear(attention_size, 1, bias=False)

    def prepare(self, memory: torch.Tensor) -> torch.Tensor:
        return self.memory_map(memory)  # U h_i for every i: N x S x A

    def score(self, queries: torch.Tensor, prepared: torch.Tensor) -> torch.Tensor:
        hidden = torch.tanh(self.query_map(queries)[:, :, None, :] + prepared[:, None, :, :])
        return self.v(hidden).squeeze(-1)


class DotAttention(SourceAttention):
    """Luong et al. (2015), the dot score: e_{t,i} = q_t^T h_i (queries and memory of one size)."""

    def score(self, queries: torch.Tensor, prepared: torch.Tensor) -> torch.Tensor:
        return queries @ prepared.transpose(1, 2)


ATTENTION_KINDS = ("none", "additive", "dot")
