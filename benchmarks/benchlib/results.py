"""The benchmarks' numbers, kept per device in benchmarks/results/<device>.json.

Each benchmark reads the file, replaces its own key and writes it back (under a lock, atomically), so
that benchmarks run by different scripts or people add to one file per machine. The device is the CUDA
device's name when a GPU is used, else `cpu-` and the CPU's model name (/proc/cpuinfo), as a file name.
"""

import fcntl
import json
import os
import platform
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

RESULTS = Path(__file__).resolve().parents[1] / "results"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: torch.device | str = "cpu") -> str:
    """`cpu-<model>` or the CUDA device's name, lower case, as a file name (`cpu-intel-r-xeon-r-...`)."""
    device = torch.device(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu-{cpu_model()}"
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def record(key: str, data: dict[str, Any], device: torch.device | str = "cpu") -> Path:
    """Set `key` in this device's results file to `data` (with the date and load), keeping other keys."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{device_name(device)}.json"
    stamped = {
        **data,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "torch": torch.__version__,
    }
    with open(RESULTS / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        results = json.loads(path.read_text()) if path.exists() else {}
        results[key] = stamped
        with tempfile.NamedTemporaryFile("w", dir=RESULTS, suffix=".tmp", delete=False) as out:
            json.dump(results, out, indent=2, sort_keys=True)
            out.write("\n")
        os.replace(out.name, path)
    return path
