"""The reproduction report: figures/index.html, the page a reader of the book opens first.

A summary (counts of pass / fail / error / skipped, total run time, profiles), one table of every recipe
(book reference, claim, book value, measured value, status, run time, profile), then a section per book
chapter with each figure, its claims and the command that reruns it. The page is built from the
records figures/<id>.json that `python -m mde_exp.reproduce` writes; it is one self-contained file
(inline CSS, no scripts, no external assets) whose links are relative, so it opens from the file system.
Every text that comes from a record is escaped.
"""

import html
import json
from collections import Counter
from pathlib import Path
from typing import Any

from mde_exp.recipes import order_key

# The book's chapters (Liquet, Moka, Nazarathy 2024), for the section headings.
CHAPTERS = {
    1: "Introduction",
    2: "Principles of Machine Learning",
    3: "Simple Neural Networks",
    4: "Optimization Algorithms",
    5: "Feedforward Deep Networks",
    6: "Convolutional Neural Networks",
    7: "Sequence Models",
    8: "Specialized Architectures and Paradigms",
}
STATUSES = ("pass", "fail", "error", "skipped")  # the order of the counts at the top of the page
SHORT = 70  # characters of a value shown in the summary table (the whole value in its tooltip)

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222;
line-height:1.4}
h1{font-size:1.6em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2.5em}
h3{margin-top:2em}table{border-collapse:collapse;margin:1em 0;font-size:.92em}
td,th{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}th{background:#f2f2f2}
tr.chapter td{background:#f7f7f7;font-weight:bold}
.pass{color:#176117}.fail,.error{color:#a01010;font-weight:bold}.skipped{color:#8a6d00}
.counts span{margin-right:1.2em}.note{background:#fff8dc;border:1px solid #e6d68a;padding:.5em 1em}
img{max-width:100%;border:1px solid #eee;display:block;margin:.5em 0}
code,pre{background:#f4f4f4;padding:2px 4px}pre{overflow-x:auto;padding:.5em}
nav a{margin-right:1em}td.nowrap{white-space:nowrap}
"""


def _e(value: Any) -> str:
    """`value` as escaped HTML text (attribute quotes included)."""
    return html.escape(str(value), quote=True)


def _fmt(value: Any) -> str:
    """A claim's value as short text: floats to 4 significant digits, mappings and lists inline."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


def _short(text: str) -> str:
    """`text` cut to SHORT characters, escaped, with the whole text as the tooltip where it was cut."""
    if len(text) <= SHORT:
        return _e(text)
    return f'<span title="{_e(text)}">{_e(text[: SHORT - 1])}…</span>'


def book_and_measured(record: dict[str, Any]) -> tuple[str, str]:
    """The summary table's book value and measured value: from the first claim with a book value, else
    "-" and the first claim's measured value ("-" where the record has no claims)."""
    claims = record.get("claims") or []
    with_book = [c for c in claims if c.get("book_value") is not None]
    if with_book:
        return _fmt(with_book[0]["book_value"]), _fmt(with_book[0].get("measured"))
    return "-", _fmt(claims[0].get("measured")) if claims else "-"


def counts(records: list[dict[str, Any]]) -> Counter:
    """Records by status (pass, fail, error, skipped)."""
    return Counter(r.get("status", "error") for r in records)


def _status(status: str) -> str:
    return f'<span class="{_e(status)}">{_e(status if status == "pass" else status.upper())}</span>'


def _seconds(record: dict[str, Any]) -> str:
    value = record.get("wall_time_s")
    return f"{value:.1f} s" if isinstance(value, int | float) else "-"


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _chapter(record: dict[str, Any]) -> int:
    chapter = record.get("chapter")
    return chapter if isinstance(chapter, int) else 99


def _chapter_title(chapter: int) -> str:
    name = CHAPTERS.get(chapter)
    return f"Chapter {chapter}: {name}" if name else ("Other" if chapter == 99 else f"Chapter {chapter}")


def _claims_table(claims: list[dict[str, Any]]) -> str:
    if not claims:
        return ""
    rows = "".join(
        f"<tr><td>{_e(c.get('description', ''))}</td>"
        f"<td>{_e(_fmt(c['book_value'])) if c.get('book_value') is not None else '-'}</td>"
        f"<td>{_e(c.get('expected', ''))}</td><td>{_e(_fmt(c.get('measured')))}</td>"
        f"<td>{_status('pass' if c.get('passed') else 'fail')}</td></tr>"
        for c in claims
    )
    return (
        "<table><tr><th>claim</th><th>book value</th><th>expected</th><th>measured</th><th></th></tr>"
        f"{rows}</table>"
    )


def _summary(records: list[dict[str, Any]]) -> str:
    n = counts(records)
    total = sum(r.get("wall_time_s") or 0 for r in records)
    profiles = Counter(r.get("profile", "?") for r in records)
    spans = "".join(f'<span class="{s}">{s}: <b id="count-{s}">{n.get(s, 0)}</b></span>' for s in STATUSES)
    shown = ", ".join(f"{_e(p)} ({k})" for p, k in sorted(profiles.items())) if len(profiles) > 1 else ""
    profile = f"profile {_e(next(iter(profiles)))}" if len(profiles) == 1 else f"profiles {shown}"
    note = (
        f'<p class="note">These records come from different profiles: {shown}. Each row names its own; '
        "a tiny or quick measurement is not at the book's scale (full).</p>"
        if len(profiles) > 1
        else ""
    )
    return (
        f'<p class="counts">{spans}<span>of <b id="count-total">{len(records)}</b> recipes</span></p>'
        f"<p>Total run time {_duration(total)}{'; ' + profile if profiles else ''}.</p>{note}"
    )


def _summary_table(records: list[dict[str, Any]]) -> str:
    rows, chapter = [], None
    for r in records:
        if _chapter(r) != chapter:
            chapter = _chapter(r)
            rows.append(f'<tr class="chapter"><td colspan="8">{_e(_chapter_title(chapter))}</td></tr>')
        book, measured = book_and_measured(r)
        rows.append(
            f'<tr><td class="nowrap"><a href="#{_e(r["id"])}">{_e(r["id"])}</a></td>'
            f"<td>{_e(r.get('book_ref', ''))}</td>"
            f"<td>{_e(r.get('claim', ''))}</td><td>{_short(book)}</td><td>{_short(measured)}</td>"
            f"<td>{_status(r.get('status', 'error'))}</td><td class='nowrap'>{_seconds(r)}</td>"
            f"<td>{_e(r.get('profile', '?'))}</td></tr>"
        )
    return (
        "<table><tr><th>id</th><th>book</th><th>claim</th><th>book value</th><th>measured</th>"
        f"<th>status</th><th>time</th><th>profile</th></tr>{''.join(rows)}</table>"
    )


def _section(record: dict[str, Any], out_dir: Path) -> str:
    rid = record["id"]
    image = (
        f'<img src="{_e(rid)}.png" alt="{_e(rid)}: {_e(record.get("title", ""))}">'
        if (out_dir / f"{rid}.png").exists()
        else ""
    )
    links = [
        f'<a href="{_e(rid)}.{ext}">{ext.upper()}</a>'
        for ext in ("pdf", "json")
        if (out_dir / f"{rid}.{ext}").exists()
    ]
    error = (
        f"<details open><summary>error</summary><pre class='error'>{_e(record['error'])}</pre></details>"
        if record.get("error")
        else ""
    )
    reason = f"<p class='skipped'>Skipped: {_e(record['reason'])}</p>" if record.get("reason") else ""
    return (
        f"<section id='{_e(rid)}'><h3>{_e(rid)}: {_e(record.get('title', ''))} "
        f"{_status(record.get('status', 'error'))}</h3>"
        f"<p>{_e(record.get('book_ref', ''))}. <b>Claim:</b> {_e(record.get('claim', ''))}</p>"
        f"{image}{reason}{error}{_claims_table(record.get('claims') or [])}"
        f"<p>Rerun: <code>{_e(record.get('command', ''))}</code> ({_seconds(record)}, profile "
        f"{_e(record.get('profile', '?'))}{'; ' if links else ''}{', '.join(links)})</p></section>"
    )


def read_records(out_dir: Path) -> list[dict[str, Any]]:
    """Every recipe record <id>.json in `out_dir`, in book order (as `--list` gives the recipes)."""
    records = []
    for path in sorted(out_dir.glob("*.json")):
        record = json.loads(path.read_text())
        if isinstance(record, dict) and "id" in record and "status" in record:
            records.append(record)
    records.sort(key=lambda r: order_key(_chapter(r), r["id"]))
    return records


def write_report(out_dir: Path) -> Path:
    """Write index.html from every <id>.json in `out_dir` and return its path."""
    records = read_records(out_dir)
    chapters: dict[int, list[dict[str, Any]]] = {}
    for r in records:
        chapters.setdefault(_chapter(r), []).append(r)
    nav = "".join(f'<a href="#chapter-{c}">{_e(_chapter_title(c))}</a>' for c in chapters)
    sections = "".join(
        f"<section id='chapter-{c}'><h2>{_e(_chapter_title(c))}</h2>"
        f"{''.join(_section(r, out_dir) for r in rs)}</section>"
        for c, rs in chapters.items()
    )
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mde_exp reproduction report</title><style>{STYLE}</style></head><body>
<h1>Mathematical Engineering of Deep Learning: reproduction report</h1>
<p>Each figure of the book that mde_exp reproduces, the book's claim about it, and whether the
measurement bears it out. Rebuilt by <code>python -m mde_exp.reproduce</code>.</p>
{_summary(records)}
<nav>{nav}</nav>
{_summary_table(records)}
{sections}
</body></html>
"""
    path = out_dir / "index.html"
    path.write_text(page)
    return path
