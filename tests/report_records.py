"""Generated recipe records and figures for the report tests: a few figures/<id>.json as
`python -m mde_exp.reproduce` writes them (two chapters, every status, two profiles) with small PNGs."""

import json
from pathlib import Path

from PIL import Image

# id -> (chapter, status, profile, with a PNG)
RECORDS = {
    "fig-2.3": (2, "pass", "quick", True),
    "fig-2.10": (2, "fail", "quick", True),
    "tab-2.1": (2, "pass", "tiny", True),
    "fig-5.2": (5, "error", "quick", False),
    "abl-dropout": (5, "skipped", "quick", False),
}
HOSTILE = "<script>alert('x')</script> & \"quoted\""  # a title that must show as text, not run


def write_records(out: Path) -> dict[str, dict]:
    """Write RECORDS (and a PNG per record that has one) into `out`; return the records by id."""
    out.mkdir(parents=True, exist_ok=True)
    records = {}
    for i, (rid, (chapter, status, profile, png)) in enumerate(RECORDS.items()):
        claims = [
            {"description": f"claim of {rid}", "expected": "x < 1", "measured": {"a": 0.5 + i, "b": [1, 2]},
             "passed": status == "pass", "book_value": 0.25 if rid == "fig-2.3" else None},
            {"description": "second", "expected": "y > 0", "measured": 1.23456789, "passed": status == "pass",
             "book_value": None},
        ]  # fmt: skip
        record = {
            "id": rid,
            "title": HOSTILE if rid == "fig-2.10" else f"title of {rid}",
            "book_ref": f"Figure {rid[4:]}",
            "chapter": chapter,
            "claim": f"the claim of {rid}",
            "profile": profile,
            "command": f"python -m mde_exp.reproduce --only {rid} --profile {profile} --rerun",
            "status": status,
            "claims": [] if status in ("error", "skipped") else claims,
            "values": {},
            "wall_time_s": 10.0 * (i + 1),
        }
        if status == "error":
            record["error"] = "Traceback ...\nValueError: <bad> & worse"
        if status == "skipped":
            record["reason"] = "data=mnist is missing"
        if png:
            Image.new("RGB", (120 + 10 * i, 80), (40 * i, 120, 200)).save(out / f"{rid}.png")
        (out / f"{rid}.json").write_text(json.dumps(record))
        records[rid] = record
    return records
