"""Transformers of book section 7.5: TransformerLanguageModel, a decoder-only causal language model, and
TransformerSeq2Seq, the encoder-decoder transformer, built from mde_exp.nn.transformer's blocks."""

from typing import NamedTuple

import torch
from torch import nn

from mde_exp.data.sequences import PAD_ID
from mde_exp.models.base import OptimizerFactory, SchedulerFactory
from mde_exp.models.rnn import CausalLanguageModule
from mde_exp.models.seq2seq import EncoderDecoderModule
from mde_exp.nn.attention import causal_mask, padding_mask
from mde_exp.nn.positional import SinusoidalPositionalEmbedding
from mde_exp.nn.transformer import NORM_POSITIONS, Decoder, Encoder


def _check_sizes(**sizes: int) -> None:
    for name, value in sizes.items():
        if isinstance(value, bool) or int(value) != value or int(value) < 1:
            raise ValueError(f"{name}={value}: must be a positive integer")


def _check_dropout(dropout: float) -> float:
    if isinstance(dropout, bool) or not isinstance(dropout, int | float) or not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout={dropout}: the transformer takes one rate, a number in [0, 1)")
    return float(dropout)


def _check_shape(d_model: int, num_heads: int, norm_position: str) -> None:
    if norm_position not in NORM_POSITIONS:
        raise ValueError(f"norm_position={norm_position!r}: choose one of {', '.join(NORM_POSITIONS)}")
    if int(d_model) % 2 or int(d_model) % int(num_heads):
        raise ValueError(
            f"d_model={d_model}: must be even (sin, cos pairs) and divisible by num_heads={num_heads}"
        )


class TokenEmbedding(nn.Module):
    """Token ids N x T -> N x T x d_model: a learned embedding of each token (PAD's held at zero) plus the
    sinusoidal positional embedding of t = 1..T (book section 7.5, fig-7.14), then dropout."""

    def __init__(self, vocab_size: int, d_model: int, seq_len: int, M: float, dropout: float) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocab_size, d_model, padding_idx=PAD_ID)
        self.positions = SinusoidalPositionalEmbedding(d_model, M, seq_len)
        self.dropout = nn.Dropout(dropout)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.positions(self.tokens(ids)))


