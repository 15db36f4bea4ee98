"""Batches per second: mde_exp's device-resident permutation batching against a DataLoader, one process.

Both paths serve the same tensors (MNIST-sized by default: 60,000 x 784 floats and their labels) in
shuffled mini-batches and deliver each batch on the training device; the DataLoader path is what a
plain PyTorch loop would write (TensorDataset, shuffle=True, pin_memory and a copy to the GPU when
there is one). Each path runs a warm-up epoch and then `--epochs` timed epochs, each batch touched
(summed) so that nothing is skipped. The paths alternate epoch by epoch and the medians are
compared, so that a busy machine slows both alike; the ratio is printed. Target on CPU: at least
3x for batch 128. On a CPU shared with other busy processes, torch's intra-op threads (the gather of
a batch) contend for the cores and the first path suffers most; `--threads 1` shows that case.

    python benchmarks/data_throughput.py [--batch-size 128] [--epochs 5] [--device cpu|cuda] [--threads N]
"""

import argparse
import statistics
import time

import torch
from torch.utils.data import DataLoader, TensorDataset

from mde_exp.data.augment import random_crop_flip
from mde_exp.data.batches import TensorBatches


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _epoch_rate(batches, device: torch.device, to_device: bool) -> float:
    """Batches per second of one pass over `batches`, each batch moved to `device` if asked and touched."""
    _sync(device)
    start, count = time.perf_counter(), 0
    total = torch.zeros((), device=device)
    for x, y in batches:
        if to_device:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        total += x[:, 0].sum() + y[0]
        count += 1
    _sync(device)
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=60_000)
    parser.add_argument("--features", type=int, default=784)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    x = torch.rand(args.examples, args.features)
    y = torch.randint(0, 10, (args.examples,))

    epoch = [0]
    ours = TensorBatches((x.to(device), y.to(device)), args.batch_size, shuffle=True, epoch=lambda: epoch[0])
    loader = DataLoader(
        TensorDataset(x, y), batch_size=args.batch_size, shuffle=True, pin_memory=device.type == "cuda"
    )
    rates: dict[str, list[float]] = {"ours": [], "plain": []}
    for round_ in range(args.epochs + 1):  # alternate the two paths; round 0 warms both up
        for key, batches, move in (("ours", ours, False), ("plain", loader, True)):
            epoch[0] = round_
            rate = _epoch_rate(batches, device, to_device=move)
            if round_:
                rates[key].append(rate)
    fast, plain = statistics.median(rates["ours"]), statistics.median(rates["plain"])
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(
        f"device: {name} ({args.threads} torch threads); {args.examples} x {args.features} floats, "
        f"batch {args.batch_size}"
    )
    print(f"  mde_exp TensorBatches (on device):  {fast:10.0f} batches/s")
    print(f"  DataLoader(TensorDataset, shuffle): {plain:10.0f} batches/s")
    print(f"  ratio: {fast / plain:.1f}x")

    images = torch.rand(args.batch_size, 3, 32, 32, device=device)
    _sync(device)
    start, n = time.perf_counter(), 0
    while time.perf_counter() - start < 1.0:
        random_crop_flip(images)
        n += 1
    _sync(device)
    rate = n / (time.perf_counter() - start)
    print(f"  crop_flip augmentation of {args.batch_size} CIFAR-sized images: {rate:.0f} batches/s")


if __name__ == "__main__":
    main()
