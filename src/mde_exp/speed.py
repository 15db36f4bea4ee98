"""The run's speed options (conf/speed): compiled forward passes, TF32 matrix products and the Trainer's
numeric precision. Off by default (conf/speed/default.yaml); conf/speed/gpu.yaml turns them on for a GPU.

- `compile`: torch.compile on the model's network (its `net` submodule, or the whole module's forward).
  It compiles the forward method of the network's class, so a sweep's later jobs, new instances of the
  same architecture, reuse the first job's compiled code (Dynamo caches per code object and, inlining
  nn.Modules, reads the parameters as inputs): compiled once per process, not once per job.
  `compile_mode` is torch.compile's mode (null: its default).
- `matmul_precision`: torch.set_float32_matmul_precision ("highest": exact float32, the default;
  "high": TF32 tensor cores on NVIDIA GPUs; "medium": bfloat16).
- `precision`: Lightning's Trainer precision ("bf16-mixed": bfloat16 autocast); null keeps the trainer's.
Channels-last memory for the image models is the models' own `memory_format` (their default: it is
faster on CPUs too).
"""

from typing import Any, get_args

import torch
from lightning.fabric.connector import _PRECISION_INPUT_STR
from omegaconf import DictConfig
from torch import nn

MATMUL_PRECISIONS = ("highest", "high", "medium")
PRECISIONS = get_args(_PRECISION_INPUT_STR)
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def problems(speed: DictConfig | None) -> list[str]:
    """What is wrong with the speed section's values (the types are the schema's): one line each."""
    if speed is None:
        return []
    found = []
    if speed.get("matmul_precision") not in MATMUL_PRECISIONS:
        found.append(f"speed.matmul_precision={speed.get('matmul_precision')}: must be one of "
                     f"{', '.join(MATMUL_PRECISIONS)}")  # fmt: skip
    if speed.get("precision") is not None and str(speed.precision) not in PRECISIONS:
        found.append(f"speed.precision={speed.precision}: must be null or one of {', '.join(PRECISIONS)}")
    if speed.get("compile_mode") is not None and speed.compile_mode not in COMPILE_MODES:
        found.append(
            f"speed.compile_mode={speed.compile_mode}: must be null or one of {', '.join(COMPILE_MODES)}"
        )
    return found


def compile_network(model: nn.Module, mode: str | None = None) -> nn.Module:
    """Compile `model`'s network in place: the forward of its `net` submodule where it has one, else its
    own forward. The module and its state_dict keys stay as they are (checkpoints load either way)."""
    target = model.net if isinstance(getattr(model, "net", None), nn.Module) else model
    target.forward = torch.compile(target.forward, mode=mode)
    return model


def apply(speed: DictConfig | None, model: nn.Module) -> dict[str, Any]:
    """Set the process-wide matmul precision and compile `model` as `speed` asks; returns the Trainer
    keyword arguments it asks for (the precision, when set)."""
    if speed is None:
        return {}
    torch.set_float32_matmul_precision(speed.matmul_precision)
    if speed.compile:
        compile_network(model, speed.get("compile_mode"))
    return {"precision": speed.precision} if speed.get("precision") is not None else {}
