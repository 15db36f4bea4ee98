"""EncoderDecoderModule: the encoder-decoder models of book section 7.4 (encoders, decoders and the attention
mechanism) trained on the sequence tasks' framed batches, with teacher forcing and greedy decoding."""

from typing import Any, NamedTuple

import torch
from torch import nn

from mde_exp.data.sequences import EOS_ID, PAD_ID, SEP_ID, source_lengths
from mde_exp.models.base import EVAL_STAGES, BookModule, OptimizerFactory, SchedulerFactory
from mde_exp.models.rnn import (
    Batch,
    MaskedTokenMean,
    log_token_metrics,
    masked_cross_entropy,
    token_accumulators,
)


class FramedSplit(NamedTuple):
    """A framed batch `source SEP target EOS` split back into what an encoder-decoder reads.

    source (N x S token ids, PAD after each source) and source_mask (N x S, True on source tokens);
    decoder_inputs (N x L: SEP, then the target: teacher forcing), decoder_targets (N x L: the target,
    then EOS) and decoder_mask (N x L, True on the target tokens and EOS); lengths (N, the source
    lengths). S is the longest source of the batch; L the longest target + 1 when the mask is known,
    otherwise every position after the earliest SEP (T - min(lengths))."""

    source: torch.Tensor
    source_mask: torch.Tensor
    decoder_inputs: torch.Tensor
    decoder_targets: torch.Tensor
    decoder_mask: torch.Tensor
    lengths: torch.Tensor


def split_framed(
    inputs: torch.Tensor, targets: torch.Tensor | None = None, mask: torch.Tensor | None = None
) -> FramedSplit:
    """Split causal-LM framed `inputs` (N x T; with their next-token `targets` and loss `mask`, as the
    sequence data modules give them) into source and decoder sequences (see FramedSplit).

    Row i with source length n (the index of its SEP) gives source `inputs[i, :n]`, decoder inputs
    `inputs[i, n:]` and decoder targets `targets[i, n:]`, each shifted to start at position 0 and
    padded with PAD; without `targets` the decoder targets are the decoder inputs shifted by one.
    The two sizes S and L are read back to the host once (one synchronisation per batch)."""
    n_rows, width = inputs.shape
    lengths = source_lengths(inputs).clamp(min=1)
    if mask is not None:
        target_lengths = mask.sum(dim=1)
        longest_source, longest_target = torch.stack([lengths.max(), target_lengths.max()]).tolist()
    else:
        longest_source, shortest = torch.stack([lengths.max(), lengths.min()]).tolist()
        longest_target = width - shortest
        target_lengths = width - lengths
    columns = torch.arange(max(longest_source, longest_target), device=inputs.device)
    source_columns = columns[:longest_source]
    source_mask = source_columns < lengths[:, None]
    source = torch.where(source_mask, inputs[:, :longest_source], PAD_ID)
    decoder_columns = columns[:longest_target]
    decoder_mask = decoder_columns < target_lengths[:, None]
    index = (lengths[:, None] + decoder_columns).clamp(max=width - 1)
    decoder_inputs = torch.where(decoder_mask, inputs.gather(1, index), PAD_ID)
    if targets is None:
        following = torch.cat([inputs, inputs.new_full((n_rows, 1), PAD_ID)], dim=1)
        decoder_targets = torch.where(decoder_mask, following.gather(1, index + 1), PAD_ID)
    else:
        decoder_targets = torch.where(decoder_mask, targets.gather(1, index), PAD_ID)
    return FramedSplit(source, source_mask, decoder_inputs, decoder_targets, decoder_mask, lengths)


