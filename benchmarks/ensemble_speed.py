"""Seconds to train 16 seeds of the MNIST-sized MLP as one vectorised ensemble against 16 runs in a row.

Both sides go through mde_exp's run path with the same configuration: `model=mlp` with hidden sizes
512-512 (784-512-512-10) on the 3,000 training digits of mnist_5k, batch 128, Adam, `--epochs` epochs,
validation every epoch, test at the end, the store's files (metrics.csv, summary.json, last.ckpt) and
no W&B (`logger=none`). Sequential: `run.execute` for seeds 0..15, one after another (a Lightning
Trainer each). Ensemble: `ensemble.execute_ensemble` with `ensemble.size=16` (mde_exp.ensemble: one
vmapped model, then 16 run folders). Each side gets a fresh store; a one-epoch run first warms up
imports and the data cache for both. The ratio sequential / ensemble of wall time is printed, and of
this process's CPU time (steadier when other jobs share the machine); the numbers go to
benchmarks/results/<device>.json (key ensemble_speed; `--hidden` other than 512,512: ensemble_speed_h<sizes>).
`--hidden 64,64` shows a small MLP, whose steps are short enough that per-run overhead dominates.

    python benchmarks/ensemble_speed.py [--device cpu|cuda] [--epochs 3] [--seeds 16] [--threads N]
                                        [--hidden 512,512]
"""

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import torch

from mde_exp import store
from mde_exp.ensemble import execute_ensemble
from mde_exp.run import execute

sys.path.insert(0, str(Path(__file__).parent))
from benchlib.results import record  # noqa: E402

TARGET = {"cpu": 2.0, "cuda": 5.0}


def overrides(device: str, epochs: int, root: Path, hidden: str = "512,512") -> list[str]:
    return [
        "data=mnist_5k",
        "model=mlp",
        f"model.hidden_sizes=[{hidden}]",
        "data.batch_size=128",
        "optimizer=adam",
        f"trainer={'gpu' if device == 'cuda' else 'cpu'}",
        f"profile.max_epochs={epochs}",
        "logger=none",
        f"store.root={root}",
    ]


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--hidden", default="512,512", help="hidden layer sizes, comma-separated")
    parser.add_argument("--no-record", action="store_true", help="do not write benchmarks/results")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        execute(store.compose([*overrides(args.device, 1, tmp / "warm")]))  # imports, data cache

        _sync(args.device)
        started, cpu = time.perf_counter(), time.process_time()
        results = execute_ensemble(
            store.compose(
                [
                    *overrides(args.device, args.epochs, tmp / "ens", args.hidden),
                    f"ensemble.size={args.seeds}",
                ]
            )
        )
        _sync(args.device)
        t_ens, c_ens = time.perf_counter() - started, time.process_time() - cpu

        started, cpu = time.perf_counter(), time.process_time()
        alone = [
            execute(
                store.compose([*overrides(args.device, args.epochs, tmp / "seq", args.hidden), f"seed={s}"])
            )
            for s in range(args.seeds)
        ]
        _sync(args.device)
        t_seq, c_seq = time.perf_counter() - started, time.process_time() - cpu
        gap = max(
            abs(a.metrics["val/loss"] - b.metrics["val/loss"]) for a, b in zip(results, alone, strict=True)
        )
    ratio = t_seq / t_ens
    print(
        f"ensemble {args.seeds} seeds: {t_ens:.1f} s vs sequential {t_seq:.1f} s: {ratio:.2f}x "
        f"(target >= 2x on CPU, >= 5x on GPU)"
    )
    print(
        f"CPU time of this process (steadier on a shared machine): ensemble {c_ens:.1f} s vs sequential "
        f"{c_seq:.1f} s: {c_seq / c_ens:.2f}x"
    )
    print(f"largest |val/loss| difference between a member and its run trained alone: {gap:.2e}")
    if not args.no_record:
        path = record(
            "ensemble_speed"
            if args.hidden == "512,512"
            else f"ensemble_speed_h{args.hidden.replace(',', '-')}",
            {
                "seeds": args.seeds,
                "epochs": args.epochs,
                "model": f"mlp 784-{args.hidden.replace(',', '-')}-10, mnist_5k, batch 128, adam",
                "path": "both through mde_exp's run path (store files, validation, test; logger=none)",
                "threads": torch.get_num_threads(),
                "ensemble_s": round(t_ens, 2),
                "sequential_s": round(t_seq, 2),
                "ratio": round(ratio, 2),
                "ensemble_cpu_s": round(c_ens, 2),
                "sequential_cpu_s": round(c_seq, 2),
                "cpu_ratio": round(c_seq / c_ens, 2),
                "target": TARGET[args.device],
                "max_val_loss_gap": gap,
            },
            args.device,
        )
        print(f"recorded in {path}")


if __name__ == "__main__":
    main()
