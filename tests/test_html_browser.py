"""The HTML report in a real headless Chromium (Debian's, from .ci/install-chromium.sh).

Each test opens a report, checks that it rendered with no console error, exception or refused
resource (a Content-Security-Policy violation is logged as an error), reads the numbers the charts
drew back out of the page, and compares them with the same run's JSON report, recounted here by
the documented rules in plain Python. A screenshot of each page is kept in build/test-artefacts/.

Without Chromium the tests skip, naming the install script; with SERVICEFLOW_REQUIRE_CHROMIUM=1 (CI)
they fail instead.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from browser import INSTALL_HINT, REQUIRE_ENV, Browser, find_chromium
from html_support import ROOT, lint_with_subjects, render_both, write_inputs
from serviceflow import Engine
from serviceflow.config import Config, load_config
from serviceflow.replay import replay
from serviceflow.reporters.diff import render_diff_json
from serviceflow.reporters.escaping import printable
from serviceflow.reporters.html import render_diff_html
from serviceflow.subjects import describe_subjects
from serviceflow.timeutil import parse_datetime

ARTEFACTS = Path(os.environ.get("SERVICEFLOW_TEST_ARTEFACTS", ROOT / "build" / "test-artefacts"))
UCI = (
    ROOT.parent
    / "shared"
    / "data"
    / "real"
    / "uci-incident-management-eventlog"
    / "incident_event_log.csv.gz"
)

DATA = (
    "Array.from(document.querySelectorAll('rect.datum')).map(r => [r.dataset.chart, r.dataset.series, "
    "r.dataset.category, Number(r.dataset.value)])"
)
CARDS = (
    "Object.fromEntries(Array.from(document.querySelectorAll('.card')).map(c => [c.dataset.key, "
    "Number(c.querySelector('dd').dataset.value)]))"
)


@pytest.fixture(scope="module")
def chromium() -> Iterator[str]:
    found = find_chromium()
    if found is None:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but no chromium on PATH: {INSTALL_HINT}")
        pytest.skip(f"no chromium on PATH: {INSTALL_HINT}")
    yield found


def artefact(name: str, capsys: pytest.CaptureFixture[str]) -> Path:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / name
    with capsys.disabled():
        print(f"\n[artefact] {path}")
    return path


def drawn(browser: Browser, chart: str) -> dict[tuple[str, str], int]:
    """``(series, category) -> value`` of one chart, as the page drew it."""
    return {
        (series, category): value for name, series, category, value in browser.evaluate(DATA) if name == chart
    }


def shown(counts: dict[str, int], series: str) -> dict[tuple[str, str], int]:
    """Labels as the page shows them: control characters as visible escapes (docs/html-report.md)."""
    return {(series, printable(label)): count for label, count in counts.items()}


# --- the documented rules, recounted from the JSON report ---------------------------------------------------


def monday(at: str) -> str:
    day = parse_datetime(at).astimezone(UTC).date()
    return (day - timedelta(days=day.weekday())).isoformat()


def actor(finding: dict[str, Any]) -> str:
    subject = finding["subject"]
    return "(customers)" if subject["role"] == "customer" else subject["actor"]


def top(counts: Counter[str], limit: int = 20) -> dict[str, int]:
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    shown = dict(ordered[:limit])
    if len(ordered) > limit:
        shown[f"other ({len(ordered) - limit:,} more)"] = sum(count for _, count in ordered[limit:])
    return shown


def age_bucket(age: timedelta) -> str:
    hours = age / timedelta(hours=1)
    for label, bound in (
        ("< 1h", 1),
        ("1-4h", 4),
        ("4-8h", 8),
        ("8-24h", 24),
        ("1-3d", 72),
        ("3-7d", 168),
        ("7-30d", 720),
    ):
        if hours < bound:
            return label
    return ">= 30d"


def check_charts(browser: Browser, report: dict[str, Any]) -> None:
    violations, pending = report["violations"], report["pending"]
    now = parse_datetime(report["summary"]["now"])
    weekly = Counter((f["policy"], monday(f["subject"]["at"])) for f in violations)
    assert drawn(browser, "violations-per-period") == dict(weekly)
    by_actor = top(Counter(actor(f) for f in violations))
    assert drawn(browser, "violations-by-actor") == shown(by_actor, "violations")
    by_channel = top(Counter(f["subject"]["channel"] or "(none)" for f in violations))
    assert drawn(browser, "violations-by-channel") == shown(by_channel, "violations")
    ages = Counter(age_bucket(now - parse_datetime(f["subject"]["at"])) for f in pending)
    assert drawn(browser, "pending-age") == {("pending", bucket): n for bucket, n in ages.items()}
    cards = browser.evaluate(CARDS)
    summary = report["summary"]
    assert (cards["violations"], cards["pending"], cards["cases"], cards["records"]) == (
        summary["violations"],
        summary["pending"],
        summary["cases"],
        summary["records"],
    )
    assert cards["input_errors"] == len(report["errors"]) + report["more_errors"]


# --- the tests ----------------------------------------------------------------------------------------------


def test_the_report_renders_with_the_json_reports_numbers_and_hostile_text_stays_text(
    chromium: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = lint_with_subjects([write_inputs(tmp_path / "inputs")])
    page, report = render_both(result)
    path = tmp_path / "report.html"
    path.write_text(page, "utf-8")
    with Browser(chromium) as browser:
        browser.open(path)
        assert browser.evaluate("document.documentElement.dataset.ready") == "true"
        assert browser.problems() == []
        assert browser.evaluate("typeof window.__pwned") == "undefined"
        table = browser.evaluate("document.getElementById('findings-table').textContent")
        assert "<script>window.__pwned = 1</script>" in table  # shown, as text
        assert "\\x1b[2J" in table and "\\u202eevil" in table
        check_charts(browser, report)

        top_cases = browser.evaluate(
            "Array.from(document.querySelectorAll('#top-cases-table tbody tr')).map(r => r.dataset.case)"
        )
        counted = Counter(f["case_id"] for f in report["violations"])
        waiting = Counter(f["case_id"] for f in report["pending"])
        ranked = sorted({*counted, *waiting}, key=lambda case: (-counted[case], -waiting[case], case))
        assert top_cases == [printable(case) for case in ranked[:20]]

        # Search narrows the table to the rows that contain every word.
        browser.evaluate(
            "(() => { const box = document.getElementById('findings-search'); box.value = 'tone-informal'; "
            "box.dispatchEvent(new Event('input')); })()"
        )
        expected = sum(
            1 for f in (*report["violations"], *report["pending"]) if "tone-informal" in json.dumps(f)
        )
        assert browser.evaluate("document.getElementById('findings-table').dataset.shown") == str(expected)
        assert browser.evaluate("document.getElementById('findings-count').textContent").startswith(
            f"{expected} of"
        )
        browser.evaluate(
            "(() => { const box = document.getElementById('findings-search'); box.value = ''; "
            "box.dispatchEvent(new Event('input')); })()"
        )

        # Sorting by a column orders the rows by it, and a second click reverses them.
        rows = "#findings-table tbody tr"
        cases = f"Array.from(document.querySelectorAll('{rows}'), r => r.cells[3].textContent)"
        browser.evaluate("document.querySelectorAll('#findings-table th button')[3].click()")
        ascending = browser.evaluate(cases)
        assert ascending == sorted(ascending, key=lambda text: text.encode("utf-16-be"))
        browser.evaluate("document.querySelectorAll('#findings-table th button')[3].click()")
        assert browser.evaluate(cases) == sorted(
            ascending, key=lambda text: text.encode("utf-16-be"), reverse=True
        )
        assert browser.problems() == []
        shot = artefact("lint-report-examples.png", capsys)
        browser.screenshot(shot)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


@pytest.mark.slow
@pytest.mark.skipif(not UCI.exists(), reason=f"the UCI incident log is not in {UCI.parent}")
def test_the_uci_report_renders_with_the_json_reports_numbers(
    chromium: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Mid-log, so that some obligations are still pending and the age histogram has bars.
    result = lint_with_subjects([UCI], datetime(2016, 6, 1, tzinfo=UTC), input_format="servicenow-incidents")
    page, report = render_both(result)
    assert report["pending"] and len(report["violations"]) > 40_000
    path = tmp_path / "uci.html"
    path.write_text(page, "utf-8")
    with Browser(chromium) as browser:
        browser.open(path)
        assert browser.problems() == []
        check_charts(browser, report)
        rows = browser.evaluate("document.querySelectorAll('#findings-table tbody tr').length")
        assert rows == 10_000  # capped, and the page says so
        assert "The table lists the first 10,000" in browser.evaluate("document.body.textContent")
        shot = artefact("lint-report-uci.png", capsys)
        browser.screenshot(shot)
    assert shot.stat().st_size > 50_000


def test_the_diff_report_renders_with_the_json_reports_numbers(
    chromium: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tight = tmp_path / "tight.toml"
    tight.write_text(
        '[policies.escalate-values-in-question]\nparams = { within = "10m" }\n'
        "[policies.confirm-next-steps]\nenabled = false\n"
        '[policies.keep-customer-updated]\nparams = { every = "30m" }\n'
        '[policies.tone-informal.params]\nphrases = ["yep", "<script>"]\n',
        "utf-8",
    )
    inputs = write_inputs(tmp_path / "inputs")
    with (
        Engine.from_config(config=Config()) as before,
        Engine.from_config(config=load_config(tight)) as after,
    ):
        describe_subjects(before)
        describe_subjects(after)
        diff = replay(before, after, [inputs], datetime(2024, 5, 9, 14, tzinfo=UTC), shared_admission=True)
        policies = tuple({p.id: p for p in (*before.policies, *after.policies)}.values())
    report = json.loads(render_diff_json(diff))
    path = tmp_path / "diff.html"
    path.write_text(render_diff_html(diff, "error", policies), "utf-8")
    with Browser(chromium) as browser:
        browser.open(path)
        assert browser.problems() == []
        expected = {
            (kind, policy["policy"]): policy[kind]
            for policy in report["policies"]
            for kind in ("appeared", "disappeared", "changed")
            if policy[kind]
        }
        assert drawn(browser, "changes-per-policy") == expected
        appeared = Counter(
            (change["policy"], monday(change["after"]["subject"]["at"]))
            for policy in report["policies"]
            for change in policy["changes"]["appeared"]
            if change["after"]["status"] == "violation"
        )
        assert appeared and drawn(browser, "appeared-per-period") == dict(appeared)
        cards = browser.evaluate(CARDS)
        assert cards["new_violations"] == report["totals"]["new_violations"] > 0
        rows = browser.evaluate("document.querySelectorAll('#changes-table tbody tr').length")
        assert rows == sum(report["totals"][kind] for kind in ("appeared", "disappeared", "changed"))
        shot = artefact("diff-report-examples.png", capsys)
        browser.screenshot(shot)
    assert shot.stat().st_size > 20_000
