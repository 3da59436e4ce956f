"""``diff --format html``: what a policy change does, as one page a policy author can share.

Sections: the summary (both sides, totals, new violations at the fail level); the policies with
their counts before and after and what appeared, disappeared and changed; a chart of those per
policy and one of the appeared violations per period; and every change in a searchable, sortable
table (at most :data:`~.lint_report.MAX_TABLE_ROWS`; the JSON report lists them all).
"""

from __future__ import annotations

from collections.abc import Sequence

from serviceflow import __version__
from serviceflow.diff import EvaluationDiff, FindingChange, PolicyDiff, new_violation
from serviceflow.findings import Finding, Status
from serviceflow.reporters.base import PolicyInfo
from serviceflow.reporters.escaping import html_text
from serviceflow.reporters.html.charts import color_for, stacked_columns
from serviceflow.reporters.html.figures import actor_of, by_period, channel_of
from serviceflow.reporters.html.lint_report import MAX_TABLE_ROWS, cards, policy_colors
from serviceflow.reporters.html.page import Section, page, table_tools
from serviceflow.timeutil import format_datetime

__all__ = ["render_diff_html"]


def render_diff_html(
    diff: EvaluationDiff, fail_on: str = "error", policies: Sequence[PolicyInfo] = ()
) -> str:
    """The whole diff report as one HTML document."""
    titles = {policy.id: policy.title for policy in policies}
    changes = diff.changes
    appeared_violations = [
        c.after
        for c in changes
        if c.after is not None and c.after.status is Status.VIOLATION and c.before is None
    ]
    colors = policy_colors(policy.policy for policy in diff.policies)
    sections: list[Section] = [
        ("summary", "Summary", _summary(diff, fail_on)),
        ("policies", "Policies", _policies(diff.policies, titles)),
        ("charts", "Changes per policy and over time", _charts(diff, appeared_violations, colors)),
        ("changes", "Changes", _changes_table(changes, fail_on)),
    ]
    subtitle = (
        f"before: {diff.before_label} \u2192 after: {diff.after_label}; evaluated at "
        f"{format_datetime(diff.after.now)}: {diff.after.records:,} records in {diff.after.cases:,} cases"
    )
    return page("serviceflow diff report", subtitle, sections, f"serviceflow {__version__}")


def _summary(diff: EvaluationDiff, fail_on: str) -> str:
    totals = diff.totals()
    return cards(
        [
            ("changed_policies", "policies changed", len(diff.changed_policies), False),
            ("appeared", "appeared", totals["appeared"], True),
            ("new_violations", f"new violations ({fail_on}+)", len(diff.new_violations(fail_on)), True),
            ("disappeared", "disappeared", totals["disappeared"], False),
            ("changed", "changed", totals["changed"], False),
            ("violations_before", "violations before", len(diff.before.violations), False),
            ("violations_after", "violations after", len(diff.after.violations), False),
            ("pending_before", "pending before", len(diff.before.pending), False),
            ("pending_after", "pending after", len(diff.after.pending), False),
            ("input_errors", "input errors", diff.after.input_error_count, True),
        ]
    )


def _policies(policies: Sequence[PolicyDiff], titles: dict[str, str]) -> str:
    rows = []
    for policy in policies:
        note = "" if policy.ran_before else " (new)"
        note = note if policy.ran_after else " (removed)"

        def cell(value: int) -> str:
            return f'<td class="num" data-sort="{value}">{value:,}</td>'

        rows.append(
            f'<tr data-policy="{html_text(policy.policy)}">'
            f'<td class="id">{html_text(policy.policy)}{note}</td>'
            f"<td>{html_text(titles.get(policy.policy, ''))}</td>"
            + cell(policy.before.get("violation", 0))
            + cell(policy.after.get("violation", 0))
            + cell(policy.before.get("pending", 0))
            + cell(policy.after.get("pending", 0))
            + cell(len(policy.appeared))
            + cell(len(policy.disappeared))
            + cell(len(policy.changed))
            + "</tr>"
        )
    numbers = "".join(
        f'<th class="num" data-type="number">{name}</th>'
        for name in (
            "violations before",
            "violations after",
            "pending before",
            "pending after",
            "appeared",
            "disappeared",
            "changed",
        )
    )
    return (
        '<div class="table-wrap"><table class="findings" id="policy-table"><thead><tr><th>policy</th>'
        f"<th>title</th>{numbers}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _charts(diff: EvaluationDiff, appeared_violations: Sequence[Finding], colors: dict[str, str]) -> str:
    changed = [policy for policy in diff.policies if policy.changes]
    per_policy = stacked_columns(
        "changes-per-policy",
        "Appeared, disappeared and changed findings per policy",
        [policy.policy for policy in changed],
        {
            "appeared": [len(policy.appeared) for policy in changed],
            "disappeared": [len(policy.disappeared) for policy in changed],
            "changed": [len(policy.changed) for policy in changed],
        },
        {"appeared": color_for(3), "disappeared": color_for(2), "changed": color_for(1)},
    )
    categories, series = by_period(appeared_violations)
    weekly = stacked_columns(
        "appeared-per-period",
        "Appeared violations per policy per week (of the subject record)",
        categories,
        series,
        colors,
    )
    return f'<div class="charts">{per_policy}{weekly}</div>'


def _changes_table(changes: Sequence[FindingChange], fail_on: str) -> str:
    ordered = sorted(changes, key=lambda c: (not new_violation(c, fail_on), c.kind.value, c.finding.key))
    shown = ordered[:MAX_TABLE_ROWS]
    note = ""
    if len(ordered) > len(shown):
        note = (
            f'<p class="note">The table lists the first {len(shown):,} of {len(ordered):,} changes (new '
            "violations first); --format json lists them all.</p>"
        )
    body = "".join(_change_row(change, fail_on) for change in shown)
    return (
        note
        + table_tools("changes", "search changes: policy, case, record, status, words of the message")
        + '<div class="table-wrap"><table class="findings" id="changes-table" data-search="changes-search" '
        'data-count="changes-count"><thead><tr><th>change</th><th>policy</th><th>case</th><th>record</th>'
        "<th>before</th><th>after</th><th>at</th><th>actor</th><th>channel</th><th>message</th>"
        f"</tr></thead><tbody>{body}</tbody></table></div>"
    )


def _side(finding: Finding | None) -> str:
    if finding is None:
        return "none"
    text = finding.status.value
    if finding.status is Status.VIOLATION:
        text += f" ({finding.severity.value})"
    if finding.deadline is not None:
        text += f" due {format_datetime(finding.deadline)}"
    return text


def _change_row(change: FindingChange, fail_on: str) -> str:
    finding = change.finding
    subject = finding.subject
    kind = change.kind.value + (" (new violation)" if new_violation(change, fail_on) else "")
    return (
        f'<tr class="kind-{change.kind.value}"><td class="kind">{html_text(kind)}</td>'
        f'<td class="id">{html_text(finding.policy)}</td><td class="id">{html_text(finding.case_id)}</td>'
        f'<td class="id">{html_text(finding.record_id)}</td><td>{html_text(_side(change.before))}</td>'
        f"<td>{html_text(_side(change.after))}</td>"
        f"<td>{format_datetime(subject.at) if subject is not None else ''}</td>"
        f"<td>{html_text(actor_of(finding))}</td><td>{html_text(channel_of(finding))}</td>"
        f'<td class="message">{html_text(finding.message)}</td></tr>'
    )