class TransformerLanguageModel(CausalLanguageModule):
    """A decoder-only transformer (book section 7.5) as a causal language model: token embedding plus the
    sinusoidal positional embedding (base M) -> `num_layers` decoder blocks without cross-attention (causal
    multi-head self-attention of `num_heads` heads, feed-forward network of width `d_ff`, dropout, residual
    connections, layer norm before (`norm_position: pre`) or after (`post`) each sub-layer) -> a linear map
    to next-token logits. Position t attends to positions 1..t only (and never to PAD).

    `seq_len` is the context: the longest input trained on (the data give it), and the window that
    `generate` keeps when a continuation grows longer.
    """

    def __init__(
        self,
        vocab_size: int,
        seq_len: int = 128,
        d_model: int = 64,
        num_heads: int = 4,
        num_layers: int = 2,
        d_ff: int = 256,
        dropout: float = 0.0,
        norm_position: str = "pre",
        M: float = 1e4,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__(vocab_size, optimizer, scheduler)
        _check_sizes(seq_len=seq_len, d_model=d_model, num_heads=num_heads, num_layers=num_layers, d_ff=d_ff)
        dropout = _check_dropout(dropout)
        _check_shape(d_model, num_heads, norm_position)
        self.seq_len = int(seq_len)
        self.embed = TokenEmbedding(self.vocab_size, int(d_model), self.seq_len, float(M), dropout)
        self.decoder = Decoder(
            int(num_layers),
            int(d_model),
            int(num_heads),
            int(d_ff),
            dropout,
            norm_position,
            cross_attention=False,
        )
        self.readout = nn.Linear(int(d_model), self.vocab_size)
        self.save_hyperparameters(
            {
                "vocab_size": self.vocab_size,
                "seq_len": self.seq_len,
                "d_model": int(d_model),
                "num_heads": int(num_heads),
                "num_layers": int(num_layers),
                "d_ff": int(d_ff),
                "dropout": dropout,
                "norm_position": norm_position,
                "M": float(M),
            }
        )

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Next-token logits N x T x V for token ids N x T."""
        mask = causal_mask(inputs.shape[1], inputs.device) & padding_mask(inputs, PAD_ID)
        return self.readout(self.decoder(self.embed(inputs), mask))

    def start_generation(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Generation reads the last `seq_len` tokens (the context the model was trained on)."""
        return self(tokens[:, -self.seq_len :]), tokens


class TransformerMemory(NamedTuple):
    """What the encoder leaves the decoder: its output (N x S x d_model) and the key mask of the source
    (N x 1 x 1 x S, True on source tokens) for cross-attention."""

    states: torch.Tensor
    key_mask: torch.Tensor


class TransformerSeq2Seq(EncoderDecoderModule):
    """The encoder-decoder transformer (book section 7.5) on the sequence tasks (source SEP target EOS,
    split back into source and target by mde_exp.models.seq2seq.EncoderDecoderModule). Source and
    target share one token embedding plus the sinusoidal positional embedding (each sequence counted
    from t = 1). `num_encoder_layers` encoder blocks (self-attention over the source, padding masked)
    read the source; `num_decoder_layers` decoder blocks (causal self-attention over the target so far,
    cross-attention to the encoder's output, feed-forward) produce the next-token logits. Heads, widths,
    dropout, `norm_position` and M as in TransformerLanguageModel.

    Decoding re-reads the prefix (the state is the decoder inputs so far). `last_attention` holds the
    last decoder block's cross-attention weights averaged over the heads (N x L x S); every head of every
    layer is kept inside `mde_exp.nn.attention.keep_attention(model)`.
    """

    def __init__(
        self,
        vocab_size: int,
        seq_len: int = 128,
        d_model: int = 64,
        num_heads: int = 4,
        num_encoder_layers: int = 2,
        num_decoder_layers: int = 2,
        d_ff: int = 256,
        dropout: float = 0.0,
        norm_position: str = "pre",
        M: float = 1e4,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__(vocab_size, optimizer, scheduler)
        _check_sizes(
            seq_len=seq_len, d_model=d_model, num_heads=num_heads, num_encoder_layers=num_encoder_layers,
            num_decoder_layers=num_decoder_layers, d_ff=d_ff,
        )  # fmt: skip
        dropout = _check_dropout(dropout)
        _check_shape(d_model, num_heads, norm_position)
        d_model, num_heads, d_ff = int(d_model), int(num_heads), int(d_ff)
        self.embed = TokenEmbedding(self.vocab_size, d_model, int(seq_len), float(M), dropout)
        self.encoder = Encoder(int(num_encoder_layers), d_model, num_heads, d_ff, dropout, norm_position)
        self.decoder = Decoder(int(num_decoder_layers), d_model, num_heads, d_ff, dropout, norm_position)
        self.readout = nn.Linear(d_model, self.vocab_size)
        self.save_hyperparameters(
            {
                "vocab_size": self.vocab_size,
                "seq_len": int(seq_len),
                "d_model": d_model,
                "num_heads": num_heads,
                "num_encoder_layers": int(num_encoder_layers),
                "num_decoder_layers": int(num_decoder_layers),
                "d_ff": d_ff,
                "dropout": dropout,
                "norm_position": norm_position,
                "M": float(M),
            }
        )

    def encode(self, source: torch.Tensor, source_mask: torch.Tensor) -> TransformerMemory:
        key_mask = source_mask[:, None, None, :]
        return TransformerMemory(self.encoder(self.embed(source), key_mask), key_mask)

    def decode(
        self,
        decoder_inputs: torch.Tensor,
        memory: TransformerMemory,
        source_mask: torch.Tensor,
        state: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits of the new positions `decoder_inputs` (N x L) after the prefix `state` (the decoder
        inputs of earlier calls, or None), and the prefix with them appended."""
        prefix = decoder_inputs if state is None else torch.cat((state, decoder_inputs), dim=1)
        mask = causal_mask(prefix.shape[1], prefix.device) & padding_mask(prefix, PAD_ID)
        cross = self.decoder.blocks[-1].cross_attention
        kept = cross.keep_weights
        cross.keep_weights = True
        hidden = self.decoder(self.embed(prefix), mask, memory.states, memory.key_mask)
        new = decoder_inputs.shape[1]
        self.last_attention = cross.weights[:, :, -new:].mean(dim=1)
        cross.keep_weights = kept
        if not kept:
            cross.weights = None
        return self.readout(hidden[:, -new:]), prefix
