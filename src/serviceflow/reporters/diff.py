"""The reports of ``serviceflow diff``: per policy, what a policy change makes appear, disappear, change.

Text is for the author reviewing a change: one block per policy that changed, its counts before and
after, then a few examples of each kind; the policies that did not change on one line; a summary
line. JSON carries every change (``--examples`` limits the text and HTML reports only). The HTML
report is :mod:`serviceflow.reporters.html`'s.
"""

from __future__ import annotations

from collections.abc import Sequence

from serviceflow.diff import ChangeKind, EvaluationDiff, FindingChange, PolicyDiff, new_violation
from serviceflow.findings import Finding, Status
from serviceflow.reporters.base import plural
from serviceflow.reporters.escaping import json_text, printable
from serviceflow.timeutil import format_datetime

__all__ = ["describe_finding", "render_diff_json", "render_diff_text", "summary_text"]

_MARKS = {ChangeKind.APPEARED: "+", ChangeKind.DISAPPEARED: "-", ChangeKind.CHANGED: "~"}


def render_diff_json(diff: EvaluationDiff, fail_on: str = "error", examples: int | None = None) -> str:
    """Every change of every policy (``examples``: only the first of each kind), counts, totals."""
    return json_text(diff.to_dict(fail_on, examples), indent=2) + "\n"


def render_diff_text(diff: EvaluationDiff, fail_on: str = "error", examples: int = 5) -> str:
    """A block per changed policy with up to ``examples`` changes of each kind, then a summary."""
    lines = [
        f"before: {printable(diff.before_label)}",
        f"after:  {printable(diff.after_label)}",
        "",
    ]
    unchanged = []
    for policy in diff.policies:
        if not policy.changes and policy.ran_before == policy.ran_after:
            unchanged.append(printable(policy.policy))
            continue
        lines.extend(_policy_block(policy, fail_on, examples))
        lines.append("")
    if unchanged:
        lines.append(f"unchanged: {', '.join(unchanged)}")
        lines.append("")
    lines.append(summary_text(diff, fail_on))
    return "\n".join(lines) + "\n"


def summary_text(diff: EvaluationDiff, fail_on: str) -> str:
    """``2 of 14 policies changed: +120 appeared, -3 disappeared, ~5 changed; 98 new violations at or
    above error; ...`` (records and cases, input errors)."""
    totals = diff.totals()
    new = len(diff.new_violations(fail_on))
    level = "" if fail_on == "never" else f" at or above {fail_on}"
    text = (
        f"{len(diff.changed_policies)} of {plural(len(diff.policies), 'policy', 'policies')} changed: "
        f"+{totals['appeared']} appeared, -{totals['disappeared']} disappeared, "
        f"~{totals['changed']} changed; "
        f"{plural(new, 'new violation')}{level}"
    )
    text += f"; {plural(diff.after.records, 'record')} in {plural(diff.after.cases, 'case')}"
    if diff.after.input_error_count:
        text += f"; {plural(diff.after.input_error_count, 'input error')}"
    return text


def _policy_block(policy: PolicyDiff, fail_on: str, examples: int) -> list[str]:
    name = printable(policy.policy)
    if not policy.ran_before:
        name += "  (new: did not run before)"
    elif not policy.ran_after:
        name += "  (removed: does not run after)"
    lines = [
        f"policy {name}",
        f"  before: {_counts(policy, before=True)}",
        f"  after:  {_counts(policy, before=False)}",
    ]
    for kind, changes in (
        (ChangeKind.APPEARED, policy.appeared),
        (ChangeKind.DISAPPEARED, policy.disappeared),
        (ChangeKind.CHANGED, policy.changed),
    ):
        if not changes:
            continue
        lines.append(f"  {_MARKS[kind]}{len(changes)} {kind.value}{_breakdown(kind, changes, fail_on)}")
        for change in changes[:examples]:
            lines.append(f"    {_MARKS[kind]} {_change_line(change)}")
        if len(changes) > examples:
            lines.append(f"    ... and {len(changes) - examples} more (--format json lists them all)")
    return lines


def _counts(policy: PolicyDiff, *, before: bool) -> str:
    counts = policy.before if before else policy.after
    text = f"{plural(counts.get('violation', 0), 'violation')}, {counts.get('pending', 0)} pending"
    errors = counts.get("error", 0)
    return text + (f", {plural(errors, 'engine error')}" if errors else "")


def _breakdown(kind: ChangeKind, changes: Sequence[FindingChange], fail_on: str) -> str:
    if kind is ChangeKind.CHANGED:
        fields: dict[str, int] = {}
        for change in changes:
            for name in change.differences:
                fields[name] = fields.get(name, 0) + 1
        return " (" + ", ".join(f"{name} {count}" for name, count in fields.items()) + ")"
    findings = [change.after if kind is ChangeKind.APPEARED else change.before for change in changes]
    statuses: dict[str, int] = {}
    for finding in findings:
        if finding is not None:
            statuses[finding.status.value] = statuses.get(finding.status.value, 0) + 1
    parts = [f"{count} {status}" for status, count in sorted(statuses.items())]
    if kind is ChangeKind.APPEARED:
        new = sum(1 for change in changes if new_violation(change, fail_on))
        if new:
            parts.append(f"{new} new at or above {fail_on}")
    return " (" + ", ".join(parts) + ")"


def _change_line(change: FindingChange) -> str:
    if change.kind is ChangeKind.CHANGED:
        assert change.before is not None and change.after is not None
        moves = ", ".join(
            f"{name} {_field(change.before, name)} -> {_field(change.after, name)}"
            for name in change.differences
        )
        return f"{describe_finding(change.after, message=False)}: {moves}"
    return describe_finding(change.finding)


def describe_finding(finding: Finding, *, message: bool = True) -> str:
    """``violation error  case C-1  record r-7: message`` with every user value made printable."""
    label = (
        finding.status.value
        if finding.status is not Status.VIOLATION
        else f"violation {finding.severity.value}"
    )
    text = f"{label}  case {printable(finding.case_id)}  record {printable(finding.record_id)}"
    if finding.deadline is not None and finding.status is Status.PENDING:
        text += f"  due {format_datetime(finding.deadline)}"
    return text + (f": {printable(finding.message)}" if message else "")


def _field(finding: Finding, name: str) -> str:
    value = getattr(finding, name)
    if value is None:
        return "none"
    if name == "deadline":
        return format_datetime(value)
    return str(getattr(value, "value", value))
