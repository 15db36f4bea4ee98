"""Seconds per training step: mde_exp's run path against a hand-written PyTorch loop, side by side.

Cases (`--cases`): the MLP 784-512-512-10 on MNIST-like in-memory data (mnist_5k's 3,000 training digits,
28 x 28, repeated to `--examples` per epoch, 12,000 by default; MNIST has 60,000) at batch 128 and
512, LeNet-5 (`model=lenet5`, same data) at batch 128, and the small transformer language model
(`model=transformer_lm`, `data=char_corpus`) at batch 64; Adam throughout. mde_exp's path is what
run.py builds from the composed config: the data module, the Lightning module, and a Lightning Trainer with
the run's CSV logger, its log interval and its callbacks (metrics flush, exact resume, preemption,
divergence check); validation and checkpoint writes are left out (the plain loop has neither). The plain
path is a second instance of the same module with the same weights, called as a plain nn.Module (its
forward: the input's memory layout and the network) and trained by a hand-written loop
(forward, loss, zero_grad, backward, step) on the same batches in the same order (the data module's
permutation batcher, seeded alike), with the same Adam settings.

Both paths run in one process, interleaved: one Trainer fits `--repeats` + 1 epochs and a callback runs
one plain epoch at each epoch's end (its time is taken out of the Lightning epoch's), so a busy machine
slows both alike. The first epoch of each warms up; the medians of the others are compared, and each
epoch's mean training loss must agree to 5 decimals (mde_exp's from its metrics.csv). One line per case
gives the ratio mde_exp / plain; the numbers go to benchmarks/results/<device>.json (key loop_overhead).
Targets: ratio <= 1.10 on a CPU; on a GPU <= 1.5 for the batch-128 MLP and <= 1.10 where a plain step
takes 3 ms or more. On CUDA, training steps run under torch.cuda.set_sync_debug_mode("error"): a
host-device synchronisation inside a step (forward, loss, logging calls, backward, optimiser) raises.

    python benchmarks/loop_overhead.py [--cases mlp128,mlp512,lenet5,transformer] [--repeats 6]
                                       [--device cpu|cuda] [--threads N] [--examples 12000]
"""

import argparse
import csv
import logging
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from hydra.utils import instantiate

from mde_exp import store
from mde_exp.callbacks import DivergenceDetector
from mde_exp.data.batches import TensorBatches
from mde_exp.loggers import FlushMetricsBeforeCheckpoint, StoreCSVLogger
from mde_exp.models.rnn import masked_cross_entropy
from mde_exp.preemption import PreemptionCheckpoint
from mde_exp.resume_state import ExactResume
from mde_exp.run import _build_model, _log_interval

sys.path.insert(0, str(Path(__file__).parent))
from benchlib.results import record  # noqa: E402


@dataclass
class Case:
    """A benchmark case: the run's config overrides, and the loss the plain loop computes."""

    overrides: list[str]
    loss: str  # "cross_entropy" on (x, y); "masked" on (inputs, targets, mask)


