"""RecurrentSeq2Seq: the recurrent encoder-decoder of book section 7.4 (encoders, decoders and the attention
mechanism), without attention or with additive (Bahdanau) or dot-product (Luong) attention."""

from typing import Any, NamedTuple

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from mde_exp.data.sequences import PAD_ID
from mde_exp.models.base import OptimizerFactory, SchedulerFactory
from mde_exp.models.rnn import CELLS
from mde_exp.models.seq2seq import EncoderDecoderModule
from mde_exp.nn.seq2seq_attention import ATTENTION_KINDS, AdditiveAttention, DotAttention

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]  # (h,) for rnn and gru, (h, c) for lstm


class RecurrentMemory(NamedTuple):
    """What the encoder leaves the decoder: its states h_1..h_S (N x S x hidden_size), their
    attention-ready form (None without attention) and the decoder's initial state."""

    states: torch.Tensor
    prepared: torch.Tensor | None
    initial: State


def _map_state(state: State, fn) -> State:
    return tuple(fn(s) for s in state) if isinstance(state, tuple) else fn(state)


def _top_layer(state: State) -> torch.Tensor:
    """The last layer's hidden state (N x hidden_size): the query of the next decoding step."""
    return (state[0] if isinstance(state, tuple) else state)[-1]


class RecurrentSeq2Seq(EncoderDecoderModule):
    """Recurrent encoder-decoder (book section 7.4). The source and target share one token embedding
    (PAD's held at zero); a recurrent encoder (`cell`: rnn, gru or lstm; `num_layers` layers of
    `hidden_size` units; `bidirectional`) reads the source, and a recurrent decoder of the same kind
    and size, started from the encoder's final state, produces the target one token at a time.

    `attention`:
      none      the classic encoder-decoder: the decoder sees the source only through the encoder's
                final state (its initial state); logits = W_o s_t.
      additive  Bahdanau et al. (2015): at step t the previous decoder state s_{t-1} scores every
                encoder state, e_{t,i} = v^T tanh(W s_{t-1} + U h_i) (`attention_size` units; null:
                hidden_size); the context c_t = sum_i alpha_{t,i} h_i enters the recurrence with the
                previous token, s_t = f(s_{t-1}, [y_{t-1}; c_t]).
      dot       Luong et al. (2015): the recurrence runs first, s_t = f(s_{t-1}, y_{t-1}), then s_t
                scores the encoder states, e_{t,i} = s_t^T h_i.
    With attention the logits are W_o tanh(W_c [s_t; c_t]). A bidirectional encoder's two final
    states (per layer) are joined into the decoder's initial state by tanh(W_b [forward; backward]),
    and its states are mapped to hidden_size (a linear map) so that the dot score applies.
    The weights alpha (N x L x S) of the last decode are kept in `last_attention`.
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int = 32,
        hidden_size: int = 64,
        num_layers: int = 1,
        cell: str = "gru",
        attention: str = "additive",
        attention_size: int | None = None,
        bidirectional: bool = False,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__(vocab_size, optimizer, scheduler)
        if cell not in CELLS:
            raise ValueError(f"cell={cell!r}: choose one of {', '.join(CELLS)}")
        if attention not in ATTENTION_KINDS:
            raise ValueError(f"attention={attention!r}: choose one of {', '.join(ATTENTION_KINDS)}")
        attention_size = hidden_size if attention_size is None else attention_size
        for name, value in (
            ("embedding_dim", embedding_dim),
            ("hidden_size", hidden_size),
            ("num_layers", num_layers),
            ("attention_size", attention_size),
        ):
            if isinstance(value, bool) or int(value) != value or int(value) < 1:
                raise ValueError(f"{name}={value}: must be a positive integer")
        if not isinstance(bidirectional, bool):
            raise ValueError(f"bidirectional={bidirectional!r}: must be true or false")
        embedding_dim, hidden_size, num_layers = int(embedding_dim), int(hidden_size), int(num_layers)
        self.cell, self.attention_kind, self.bidirectional = cell, attention, bidirectional
        self.hidden_size = hidden_size
        self.embedding = nn.Embedding(self.vocab_size, embedding_dim, padding_idx=PAD_ID)
        recurrent = CELLS[cell]
        self.encoder = recurrent(
            embedding_dim, hidden_size, num_layers, batch_first=True, bidirectional=bidirectional
        )
        if bidirectional:
            self.bridge = nn.Linear(2 * hidden_size, hidden_size)  # W_b: both final states -> s_0
            self.memory_map = nn.Linear(2 * hidden_size, hidden_size, bias=False)
        feed = embedding_dim + (hidden_size if attention == "additive" else 0)
        self.decoder = recurrent(feed, hidden_size, num_layers, batch_first=True)
        self.attention: nn.Module | None = {
            "none": lambda: None,
            "additive": lambda: AdditiveAttention(hidden_size, hidden_size, int(attention_size)),
            "dot": lambda: DotAttention(),
        }[attention]()
        if self.attention is not None:
            self.combine = nn.Linear(2 * hidden_size, hidden_size)  # W_c
        self.readout = nn.Linear(hidden_size, self.vocab_size)  # W_o
        self.save_hyperparameters(
            {
                "vocab_size": self.vocab_size,
                "embedding_dim": embedding_dim,
                "hidden_size": hidden_size,
                "num_layers": num_layers,
                "cell": cell,
                "attention": attention,
                "attention_size": int(attention_size),
                "bidirectional": bidirectional,
            }
        )

    def encode(self, source: torch.Tensor, source_mask: torch.Tensor) -> RecurrentMemory:
        """Encoder states and the decoder's initial state; each source is read up to its own length
        (packed sequences), so padding changes neither the states nor the final state."""
        lengths = source_mask.sum(dim=1).clamp(min=1).cpu()
        packed = pack_padded_sequence(self.embedding(source), lengths, batch_first=True, enforce_sorted=False)
        states, final = self.encoder(packed)
        states = pad_packed_sequence(states, batch_first=True, total_length=source.shape[1])[0]
        if self.bidirectional:
            states = self.memory_map(states)
            final = _map_state(final, self._join_directions)
        prepared = self.attention.prepare(states) if self.attention is not None else None
        return RecurrentMemory(states, prepared, final)

    def _join_directions(self, final: torch.Tensor) -> torch.Tensor:
        """(layers * 2) x N x H final states of a bidirectional encoder -> layers x N x H."""
        layers = final.shape[0] // 2
        pairs = final.view(layers, 2, *final.shape[1:])
        return torch.tanh(self.bridge(torch.cat([pairs[:, 0], pairs[:, 1]], dim=-1)))

    def decode(
        self,
        decoder_inputs: torch.Tensor,
        memory: RecurrentMemory,
        source_mask: torch.Tensor,
        state: Any = None,
    ) -> tuple[torch.Tensor, State]:
        state = memory.initial if state is None else state
        embedded = self.embedding(decoder_inputs)
        if self.attention_kind == "none":
            self.last_attention = None
            outputs, state = self.decoder(embedded, state)
            return self.readout(outputs), state
        if self.attention_kind == "dot":
            outputs, state = self.decoder(embedded, state)
            context, weights = self.attention(outputs, memory.states, source_mask, memory.prepared)
        else:  # additive: each step's context is scored by the previous state and fed into the recurrence
            steps, contexts, step_weights = [], [], []
            for t in range(decoder_inputs.shape[1]):
                query = _top_layer(state)[:, None, :]
                context_t, weights_t = self.attention(query, memory.states, source_mask, memory.prepared)
                output, state = self.decoder(torch.cat([embedded[:, t : t + 1], context_t], dim=-1), state)
                steps.append(output)
                contexts.append(context_t)
                step_weights.append(weights_t)
            outputs, context = torch.cat(steps, dim=1), torch.cat(contexts, dim=1)
            weights = torch.cat(step_weights, dim=1)
        self.last_attention = weights.detach()
        attentional = torch.tanh(self.combine(torch.cat([outputs, context], dim=-1)))
        return self.readout(attentional), state
