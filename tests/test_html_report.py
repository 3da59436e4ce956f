"""The HTML report without a browser: escaping, self-containment, the figures' rules, the commands."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from html_support import EXAMPLES, HOSTILE, NOW, SCRIPT, lint_with_subjects, render_both, write_inputs
from serviceflow.cli import main
from serviceflow.findings import Evaluation, Finding, Severity, Status, Subject
from serviceflow.reporters import ReportOptions
from serviceflow.reporters.escaping import html_text
from serviceflow.reporters.html import lint_report, render_html
from serviceflow.reporters.html.figures import AGE_BUCKETS, age_histogram, by_period, top_counts


class Tags(HTMLParser):
    """Every start tag and attribute of a page, as a browser's parser sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.starts: list[str] = []
        self.attributes: list[tuple[str, str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.starts.append(tag)
        self.attributes.extend((tag, name, value) for name, value in attrs)
        if not attrs:
            self.attributes.append((tag, "", None))


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, object]]:
    inputs = write_inputs(tmp_path_factory.mktemp("inputs"))
    return render_both(lint_with_subjects([inputs]))


def test_html_text_leaves_no_markup_and_no_raw_control_character() -> None:
    escaped = html_text(HOSTILE + "\ud800")
    assert "<" not in escaped and ">" not in escaped and '"' not in escaped and "'" not in escaped
    assert not re.search("[\x00-\x1f\x7f-\x9f\u202e\u2028\ud800]", escaped)
    assert "\\x1b" in escaped and "\\u202e" in escaped and "\\ud800" in escaped
    escaped.encode("utf-8")


def test_hostile_record_values_reach_the_page_only_as_text(report: tuple[str, dict[str, object]]) -> None:
    page, _ = report
    page.encode("utf-8")  # no lone surrogate left to fail the write
    assert SCRIPT not in page
    assert "__pwned" in page  # it is there, as text
    assert page.count("<script") == 1  # ours, at the end
    assert "<img" not in page
    assert "onerror=" not in page.replace("onerror=&quot;", "")
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202e\u2028]", page)
    assert html_text("case-" + HOSTILE) in page


def test_the_page_fetches_nothing(report: tuple[str, dict[str, object]]) -> None:
    page, _ = report
    urls = set(re.findall(r"(?:https?:)?//[^\s\"'<>)]+", page))
    assert urls <= {"http://www.w3.org/2000/svg"}  # a namespace name, never fetched
    tags = Tags()
    tags.feed(page)
    fetching = {"src", "srcset", "action", "data", "formaction", "poster", "background", "ping"}
    assert not [(tag, name) for tag, name, _ in tags.attributes if name in fetching or name.startswith("on")]
    assert [tag for tag, _, _ in tags.attributes if tag in {"img", "iframe", "object", "embed", "link"}] == []
    assert tags.starts.count("script") == 1
    assert set(re.findall(r'href="([^"]*)"', page)) <= {
        f"#{name}" for name in re.findall(r'<section id="([^"]+)"', page)
    }


def test_the_security_policy_allows_exactly_the_pages_own_script_and_style(
    report: tuple[str, dict[str, object]],
) -> None:
    page, _ = report
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert policy is not None
    (script,) = re.findall(r"<script>(.*?)</script>", page, re.S)
    (style,) = re.findall(r"<style>(.*?)</style>", page, re.S)

    def digest(text: str) -> str:
        return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()

    assert f"script-src 'sha256-{digest(script)}'" in policy.group(1)
    assert f"style-src 'sha256-{digest(style)}'" in policy.group(1)
    assert "default-src 'none'" in policy.group(1)
    assert ' style="' not in page  # inline style attributes would be refused by that policy


def test_the_summary_cards_are_the_json_summary(report: tuple[str, dict[str, object]]) -> None:
    page, data = report
    summary = data["summary"]
    assert isinstance(summary, dict)
    cards = dict(re.findall(r'data-key="([a-z_]+)"><dt>[^<]*</dt><dd data-value="(\d+)"', page))
    assert int(cards["violations"]) == summary["violations"] > 9
    assert int(cards["pending"]) == summary["pending"]
    assert int(cards["input_errors"]) == len(data["errors"]) == 1
    assert int(cards["error"]) == summary["by_severity"]["error"]


def test_every_finding_is_a_row_of_the_table(report: tuple[str, dict[str, object]]) -> None:
    page, data = report
    table = page[page.index('id="findings-table"') :]
    rows = re.findall(r'<tr class="status-(\w+)">', table)
    assert rows.count("violation") == len(data["violations"])  # type: ignore[arg-type]
    assert rows.count("pending") == len(data["pending"])  # type: ignore[arg-type]


def test_the_table_is_capped_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lint_report, "MAX_TABLE_ROWS", 3)
    findings = tuple(Finding("p", Severity.ERROR, Status.VIOLATION, f"c{n}", f"r{n}", "m") for n in range(5))
    page = render_html(Evaluation(now=NOW, violations=findings, cases=5), ReportOptions())
    table = page[page.index('id="findings-table"') :]
    assert len(re.findall(r'<tr class="status-violation">', table)) == 3
    assert "The table lists the first 3 of 5 findings" in page
    assert re.search(r'data-key="violations"><dt>violations</dt><dd data-value="5"', page)


