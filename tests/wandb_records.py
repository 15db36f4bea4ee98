"""Reads an offline W&B run's `.wandb` file (a LevelDB-style log of protobuf records), for the tests.

wandb 0.2x+ writes the file from its Go core and no longer ships a Python reader; the format is stable:
a 7-byte header (":W&B", magic 0xBEE1, version 0), then 32 KiB blocks of chunks, each with a 7-byte
header (CRC32C, length, type: 1 full, 2 first, 3 middle, 4 last); a block's tail shorter than a header
is padding.
"""

import struct
import time
from pathlib import Path
from typing import Any

from wandb.proto import wandb_internal_pb2 as pb

BLOCK = 32 * 1024
HEADER = struct.Struct("<IHB")
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> list[Any]:
    """Every protobuf Record in the offline run file `path`, in order."""
    data = Path(path).read_bytes()
    ident, magic, version = struct.unpack("<4sHB", data[:7])
    assert (ident, magic, version) == (b":W&B", 0xBEE1, 0), f"{path} is not a W&B run file"
    out, pos, pending = [], 7, b""
    while pos + HEADER.size <= len(data):
        room = BLOCK - pos % BLOCK
        if room < HEADER.size:  # padding at a block's end
            pos += room
            continue
        _, length, kind = HEADER.unpack_from(data, pos)
        chunk = data[pos + HEADER.size : pos + HEADER.size + length]
        pos += HEADER.size + length
        if kind == 0 and length == 0:  # zero fill (a preallocated tail)
            break
        pending = chunk if kind in (FULL, FIRST) else pending + chunk
        if kind in (FULL, LAST):
            record = pb.Record()
            record.ParseFromString(pending)
            out.append(record)
    return out


def finished_records(path: Path, timeout: float = 20.0) -> list[Any]:
    """The records of a finished run: wandb.finish() can return before W&B's service has written the
    file, so this waits (up to `timeout` seconds) for the run's exit record."""
    deadline = time.monotonic() + timeout
    while True:
        out = records(path) if Path(path).stat().st_size > 7 else []
        if any(r.WhichOneof("record_type") == "exit" for r in out) or time.monotonic() > deadline:
            return out
        time.sleep(0.2)


def run_info(path: Path) -> dict[str, Any]:
    """The run record's group, job type, tags, name and config (keys with their JSON values decoded),
    config updates after the start included, and the history keys logged."""
    import json

    info: dict[str, Any] = {"config": {}, "history_keys": set()}
    for record in finished_records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run = record.run
            info.update(
                id=run.run_id, group=run.run_group, job_type=run.job_type, tags=list(run.tags),
                name=run.display_name, project=run.project,
            )  # fmt: skip
            items = run.config.update
        elif kind == "config":
            items = record.config.update
        else:
            if kind == "history":
                info["history_keys"] |= {i.key or "/".join(i.nested_key) for i in record.history.item}
            continue
        for item in items:
            info["config"][item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
    return info