CASES = {
    "mlp128": Case(["model=mlp", "model.hidden_sizes=[512,512]", "data.batch_size=128"], "cross_entropy"),
    "mlp512": Case(["model=mlp", "model.hidden_sizes=[512,512]", "data.batch_size=512"], "cross_entropy"),
    "lenet5": Case(["model=lenet5", "data.flatten=false", "data.batch_size=128"], "cross_entropy"),
    "transformer": Case(["model=transformer_lm", "data=char_corpus", "data.batch_size=64"], "masked"),
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _loss(kind: str, net: torch.nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
    if kind == "masked":
        inputs, targets, mask = batch
        return masked_cross_entropy(net(inputs), targets, mask)[0]
    x, y = batch
    return F.cross_entropy(net(x), y)


class PlainLoop:
    """The hand-written loop: same network (a copy of the module's weights), batches and optimiser."""

    def __init__(self, case: Case, model: L.LightningModule, twin: L.LightningModule, datamodule, lr: float):
        twin.load_state_dict(model.state_dict())
        self.net = twin  # used as a plain nn.Module: its forward (input layout, network), no Trainer
        self.net.to(model.device if model.device.type != "cpu" else datamodule.splits["train"][0].device)
        self.loss = case.loss
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=lr)
        self.epoch = 0
        self.batches = TensorBatches(
            datamodule.splits["train"], datamodule.batch_size, shuffle=True,
            seed=datamodule.split_seed, epoch=lambda: self.epoch,
        )  # fmt: skip
        self.losses: list[float] = []

    def run_epoch(self, device: torch.device) -> float:
        """Seconds of one epoch; its mean loss (weighted by batch size) goes to self.losses."""
        _sync(device)
        start = time.perf_counter()
        self.net.train()
        total = torch.zeros((), device=device)
        count = 0
        for batch in self.batches:
            with _no_sync(device):
                loss = _loss(self.loss, self.net, batch)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                total += loss.detach() * len(batch[0])
            count += len(batch[0])
        _sync(device)
        seconds = time.perf_counter() - start
        self.losses.append(float(total) / count)
        self.epoch += 1
        return seconds


class _no_sync:
    """torch.cuda.set_sync_debug_mode("error") inside the block on CUDA: a host-device sync raises."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"

    def __enter__(self) -> None:
        if self.cuda:
            torch.cuda.set_sync_debug_mode("error")

    def __exit__(self, *exc) -> None:
        if self.cuda:
            torch.cuda.set_sync_debug_mode("default")


class Interleave(L.Callback):
    """Times each Lightning epoch (from its start to the next one's, or to the fit's end, less the plain
    epoch run in between) and runs one plain epoch at each epoch's end; on CUDA, checks each training
    step for host-device synchronisations."""

    def __init__(self, plain: PlainLoop, device: torch.device) -> None:
        self.plain, self.device = plain, device
        self.lightning: list[float] = []
        self.plain_seconds: list[float] = []
        self.started: float | None = None
        self.guard = _no_sync(device)

    def _close(self) -> None:
        _sync(self.device)
        if self.started is not None:
            self.lightning.append(time.perf_counter() - self.started - self.plain_seconds[-1])

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._close()
        _sync(self.device)
        self.started = time.perf_counter()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.guard.__enter__()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.guard.__exit__()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.plain_seconds.append(self.plain.run_epoch(self.device))

    def on_train_end(self, trainer, pl_module) -> None:
        self._close()


def measure(name: str, case: Case, args: argparse.Namespace, folder: Path) -> dict:
    device = torch.device(args.device)
    cfg = store.compose(
        [
            *(["data=mnist_5k", f"data.train_size={args.train_size}"] if case.loss != "masked" else []),
            *case.overrides,
            f"trainer.accelerator={'gpu' if device.type == 'cuda' else 'cpu'}", "logger=none",
            f"store.root={folder}",
        ]
    )  # fmt: skip
    L.seed_everything(int(cfg.seed), verbose=False)
    datamodule = instantiate(cfg.data)
    model = _build_model(cfg, datamodule)  # also sets the data module up (fit)
    twin = _build_model(cfg, datamodule)
    if case.loss != "masked" and args.examples > len(datamodule.splits["train"][0]):
        x, y = datamodule.splits["train"]  # repeated to MNIST-like epochs: per-epoch costs amortised
        repeat = -(-args.examples // len(x))
        datamodule.splits["train"] = (x.repeat(repeat, *[1] * (x.dim() - 1))[: args.examples],
                                      y.repeat(repeat)[: args.examples])  # fmt: skip
    steps = _log_interval(cfg.trainer.get("log_every_n_steps", 50), datamodule)
    batches = len(datamodule.train_dataloader())
    if device.type == "cuda":
        datamodule.splits = {k: tuple(t.to(device) for t in v) for k, v in datamodule.splits.items()}
    plain = PlainLoop(case, model, twin, datamodule, float(cfg.optimizer.lr))
    timer = Interleave(plain, device)
    run_dir = folder / name
    trainer = instantiate(
        cfg.trainer,
        max_epochs=args.repeats + 1,
        log_every_n_steps=steps,
        logger=[StoreCSVLogger(run_dir)],
        callbacks=[
            timer, FlushMetricsBeforeCheckpoint(), ExactResume(),
            PreemptionCheckpoint(run_dir / "checkpoints" / "last.ckpt"), DivergenceDetector(),
        ],
        limit_val_batches=0,
        num_sanity_val_steps=0,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )  # fmt: skip
    trainer.fit(model, datamodule=datamodule)
    with open(run_dir / "metrics.csv") as f:
        ours = [float(r["train/loss_epoch"]) for r in csv.DictReader(f) if r.get("train/loss_epoch")]
    assert len(ours) == len(plain.losses), (ours, plain.losses)
    for epoch, (a, b) in enumerate(zip(ours, plain.losses, strict=True)):
        assert round(a, 5) == round(b, 5), f"{name}: epoch {epoch} loss {a:.7f} (mde_exp) != {b:.7f} (plain)"
    ms = statistics.median(timer.lightning[1:]) / batches * 1e3
    plain_ms = statistics.median(timer.plain_seconds[1:]) / batches * 1e3
    return {
        "ms_per_step": round(ms, 3),
        "plain_ms_per_step": round(plain_ms, 3),
        "ratio": round(ms / plain_ms, 3),
        "ratio_of_minima": round(min(timer.lightning[1:]) / min(timer.plain_seconds[1:]), 3),
        "steps_per_epoch": batches,
        "batch_size": int(cfg.data.batch_size),
        "epochs": args.repeats,
    }


def target(name: str, device: torch.device, plain_ms: float) -> float | None:
    if device.type == "cpu":
        return 1.10
    if name == "mlp128":
        return 1.5
    return 1.10 if plain_ms >= 3 else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of: {', '.join(CASES)}")
    parser.add_argument("--repeats", type=int, default=6, help="timed epochs per case (after one warm-up)")
    parser.add_argument("--train-size", type=int, default=3000, help="mnist_5k training digits")
    parser.add_argument(
        "--examples", type=int, default=12000,
        help="training examples per epoch of the mnist_5k cases: its digits repeated (MNIST has 60,000)",
    )  # fmt: skip
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--no-record", action="store_true", help="do not write benchmarks/results")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for name in ("lightning.pytorch", "lightning.fabric", "mde_exp"):
        logging.getLogger(name).setLevel(logging.WARNING)
    device = torch.device(args.device)
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for name in args.cases.split(","):
            r = measure(name, CASES[name], args, Path(folder))
            r["target"] = target(name, device, r["plain_ms_per_step"])
            results[name] = r
            verdict = "" if r["target"] is None else (" ok" if r["ratio"] <= r["target"] else " OVER TARGET")
            print(
                f"loop_overhead {name} ({args.device}, {args.threads} threads): mde_exp "
                f"{r['ms_per_step']:.2f} ms/step, plain {r['plain_ms_per_step']:.2f} ms/step, "
                f"ratio {r['ratio']:.2f} (target <= {r['target']}){verdict}; ratio of the fastest epochs "
                f"{r['ratio_of_minima']:.2f}",
                flush=True,
            )
    if not args.no_record:
        record("loop_overhead", {"threads": args.threads, "cases": results}, device)


if __name__ == "__main__":
    main()