def exact_matches(generated: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """N booleans: whether each generated sequence (N x G token ids, PAD after its EOS) is its target
    (N x L: target tokens, then EOS, where `mask` is True): every target token and the EOS in place."""
    width = targets.shape[1]
    generated = generated[:, :width]
    if generated.shape[1] < width:
        pad = generated.new_full((len(generated), width - generated.shape[1]), PAD_ID)
        generated = torch.cat([generated, pad], dim=1)
    return ((generated == targets) | ~mask).all(dim=1)


class EncoderDecoderModule(BookModule):
    """Encoder-decoder (book section 7.4) on the sequence tasks' (inputs, targets, mask) batches, which
    frame each pair as the causal sequence `source SEP target EOS` (mde_exp.data.sequences): each
    batch is split back (`split_framed`) into a padded source, which the encoder reads, and the
    decoder's inputs (SEP, then the target: teacher forcing) and targets (the target, then EOS).

    Subclasses implement
      encode(source, source_mask) -> memory
          source: N x S token ids, source_mask: N x S bool (True on source tokens, False on PAD);
          memory: whatever decode needs (encoder states, final state, ...), passed through unchanged.
      decode(decoder_inputs, memory, source_mask, state=None) -> (logits, state)
          decoder_inputs: N x L token ids; logits: N x L x V, position j seeing only decoder inputs
          0..j (and the whole source); state: None to start from the encoder, or the state that an
          earlier call returned, to continue decoding where it stopped (incremental decoding: calling
          with inputs[:, :k], then inputs[:, k:] and the returned state, gives the logits of one
          call with all of inputs). A model that re-reads its whole prefix may keep the prefix as
          its state and return the logits of the new positions only.
    and may set `self.last_attention` in decode (N x L x S attention weights of the positions just
    decoded); `greedy_decode` joins them over its steps, so that after it the attribute holds the
    weights of the whole decoded output.

    The loss is the cross-entropy over the target tokens and EOS (teacher forcing). Logged like
    CausalLanguageModule: train/loss per step and per epoch; per epoch <stage>/loss and <stage>/acc
    (per target token, exact over the split) for train, val, train_eval and test; and for val,
    train_eval and test <stage>/exact, the fraction of sequences that greedy decoding reproduces
    exactly (every target token and the EOS in its place).
    """

    def __init__(
        self,
        vocab_size: int,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__(optimizer, scheduler)
        if int(vocab_size) < 4:
            raise ValueError(f"vocab_size={vocab_size}: needs the 3 special tokens and at least one symbol")
        self.vocab_size = int(vocab_size)
        self.last_attention: torch.Tensor | None = None
        self.token_loss, self.token_acc = token_accumulators()
        self.sequence_exact = nn.ModuleDict({f"{s}_exact": MaskedTokenMean() for s in (*EVAL_STAGES, "test")})

    # -- what subclasses provide -------------------------------------------------------------
    def encode(self, source: torch.Tensor, source_mask: torch.Tensor) -> Any:
        raise NotImplementedError

    def decode(
        self, decoder_inputs: torch.Tensor, memory: Any, source_mask: torch.Tensor, state: Any = None
    ) -> tuple[torch.Tensor, Any]:
        raise NotImplementedError

    # -- the model -----------------------------------------------------------------------------
    def teacher_forced(
        self, source: torch.Tensor, source_mask: torch.Tensor, decoder_inputs: torch.Tensor
    ) -> torch.Tensor:
        """N x L x V next-token logits of the decoder fed `decoder_inputs` (teacher forcing)."""
        return self.decode(decoder_inputs, self.encode(source, source_mask), source_mask)[0]

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """The causal-LM view of framed `inputs` (N x T): N x T x V logits, the decoder's at the positions
        from SEP on (each predicting the next token of `target EOS`) and zeros at the source positions,
        which the encoder reads and no loss counts."""
        split = split_framed(inputs)
        logits = self.teacher_forced(split.source, split.source_mask, split.decoder_inputs)
        out = logits.new_zeros(*inputs.shape, logits.shape[-1])
        width = inputs.shape[1]
        columns = split.lengths[:, None] + torch.arange(logits.shape[1], device=inputs.device)
        inside = (columns < width) & split.decoder_mask
        rows = torch.arange(len(inputs), device=inputs.device)[:, None].expand_as(columns)
        out[rows[inside], columns[inside]] = logits[inside]
        return out

    @torch.no_grad()
    def greedy_decode(self, source: torch.Tensor, source_mask: torch.Tensor, max_len: int) -> torch.Tensor:
        """N x max_len token ids: from SEP, the most likely next token at each step, fed back; after a
        sequence's first EOS, PAD. Runs in eval mode (restoring the mode after). With an attending
        model, `self.last_attention` then holds the N x max_len x S weights of every output token."""
        if int(max_len) < 1:
            raise ValueError(f"max_len={max_len}: must be a positive integer")
        was_training = self.training
        self.eval()
        self.last_attention = None
        memory = self.encode(source, source_mask)
        token = source.new_full((len(source), 1), SEP_ID)
        finished = torch.zeros(len(source), dtype=torch.bool, device=source.device)
        state, out, weights = None, [], []
        for _ in range(int(max_len)):
            logits, state = self.decode(token, memory, source_mask, state)
            if self.last_attention is not None:
                weights.append(self.last_attention)
            token = logits[:, -1].argmax(dim=-1, keepdim=True)
            token = torch.where(finished[:, None], PAD_ID, token)
            finished = finished | (token[:, 0] == EOS_ID)
            out.append(token)
        if weights:
            self.last_attention = torch.cat(weights, dim=1)
        self.train(was_training)
        return torch.cat(out, dim=1)

    # -- training and evaluation --------------------------------------------------------------
    def setup(self, stage: str) -> None:
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        splits = getattr(datamodule, "splits", None)
        if splits and "train" in splits and not bool((splits["train"][0] == SEP_ID).any(dim=1).all()):
            raise ValueError(
                f"model {type(self).__name__} reads `source SEP target EOS` sequences, and "
                f"{type(datamodule).__name__} gives sequences without SEP: use a sequence task "
                "(data=copy_task, reverse_task, add_task, memory_task)"
            )

    def _step(self, batch: Batch, stage: str) -> torch.Tensor:
        inputs, targets, mask = batch
        split = split_framed(inputs, targets, mask)
        logits = self.teacher_forced(split.source, split.source_mask, split.decoder_inputs)
        loss, per_token = masked_cross_entropy(logits, split.decoder_targets, split.decoder_mask)
        log_token_metrics(self, stage, loss, per_token, logits, split.decoder_targets, split.decoder_mask)
        if stage != "train":
            generated = self.greedy_decode(split.source, split.source_mask, split.decoder_targets.shape[1])
            exact = self.sequence_exact[f"{stage}_exact"]
            matches = exact_matches(generated, split.decoder_targets, split.decoder_mask)
            exact.update(matches, torch.ones_like(matches))
            self.log(f"{stage}/exact", exact, on_step=False, on_epoch=True, add_dataloader_idx=False)
        return loss