def test_an_empty_evaluation_renders() -> None:
    page = render_html(Evaluation(now=NOW), ReportOptions())
    assert page.count('<p class="none">none</p>') == 4  # weeks, actors, channels, ages
    assert "no case has a finding" in page


# --- the figures' rules ------------------------------------------------------------------------------------


def at(
    moment: datetime, policy: str = "p", role: str = "agent", actor: str = "a", channel: str | None = None
) -> Finding:
    return Finding(
        policy,
        Severity.ERROR,
        Status.VIOLATION,
        "c",
        f"r{moment.isoformat()}{policy}{actor}",
        "m",
        subject=Subject(moment, actor, role, channel),
    )


def test_weeks_start_on_monday_in_utc_and_empty_weeks_are_kept() -> None:
    sunday_late = datetime(2024, 5, 12, 23, 30, tzinfo=UTC)  # still the week of Monday 6 May
    monday_early_elsewhere = datetime(2024, 5, 13, 1, 0, tzinfo=UTC).astimezone(
        __import__("zoneinfo").ZoneInfo("America/New_York")
    )  # Sunday evening in New York, Monday in UTC
    three_weeks_on = datetime(2024, 5, 27, 12, tzinfo=UTC)
    categories, series = by_period([at(sunday_late), at(monday_early_elsewhere, "q"), at(three_weeks_on)])
    assert categories == ["2024-05-06", "2024-05-13", "2024-05-20", "2024-05-27"]
    assert series == {"p": [1, 0, 0, 1], "q": [0, 1, 0, 0]}


def test_long_spans_are_counted_by_month_and_findings_without_subject_as_unknown() -> None:
    first = datetime(2010, 1, 31, tzinfo=UTC)
    last = first + timedelta(weeks=200)
    undated = Finding("p", Severity.ERROR, Status.VIOLATION, "c", "x", "m")
    categories, series = by_period([at(first), at(last), undated])
    assert categories[0] == "2010-01" and categories[-2] == f"{last.year}-{last.month:02d}"
    assert categories[-1] == "(unknown)"
    assert sum(series["p"]) == 3 and series["p"][-1] == 1


def test_centuries_apart_only_the_months_with_findings_are_drawn() -> None:
    categories, _ = by_period([at(datetime(1, 1, 1, tzinfo=UTC)), at(datetime(9999, 12, 31, tzinfo=UTC))])
    assert categories == ["0001-01", "9999-12"]


def test_age_buckets_are_half_open_and_all_listed() -> None:
    def pending(age: timedelta) -> Finding:
        return Finding("p", Severity.ERROR, Status.PENDING, "c", str(age), "m", subject=Subject(NOW - age))

    ages = [timedelta(0), timedelta(minutes=59), timedelta(hours=1), timedelta(days=30), timedelta(days=400)]
    buckets = dict(age_histogram([pending(age) for age in ages], NOW))
    assert list(buckets) == [label for label, _ in AGE_BUCKETS]
    assert buckets["< 1h"] == 2 and buckets["1-4h"] == 1 and buckets[">= 30d"] == 2
    assert sum(buckets.values()) == len(ages)


def test_top_counts_keep_the_rest_in_one_bar() -> None:
    assert top_counts(["b", "a", "b", "c", "d"], 2) == [("b", 2), ("a", 1), ("other (2 more)", 2)]


# --- the commands ------------------------------------------------------------------------------------------


def test_lint_format_html_writes_a_page_with_the_subjects_filled(tmp_path: Path) -> None:
    output = tmp_path / "report.html"
    result = CliRunner().invoke(
        main, ["lint", str(EXAMPLES), "--now", "2024-05-09T14:00:00Z", "--format", "html", "-o", str(output)]
    )
    assert result.exit_code == 1  # the examples have error violations
    page = output.read_text("utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert 'data-chart="violations-by-actor" data-series="violations" data-category="billy"' in page
    assert 'data-chart="violations-by-channel"' in page and "(unknown)" not in page


def test_json_lint_is_unchanged_unless_a_report_asks_for_subjects() -> None:
    result = CliRunner().invoke(
        main, ["lint", str(EXAMPLES), "--now", "2024-05-09T14:00:00Z", "--format", "json"]
    )
    assert '"subject"' not in result.stdout
    assert json.loads(result.stdout)["summary"]["violations"] == 9


def test_diff_format_html_writes_a_page(tmp_path: Path) -> None:
    before = tmp_path / "before.toml"
    before.write_text("", "utf-8")
    after = tmp_path / "after.toml"
    after.write_text('[policies.escalate-values-in-question]\nparams = { within = "10m" }\n', "utf-8")
    output = tmp_path / "diff.html"
    result = CliRunner().invoke(
        main,
        [
            "diff",
            str(EXAMPLES),
            "--now",
            "2024-05-09T14:00:00Z",
            "--before",
            str(before),
            "--after",
            str(after),
            "--format",
            "html",
            "-o",
            str(output),
        ],
    )
    assert result.exit_code == 1, result.stderr
    page = output.read_text("utf-8")
    assert (
        'data-chart="changes-per-policy" data-series="changed" '
        'data-category="escalate-values-in-question" data-value="1"' in page
    )
    assert "changed (new violation)" in page
