"""RecurrentLanguageModel: the recurrent networks of book chapter 7 (sequence models: the basic RNN, LSTM
and GRU) as causal language models, with the masked loss and metrics that any causal language model shares."""

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import Metric

from mde_exp.data.sequences import PAD_ID
from mde_exp.models.base import EVAL_STAGES, BookModule, OptimizerFactory, SchedulerFactory
from mde_exp.nn.recurrent import make_recurrent

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class MaskedTokenMean(Metric):
    """The mean of per-token values over the positions where a mask is True, accumulated exactly over
    an epoch (sums of value and count, no host-device synchronisation on update)."""

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        self.add_state("total", default=torch.tensor(0.0, dtype=torch.float32), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0.0, dtype=torch.float32), dist_reduce_fx="sum")

    def update(self, values: torch.Tensor, mask: torch.Tensor) -> None:
        self.total += (values.detach().float() * mask).sum()
        self.count += mask.sum()

    def compute(self) -> torch.Tensor:
        return self.total / self.count


def masked_cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The cross-entropy of N x T x V `logits` against N x T `targets`, averaged over the positions where
    `mask` is True, and the N x T per-position cross-entropies (computed everywhere: no host sync)."""
    per_token = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
    return (per_token * mask).sum() / mask.sum().clamp(min=1), per_token


def token_accumulators() -> tuple[nn.ModuleDict, nn.ModuleDict]:
    """The per-token accumulators a sequence model logs from: the loss of each evaluated split (the
    training loss is logged from the step's own) and the accuracy of every split."""
    loss = nn.ModuleDict({f"{s}_loss": MaskedTokenMean() for s in (*EVAL_STAGES, "test")})
    acc = nn.ModuleDict({f"{s}_acc": MaskedTokenMean() for s in ("train", *EVAL_STAGES, "test")})
    return loss, acc


def log_token_metrics(
    module: BookModule,
    stage: str,
    loss: torch.Tensor,
    per_token: torch.Tensor,
    logits: torch.Tensor,
    targets: torch.Tensor,
    mask: torch.Tensor,
) -> None:
    """Log train/loss per step and epoch, or <stage>/loss per epoch, and <stage>/acc per epoch (next-token
    accuracy over the masked positions), from `module`'s token_loss and token_acc accumulators."""
    acc = module.token_acc[f"{stage}_acc"]
    acc.update(logits.argmax(dim=-1) == targets, mask)
    if stage == "train":
        module.log_loss("train/loss", loss, len(targets), on_step=True)  # epoch mean reduced across DDP ranks
    else:
        mean_loss = module.token_loss[f"{stage}_loss"]
        mean_loss.update(per_token, mask)
        module.log(f"{stage}/loss", mean_loss, on_step=False, on_epoch=True, add_dataloader_idx=False)
    module.log(f"{stage}/acc", acc, on_step=False, on_epoch=True, add_dataloader_idx=False)


def next_token(logits: torch.Tensor, temperature: float, generator: torch.Generator | None) -> torch.Tensor:
    """N x 1 next tokens from N x V logits: the most likely when `temperature` is 0, otherwise a draw
    from softmax(logits / temperature)."""
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    probs = torch.softmax(logits / temperature, dim=-1)
    return torch.multinomial(probs.cpu(), 1, generator=generator).to(logits.device)


class CausalLanguageModule(BookModule):
    """Next-token prediction on (inputs, targets, mask) batches: subclasses implement `forward`,
    mapping N x T token ids to N x T x V logits, position t seeing only tokens 0..t.

    The loss is the cross-entropy averaged over the masked positions. Logs train/loss per step and
    per epoch (the divergence detector reads train/loss_epoch) and, per epoch only, <stage>/loss and
    <stage>/acc (next-token accuracy over masked positions, exact over the split) for train, val,
    train_eval and test.

    `generate` continues prompts; subclasses may override `start_generation` and `continue_generation`
    (by default each step re-reads everything generated so far).
    """

    def __init__(
        self,
        vocab_size: int,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__(optimizer, scheduler)
        if int(vocab_size) < 2:
            raise ValueError(f"vocab_size={vocab_size}: needs at least 2 tokens")
        self.vocab_size = int(vocab_size)
        self.token_loss, self.token_acc = token_accumulators()

    def _step(self, batch: Batch, stage: str) -> torch.Tensor:
        inputs, targets, mask = batch
        logits = self(inputs)
        loss, per_token = masked_cross_entropy(logits, targets, mask)
        log_token_metrics(self, stage, loss, per_token, logits, targets, mask)
        return loss

    def start_generation(self, tokens: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """Logits (N x T x V) for the prompts `tokens`, and the state a continuation needs."""
        return self(tokens), tokens

    def continue_generation(self, token: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """Logits after appending `token` (N x 1) to what `state` holds, and the new state."""
        return self.start_generation(torch.cat((state, token), dim=1))

    @torch.no_grad()
    def generate(
        self,
        prompt_ids: torch.Tensor,
        steps: int,
        temperature: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Continue each prompt (N x P token ids, or one prompt of P ids) by `steps` tokens: the most
        likely next token when `temperature` is 0, otherwise a draw from softmax(logits / temperature).
        Returns the prompts with their continuations (N x (P + steps), or P + steps)."""
        if temperature < 0:
            raise ValueError(f"temperature={temperature}: must be >= 0")
        was_training = self.training
        self.eval()
        single = prompt_ids.dim() == 1
        tokens = (prompt_ids[None] if single else prompt_ids).to(self.device, torch.long)
        logits, state = self.start_generation(tokens)
        out = [tokens]
        for _ in range(int(steps)):
            nxt = next_token(logits[:, -1], temperature, generator)
            out.append(nxt)
            logits, state = self.continue_generation(nxt, state)
        self.train(was_training)
        result = torch.cat(out, dim=1)
        return result[0] if single else result


class RecurrentLanguageModel(CausalLanguageModule):
    """Recurrent networks of book chapter 7 (sequence models): token embedding -> a stack of
    `num_layers` recurrent layers of `hidden_size` units (`cell`: rnn, the basic tanh recurrent
    network; lstm, long short-term memory; gru, the gated recurrent unit) -> a linear map to
    next-token logits over the `vocab_size` tokens (PAD's embedding is held at zero).

    `implementation`: "torch" runs torch's nn.RNN / nn.LSTM / nn.GRU (fused kernels), "book" the cells
    written out from the book's equations (mde_exp.nn.recurrent); from the same seed both start from the
    same weights and compute the same function. One direction only: a causal model reads left to right.
    `forget_bias` (LSTM only): initial forget-gate bias b and input-gate bias -b, so that the cells start
    out keeping what they hold (mde_exp.nn.recurrent.open_forget_gates); None: torch's initialisation."""

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int = 32,
        hidden_size: int = 128,
        num_layers: int = 1,
        cell: str = "lstm",
        implementation: str = "torch",
        forget_bias: float | None = None,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__(vocab_size, optimizer, scheduler)
        if cell not in CELLS:
            raise ValueError(f"cell={cell!r}: choose one of {', '.join(CELLS)}")
        for name, value in (
            ("embedding_dim", embedding_dim),
            ("hidden_size", hidden_size),
            ("num_layers", num_layers),
        ):
            if int(value) < 1:
                raise ValueError(f"{name}={value}: must be a positive integer")
        self.embedding = nn.Embedding(self.vocab_size, int(embedding_dim), padding_idx=PAD_ID)
        self.recurrent = make_recurrent(
            cell,
            int(embedding_dim),
            int(hidden_size),
            int(num_layers),
            implementation=implementation,
            forget_bias=forget_bias,
        )
        self.readout = nn.Linear(int(hidden_size), self.vocab_size)
        self.save_hyperparameters(
            {
                "vocab_size": self.vocab_size,
                "embedding_dim": int(embedding_dim),
                "hidden_size": int(hidden_size),
                "num_layers": int(num_layers),
                "cell": cell,
                "implementation": implementation,
                "forget_bias": forget_bias,
            }
        )

    def run(self, inputs: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """Logits (N x T x V) for token ids `inputs` (N x T), starting from the recurrent `state`
        (None: zeros), and the state after the last position."""
        hidden, state = self.recurrent(self.embedding(inputs), state)
        return self.readout(hidden), state

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.run(inputs)[0]

    def start_generation(self, tokens: torch.Tensor) -> tuple[torch.Tensor, Any]:
        return self.run(tokens)

    def continue_generation(self, token: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        return self.run(token, state)
