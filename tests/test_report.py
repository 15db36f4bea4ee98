"""The reproduction report (figures/index.html) from generated records: summary counts, the summary
table's book and measured values, chapter sections, escaping and a self-contained page."""

import re
from collections import Counter

from mde_exp.report import book_and_measured, write_report

from .report_records import HOSTILE, write_records


def test_counts_total_time_and_profiles_at_the_top(tmp_path):
    records = write_records(tmp_path)
    page = write_report(tmp_path).read_text()
    expected = Counter(r["status"] for r in records.values())
    for status in ("pass", "fail", "error", "skipped"):
        assert f'id="count-{status}">{expected[status]}<' in page
    assert f'id="count-total">{len(records)}<' in page
    total = sum(r["wall_time_s"] for r in records.values())
    assert total >= 120 and f"Total run time {total / 60:.1f} min" in page  # minutes from 2 min on
    assert "different profiles: quick (4), tiny (1)" in page


def test_one_profile_gives_no_note(tmp_path):
    records = write_records(tmp_path)
    (tmp_path / "tab-2.1.json").unlink()
    page = write_report(tmp_path).read_text()
    assert "different profiles" not in page and "profile quick." in page
    assert len(records) == 5


def test_book_and_measured_values_come_from_the_claims(tmp_path):
    records = write_records(tmp_path)
    # the first claim with a book value; without one "-" and the first claim's measured value
    assert book_and_measured(records["fig-2.3"]) == (
        "0.25",
        "a: 0.5, b: [1, 2]",
    )  # the claim with a book value
    assert book_and_measured(records["fig-2.10"]) == ("-", "a: 1.5, b: [1, 2]")
    assert book_and_measured(records["fig-5.2"]) == ("-", "-")  # no claims


def test_sections_by_chapter_in_book_order_with_figures_and_commands(tmp_path):
    write_records(tmp_path)
    page = write_report(tmp_path).read_text()
    assert page.index("Chapter 2: Principles of Machine Learning</h2>") < page.index(
        "Chapter 5: Feedforward Deep Networks</h2>"
    )
    sections = re.findall(r"<section id='([^']+)'><h3>", page)
    assert sections == ["tab-2.1", "fig-2.3", "fig-2.10", "fig-5.2", "abl-dropout"]
    assert '<img src="fig-2.3.png"' in page and 'src="fig-5.2.png"' not in page  # only figures that exist
    assert "python -m mde_exp.reproduce --only fig-2.3 --profile quick --rerun" in page
    assert page.count("<tr><td>claim of") == 3  # a claims table per recipe with claims


def test_everything_is_escaped_and_nothing_is_external(tmp_path):
    write_records(tmp_path)
    page = write_report(tmp_path).read_text()
    assert HOSTILE not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;" in page
    assert "ValueError: &lt;bad&gt; &amp; worse" in page
    assert "<script" not in page and "<link" not in page and "@import" not in page and "url(" not in page
    for target in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert "://" not in target and not target.startswith("/"), target  # relative: opens from disk


def test_an_empty_folder_gives_an_empty_report(tmp_path):
    page = write_report(tmp_path).read_text()
    assert 'id="count-total">0<' in page
