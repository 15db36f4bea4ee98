"""The reproduction report: figures/index.html, one page linking every figure with its claims."""

import html
import json
from pathlib import Path
from typing import Any

from mde_exp.recipes import order_key


def _claims_table(claims: list[dict[str, Any]]) -> str:
    rows = "".join(
        f"<tr class='{'pass' if c['passed'] else 'fail'}'><td>{html.escape(c['description'])}</td>"
        f"<td>{html.escape(str(c.get('book_value') if c.get('book_value') is not None else ''))}</td>"
        f"<td>{html.escape(c['expected'])}</td><td>{html.escape(_fmt(c['measured']))}</td>"
        f"<td>{'pass' if c['passed'] else 'FAIL'}</td></tr>"
        for c in claims
    )
    return (
        "<table><tr><th>claim</th><th>book</th><th>expected</th><th>measured</th><th></th></tr>"
        f"{rows}</table>"
    )


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items())
    return str(value)


def _row_class(record: dict[str, Any]) -> str:
    return "pass" if record["status"] == "pass" else "fail"


def write_report(out_dir: Path) -> Path:
    """Write index.html from every <id>.json in `out_dir` and return its path."""
    results = [json.loads(p.read_text()) for p in sorted(out_dir.glob("*.json"))]
    results.sort(key=lambda r: order_key(r.get("chapter", 99), r["id"]))  # as the book and --list order them
    passed = sum(r["status"] == "pass" for r in results)
    summary_rows = "".join(
        f"<tr class='{_row_class(r)}'><td><a href='#{r['id']}'>{r['id']}</a></td>"
        f"<td>{html.escape(r['book_ref'])}</td><td>{html.escape(r['claim'])}</td>"
        f"<td>{r['status']}</td><td>{r['wall_time_s']:.1f} s</td><td>{r['profile']}</td></tr>"
        for r in results
    )
    sections = []
    for r in results:
        image = f"<img src='{r['id']}.png' alt='{r['id']}'>" if (out_dir / f"{r['id']}.png").exists() else ""
        error = f"<pre class='fail'>{html.escape(r['error'])}</pre>" if r.get("error") else ""
        sections.append(
            f"<section id='{r['id']}'><h2>{r['id']}: {html.escape(r['title'])}</h2>"
            f"<p>{html.escape(r['book_ref'])}. <b>Claim:</b> {html.escape(r['claim'])}</p>{image}{error}"
            f"{_claims_table(r.get('claims', []))}"
            f"<p>Rerun: <code>{html.escape(r['command'])}</code> ({r['wall_time_s']:.1f} s, "
            f"profile {r['profile']}, <a href='{r['id']}.pdf'>PDF</a>, <a href='{r['id']}.json'>JSON</a>)</p>"
            "</section>"
        )
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>mde_exp reproduction report</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}
tr.pass td:last-child{{color:#176117}}tr.fail td{{color:#a01010}}img{{max-width:100%;border:1px solid #eee}}
section{{margin-top:3em}}code{{background:#f4f4f4;padding:2px 4px}}</style></head><body>
<h1>Mathematical Engineering of Deep Learning: reproduction report</h1>
<p>{passed} of {len(results)} figures pass their claim checks.</p>
<table><tr><th>id</th><th>book</th><th>claim</th><th>status</th><th>time</th><th>profile</th></tr>
{summary_rows}</table>
{"".join(sections)}
</body></html>"""
    path = out_dir / "index.html"
    path.write_text(page)
    return path
