"""Images per second of a training epoch of the course ConvNet: mde_exp's Lightning path against a plain loop.

The course's network (conv 5x5x8 - maxpool - conv 3x3x16 - maxpool - dense 400 -> 10, `model=convnet`)
on the 3,000 training digits of mnist_5k (as 1 x 28 x 28 images), Adam, batch 128 by default. mde_exp's
path is what a run trains with: the composed config's ConvNet (a Lightning module logging loss and
accuracy per epoch), its data module (tensors on the device, batched by a per-epoch permutation), and a
Lightning Trainer from the trainer config with the run's CSV logger and divergence check; validation and
checkpoint writes are left out (the plain loop has neither). The plain path is a hand-written PyTorch
loop over the same tensors (on the device, indexed by a permutation) with an identical network. Each path
runs a warm-up epoch, then `--epochs` timed epochs; the paths alternate epoch by epoch and the medians
are compared, so that a busy machine slows both alike; the ratio is printed.

`--channels-last` stores weights and batches channels-last (`model.memory_format=channels_last`) and
`--bf16` trains under bfloat16 autocast (`++trainer.precision=bf16-mixed`; torch.autocast in the plain
loop): both are meant for a GPU's tensor cores, and work on the CPU too.

    python benchmarks/cnn_throughput.py [--batch-size 128] [--epochs 5] [--device cpu|cuda]
                                        [--channels-last] [--bf16] [--threads N]
"""

import argparse
import contextlib
import logging
import statistics
import tempfile
import time
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from hydra.utils import instantiate

from mde_exp import store
from mde_exp.callbacks import DivergenceDetector
from mde_exp.loggers import StoreCSVLogger
from mde_exp.validate import model_inputs_for


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


class EpochTimer(L.Callback):
    """Seconds of each training epoch (from its first batch's start to its end, device synchronised)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.seconds: list[float] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        _sync(self.device)
        self.started = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        _sync(self.device)
        self.seconds.append(time.perf_counter() - self.started)


def _build(cfg, datamodule):
    return instantiate(
        cfg.model,
        **model_inputs_for(cfg.model, datamodule.model_inputs()),
        optimizer=instantiate(cfg.optimizer),
        _convert_="all",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--channels-last", action="store_true", help="model.memory_format=channels_last")
    parser.add_argument(
        "--bf16", action="store_true", help="bfloat16 autocast (trainer.precision=bf16-mixed)"
    )
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    device = torch.device(args.device)
    fmt = "channels_last" if args.channels_last else "contiguous"
    overrides = [
        "model=convnet",
        "data=mnist_5k",
        "data.flatten=false",
        f"data.batch_size={args.batch_size}",
        f"model.memory_format={fmt}",
        f"trainer.accelerator={'gpu' if device.type == 'cuda' else 'cpu'}",
        "logger=none",
    ]
    if args.bf16:
        overrides.append("++trainer.precision=bf16-mixed")
    cfg = store.compose(overrides)
    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    torch.manual_seed(0)
    model = _build(cfg, datamodule)  # mde_exp's Lightning module
    torch.manual_seed(0)
    net = _build(cfg, datamodule).net.to(device)  # the same network as a plain nn.Module
    x, y = (t.to(device) for t in datamodule.splits["train"])
    x = x.contiguous(memory_format=torch.channels_last if args.channels_last else torch.contiguous_format)
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg.optimizer.lr)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if args.bf16 else contextlib.nullcontext()

    def plain_epoch() -> float:
        _sync(device)
        start = time.perf_counter()
        net.train()
        order = torch.randperm(len(x), device=device)
        for i in range(0, len(x), args.batch_size):
            batch = order[i : i + args.batch_size]
            with autocast:
                loss = F.cross_entropy(net(x[batch]), y[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        _sync(device)
        return time.perf_counter() - start

    timer = EpochTimer(device)
    steps = -(-len(x) // args.batch_size)
    with tempfile.TemporaryDirectory() as folder:

        def lightning_epoch() -> float:
            trainer = instantiate(
                cfg.trainer,
                max_epochs=1,
                log_every_n_steps=min(cfg.trainer.log_every_n_steps, steps),  # as a run sets it
                logger=StoreCSVLogger(Path(folder)),
                callbacks=[timer, DivergenceDetector()],
                limit_val_batches=0,
                num_sanity_val_steps=0,
                enable_checkpointing=False,
                enable_progress_bar=False,
            )
            trainer.fit(model, datamodule=datamodule)
            return timer.seconds[-1]

        rates: dict[str, list[float]] = {"mde_exp": [], "plain": []}
        for round_ in range(args.epochs + 1):  # alternate the two paths; round 0 warms both up
            for key, epoch in (("mde_exp", lightning_epoch), ("plain", plain_epoch)):
                rate = len(x) / epoch()
                if round_:
                    rates[key].append(rate)
    ours, plain = statistics.median(rates["mde_exp"]), statistics.median(rates["plain"])
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    options = ", ".join([fmt, "bf16-mixed" if args.bf16 else "float32"])
    print(
        f"device: {name} ({args.threads} torch threads); course ConvNet on {len(x)} mnist_5k digits, "
        f"batch {args.batch_size}, {options}; median of {args.epochs} epochs"
    )
    print(f"  mde_exp (Lightning Trainer, ConvNet module):  {ours:10.0f} images/s")
    print(f"  plain PyTorch loop, same tensors and net:     {plain:10.0f} images/s")
    print(f"  ratio mde_exp / plain: {ours / plain:.2f}")


if __name__ == "__main__":
    main()
