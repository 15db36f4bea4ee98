"""The report in a real browser: headless Chromium (`make chromium` installs Debian's package) opens
figures/index.html from the file system, every figure loads, and the counts shown match the records.

The page has no scripts; the test appends one to a copy of it that, once the page has loaded, writes the
state of every <img> and the shown counts into the DOM, which `chromium --dump-dom` prints. A copy with
a corrupt PNG shows that the check catches a figure that does not load. A screenshot of the report is
saved (and copied to $REPORT_SCREENSHOT when set)."""

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

import pytest

from mde_exp.paths import config_dir
from mde_exp.report import write_report

from .report_records import write_records

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Without these Chromium waits on the network, GPU and first-run work that a closed machine never answers.
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
]  # fmt: skip
PROBE = """<script>
window.addEventListener("load", () => {
  const images = [...document.images].map(
    i => ({src: i.getAttribute("src"), ok: i.complete && i.naturalWidth > 0}));
  const counts = {};
  for (const el of document.querySelectorAll("[id^=count-]")) counts[el.id.slice(6)] = Number(el.textContent);
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({images, counts});
  document.body.appendChild(out);
});
</script>"""


@pytest.fixture(scope="module")
def chromium() -> str:
    """The Chromium binary: `make chromium` installs it when missing (at once when it is there); the
    tests skip, saying why, where it cannot."""
    try:
        made = subprocess.run(
            ["make", "-s", "chromium", f"CHROMIUM={CHROMIUM}"],
            cwd=config_dir().parent,
            capture_output=True,
            text=True,
            timeout=600,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        pytest.skip(f"`make chromium` could not run ({err}); install Chromium at {CHROMIUM}")
    if made.returncode != 0 or not os.access(CHROMIUM, os.X_OK):
        why = ((made.stderr or made.stdout).strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"`make chromium` could not install Chromium at {CHROMIUM} (needs root and apt): {why}")
    return CHROMIUM


def run_chromium(binary: str, *args: str) -> str:
    """Chromium with a new, empty profile folder; returns its stdout."""
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [binary, *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def probe(binary: str, page: Path) -> dict:
    """The state of `page`'s images and shown counts, once loaded in Chromium."""
    probed = page.with_name("probe.html")
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    dom = run_chromium(binary, "--virtual-time-budget=10000", "--dump-dom", probed.as_uri())
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def test_every_figure_loads_and_the_counts_match_the_records(chromium, tmp_path):
    records = write_records(tmp_path / "figures")
    page = write_report(tmp_path / "figures")
    state = probe(chromium, page)
    with_png = sorted(f"{rid}.png" for rid in records if (page.parent / f"{rid}.png").exists())
    assert sorted(i["src"] for i in state["images"]) == with_png and len(with_png) == 3
    assert all(i["ok"] for i in state["images"]), state["images"]
    on_disk = Counter(json.loads(p.read_text())["status"] for p in page.parent.glob("*.json"))
    assert state["counts"] == {
        "pass": on_disk["pass"], "fail": on_disk["fail"], "error": on_disk["error"],
        "skipped": on_disk["skipped"], "total": sum(on_disk.values()),
    }  # fmt: skip

    shot = tmp_path / "report.png"
    run_chromium(chromium, "--window-size=1280,2000", f"--screenshot={shot}", page.as_uri())
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
    if os.environ.get("REPORT_SCREENSHOT"):
        shutil.copy(shot, os.environ["REPORT_SCREENSHOT"])


def test_the_check_catches_a_figure_that_does_not_load(chromium, tmp_path):
    write_records(tmp_path / "figures")
    (tmp_path / "figures" / "fig-2.10.png").write_bytes(b"not a PNG")
    state = probe(chromium, write_report(tmp_path / "figures"))
    broken = [i["src"] for i in state["images"] if not i["ok"]]
    assert broken == ["fig-2.10.png"]
