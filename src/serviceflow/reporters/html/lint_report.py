"""``lint --format html``: a lint run as one page a team lead can read without a terminal.

Sections: the summary; the policies with their counts; violations per policy per period, by actor and
by channel; the age of the pending obligations; the cases with the most findings; every finding in a
table that can be searched and sorted; the input errors. The figures group findings by their subject
record (:mod:`.figures`); ``lint`` fills it (:mod:`serviceflow.subjects`) when this format is chosen.

The findings table lists at most :data:`MAX_TABLE_ROWS` rows (violations first, most severe first):
a browser stays responsive, and the charts and counts still cover every finding. The JSON report
lists them all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from serviceflow import __version__
from serviceflow.errors import InputError
from serviceflow.findings import Evaluation, Finding, Status
from serviceflow.reporters.base import PolicyInfo, ReportOptions, place
from serviceflow.reporters.escaping import html_text
from serviceflow.reporters.html.charts import bar_chart, color_for, stacked_columns
from serviceflow.reporters.html.figures import actor_of, age_histogram, by_period, channel_of, top_counts
from serviceflow.reporters.html.page import Section, page, table_tools
from serviceflow.timeutil import format_datetime

__all__ = ["MAX_ERROR_ROWS", "MAX_TABLE_ROWS", "TOP_ACTORS", "TOP_CASES", "render_html"]

MAX_TABLE_ROWS = 10_000
MAX_ERROR_ROWS = 200
TOP_ACTORS = 20
TOP_CASES = 20


def render_html(evaluation: Evaluation, options: ReportOptions) -> str:
    """The whole report as one HTML document."""
    waived = [item.finding for item in evaluation.waived]
    findings = [*evaluation.violations, *evaluation.engine_errors, *evaluation.pending]
    policies = {policy.id: policy for policy in options.policies}
    colors = policy_colors([*policies, *(f.policy for f in findings)])
    sections: list[Section] = [
        ("summary", "Summary", _summary(evaluation)),
        ("policies", "Policies", _policies(evaluation, policies)),
        ("charts", "Violations over time, by actor and by channel", _charts(evaluation, colors)),
        ("pending-age", "Age of pending obligations", _ages(evaluation)),
        ("top-cases", "Cases with the most findings", _top_cases(evaluation)),
        ("findings", "Findings", findings_table(findings, waived if options.show_waived else [])),
    ]
    if evaluation.input_error_count:
        sections.append(("input-errors", "Input errors", _input_errors(evaluation)))
    subtitle = (
        f"evaluated at {format_datetime(evaluation.now)}: {evaluation.records:,} records in "
        f"{evaluation.cases:,} cases"
    )
    return page("serviceflow lint report", subtitle, sections, f"serviceflow {__version__}")


def policy_colors(policy_ids: Iterable[str]) -> dict[str, str]:
    """One colour per policy, by sorted id, the same in every chart of the page."""
    return {policy: color_for(index) for index, policy in enumerate(sorted(set(policy_ids)))}


def cards(items: Sequence[tuple[str, str, int, bool]]) -> str:
    """Summary cards: ``(key, label, value, bad)``; ``data-key``/``data-value`` name them for tools."""
    return (
        '<dl class="cards">'
        + "".join(
            f'<div class="card{" bad" if bad and value else ""}" data-key="{html_text(key)}">'
            f'<dt>{html_text(label)}</dt><dd data-value="{value}">{value:,}</dd></div>'
            for key, label, value, bad in items
        )
        + "</dl>"
    )


def _summary(evaluation: Evaluation) -> str:
    severities = Counter(f.severity.value for f in evaluation.violations)
    return cards(
        [
            ("cases", "cases", evaluation.cases, False),
            ("records", "records", evaluation.records, False),
            ("violations", "violations", len(evaluation.violations), True),
            ("error", "errors", severities.get("error", 0), True),
            ("warning", "warnings", severities.get("warning", 0), True),
            ("info", "info", severities.get("info", 0), False),
            ("pending", "pending", len(evaluation.pending), False),
            ("engine_errors", "engine errors", len(evaluation.engine_errors), True),
            ("waived", "waived", len(evaluation.waived), False),
            ("input_errors", "input errors", evaluation.input_error_count, True),
        ]
    )


def _policies(evaluation: Evaluation, policies: dict[str, PolicyInfo]) -> str:
    violations = Counter(f.policy for f in evaluation.violations)
    pending = Counter(f.policy for f in evaluation.pending)
    waived = Counter(item.finding.policy for item in evaluation.waived)
    ids = sorted(set(policies) | set(violations) | set(pending) | set(waived))
    rows = []
    for policy_id in ids:
        info = policies.get(policy_id)
        title = info.title if info is not None else ""
        severity = info.severity.value if info is not None else ""
        rows.append(
            f'<tr data-policy="{html_text(policy_id)}"><td class="id">{html_text(policy_id)}</td>'
            f'<td>{html_text(title)}</td><td class="sev-{html_text(severity)}">{html_text(severity)}</td>'
            f'<td class="num" data-sort="{violations[policy_id]}">{violations[policy_id]:,}</td>'
            f'<td class="num" data-sort="{pending[policy_id]}">{pending[policy_id]:,}</td>'
            f'<td class="num" data-sort="{waived[policy_id]}">{waived[policy_id]:,}</td></tr>'
        )
    return (
        '<div class="table-wrap"><table class="findings" id="policy-table"><thead><tr><th>policy</th>'
        '<th>title</th><th>severity</th><th class="num" data-type="number">violations</th>'
        '<th class="num" data-type="number">pending</th><th class="num" data-type="number">waived</th>'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _charts(evaluation: Evaluation, colors: dict[str, str]) -> str:
    violations = evaluation.violations
    categories, series = by_period(violations)
    weekly = stacked_columns(
        "violations-per-period",
        "Violations per policy per week (of the subject record)",
        categories,
        series,
        colors,
    )
    actors = bar_chart(
        "violations-by-actor",
        "Violations by actor (of the subject record)",
        top_counts((actor_of(f) for f in violations), TOP_ACTORS),
        series="violations",
    )
    channels = bar_chart(
        "violations-by-channel",
        "Violations by channel",
        top_counts((channel_of(f) for f in violations), TOP_ACTORS),
        series="violations",
        color=color_for(2),
    )
    return f'<div class="charts">{weekly}{actors}{channels}</div>'


def _ages(evaluation: Evaluation) -> str:
    buckets = age_histogram(evaluation.pending, evaluation.now)
    chart = stacked_columns(
        "pending-age",
        f"Pending obligations by age at {format_datetime(evaluation.now)}",
        [label for label, _ in buckets],
        {"pending": [count for _, count in buckets]},
        {"pending": color_for(5)},
    )
    return f'<div class="charts">{chart}</div>'


def _top_cases(evaluation: Evaluation) -> str:
    violations = Counter(f.case_id for f in evaluation.violations)
    pending = Counter(f.case_id for f in evaluation.pending)
    policies: dict[str, set[str]] = {}
    for finding in (*evaluation.violations, *evaluation.pending):
        policies.setdefault(finding.case_id, set()).add(finding.policy)
    ranked = sorted(policies, key=lambda case: (-violations[case], -pending[case], case))[:TOP_CASES]
    if not ranked:
        return '<p class="none">no case has a finding</p>'
    rows = "".join(
        f'<tr data-case="{html_text(case)}"><td class="id">{html_text(case)}</td>'
        f'<td class="num" data-sort="{violations[case]}">{violations[case]:,}</td>'
        f'<td class="num" data-sort="{pending[case]}">{pending[case]:,}</td>'
        f"<td>{html_text(', '.join(sorted(policies[case])))}</td></tr>"
        for case in ranked
    )
    return (
        '<table class="findings" id="top-cases-table"><thead><tr><th>case</th>'
        '<th class="num" data-type="number">violations</th><th class="num" data-type="number">pending</th>'
        f"<th>policies</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def findings_table(findings: Sequence[Finding], waived: Sequence[Finding] = ()) -> str:
    """Every finding (up to :data:`MAX_TABLE_ROWS`) with its reason, searchable and sortable."""
    rows = [(finding, False) for finding in findings] + [(finding, True) for finding in waived]
    shown = rows[:MAX_TABLE_ROWS]
    note = ""
    if len(rows) > len(shown):
        note = (
            f'<p class="note">The table lists the first {len(shown):,} of {len(rows):,} findings (violations '
            "first); the charts and counts cover them all, and --format json lists them all.</p>"
        )
    body = "".join(_finding_row(finding, is_waived) for finding, is_waived in shown)
    return (
        note
        + table_tools("findings", "search findings: policy, case, record, actor, words of the message")
        + '<div class="table-wrap"><table class="findings" id="findings-table" data-search="findings-search" '
        'data-count="findings-count"><thead><tr><th>status</th><th>severity</th><th>policy</th><th>case</th>'
        "<th>record</th><th>at</th><th>actor</th><th>channel</th><th>deadline</th><th>message and reason</th>"
        f"</tr></thead><tbody>{body}</tbody></table></div>"
    )


def _finding_row(finding: Finding, waived: bool) -> str:
    status = "waived" if waived else finding.status.value
    subject = finding.subject
    at = format_datetime(subject.at) if subject is not None else ""
    deadline = format_datetime(finding.deadline) if finding.deadline is not None else ""
    reason = f'<div class="reason">because: {html_text(finding.reason)}</div>' if finding.reason else ""
    where = place(finding.origin)
    origin = f'<div class="reason">{html_text(where)}</div>' if where else ""
    severity = finding.severity.value
    rank = {Status.VIOLATION: 0, Status.ERROR: 1, Status.PENDING: 2}.get(finding.status, 3)
    return (
        f'<tr class="status-{html_text(finding.status.value)}"><td class="status" data-sort="{rank}">'
        f"{html_text(status)}</td>"
        f'<td class="sev-{severity}" data-sort="{2 - finding.severity.rank}">{severity}</td>'
        f'<td class="id">{html_text(finding.policy)}</td><td class="id">{html_text(finding.case_id)}</td>'
        f'<td class="id">{html_text(finding.record_id)}</td><td>{at}</td>'
        f"<td>{html_text(actor_of(finding))}</td><td>{html_text(channel_of(finding))}</td><td>{deadline}</td>"
        f'<td class="message">{html_text(finding.message)}{reason}{origin}</td></tr>'
    )


def _input_errors(evaluation: Evaluation) -> str:
    shown: Sequence[InputError] = evaluation.input_errors[:MAX_ERROR_ROWS]
    items = "".join(f"<li>{html_text(str(error))}</li>" for error in shown)
    more = evaluation.input_error_count - len(shown)
    tail = f'<p class="note">... and {more:,} more (not shown)</p>' if more else ""
    return f"<ol>{items}</ol>{tail}"
