"""The human report: findings grouped by case, the way a team lead reads a queue.

Each case gets a header, then its violations (most severe first) and its pending obligations with
their deadlines; the counts per policy and a summary line end the report. Input errors are not
repeated here (the CLI prints them on stderr as they are); the summary counts them. Waived findings
are counted in the summary and listed, last in their case with the waiver's owner, expiry and
reason, only with ``show_waived``.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import groupby
from typing import TYPE_CHECKING, Any

from serviceflow.errors import RecordError
from serviceflow.findings import Evaluation, Finding, Severity, Status
from serviceflow.reporters.base import ReportOptions, place, plural, severities_by_rank
from serviceflow.reporters.escaping import printable
from serviceflow.timeutil import format_datetime

if TYPE_CHECKING:
    from serviceflow.waivers import Waiver

_SEVERITY_COLORS = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "blue"}
_PENDING_COLOR = "cyan"
_WAIVED_COLOR = "magenta"
_LABEL_WIDTH = len("pending")


def render_text(evaluation: Evaluation, options: ReportOptions) -> str:
    """Findings by case, then a one-line summary."""
    style = _Style(options.color)
    waivers = {id(w.finding): w.waiver for w in evaluation.waived} if options.show_waived else {}
    shown_waived = [w.finding for w in evaluation.waived] if options.show_waived else []
    everything = [*evaluation.engine_errors, *evaluation.violations, *evaluation.pending, *shown_waived]
    policy_width = max((len(printable(finding.policy)) for finding in everything), default=0)
    lines: list[str] = []
    # Within a case, waived findings come last: the open ones are what needs doing.
    ordered = sorted(everything, key=lambda f: (f.case_id, id(f) in waivers, _case_order(f)))
    for case_id, case_findings in groupby(ordered, key=lambda f: f.case_id):
        findings = list(case_findings)
        open_findings = [f for f in findings if id(f) not in waivers]
        violations = [f for f in open_findings if f.status is Status.VIOLATION]
        pending = [f for f in open_findings if f.status is Status.PENDING]
        errors = [f for f in open_findings if f.status is Status.ERROR]
        counts = [plural(len(errors), "engine error")] if errors else []
        if violations:
            counts.append(plural(len(violations), "violation"))
        if pending:
            counts.append(f"{len(pending)} pending")
        if len(open_findings) < len(findings):
            counts.append(f"{len(findings) - len(open_findings)} waived")
        lines.append(f"{style.bold(f'case {printable(case_id)}')}  ({', '.join(counts)})")
        for finding in findings:
            lines.extend(_finding_lines(finding, policy_width, style, waivers.get(id(finding))))
        lines.append("")
    lines.extend(_per_policy(evaluation, style))
    failed = bool(evaluation.violations or evaluation.engine_errors)
    lines.append(style.summary(summary_line(evaluation), failed=failed))
    return "\n".join(lines) + "\n"


def _per_policy(evaluation: Evaluation, style: _Style) -> list[str]:
    """A table of counts per policy before the summary: what a team lead reads after 150k lines."""
    counts: dict[str, list[int]] = {}
    for column, findings in enumerate((evaluation.violations, evaluation.pending, evaluation.engine_errors)):
        for finding in findings:
            counts.setdefault(finding.policy, [0, 0, 0])[column] += 1
    if not counts:
        return []
    width = max(len(printable(policy)) for policy in counts)
    lines = [style.bold("by policy")]
    for policy, (violations, pending, errors) in sorted(
        counts.items(), key=lambda item: (-item[1][0], item[0])
    ):
        parts = [plural(violations, "violation")]
        if pending:
            parts.append(f"{pending} pending")
        if errors:
            parts.append(plural(errors, "engine error"))
        lines.append(f"  {printable(policy):<{width}}  {', '.join(parts)}")
    lines.append("")
    return lines


def summary_line(evaluation: Evaluation) -> str:
    """``3 violations (3 error) and 1 pending in 2 of 5 cases; 1 invalid record``."""
    text = plural(len(evaluation.violations), "violation")
    by_severity = severities_by_rank(evaluation.violations)
    if by_severity:
        text += " (" + ", ".join(f"{count} {severity.value}" for severity, count in by_severity) + ")"
    affected = len({f.case_id for f in (*evaluation.violations, *evaluation.pending)})
    text += f" and {len(evaluation.pending)} pending in {affected} of {plural(evaluation.cases, 'case')}"
    unreadable = sum(1 for error in evaluation.input_errors if not isinstance(error, RecordError))
    invalid = evaluation.input_error_count - unreadable
    problems = _nonzero(
        [
            (len(evaluation.engine_errors), "engine error"),
            (invalid, "invalid record"),
            (unreadable, "unreadable source"),
        ]
    )
    waived = [f"{len(evaluation.waived)} waived"] if evaluation.waived else []
    return "; ".join([text, *waived, *problems])


def _nonzero(counts: Iterable[tuple[int, str]]) -> list[str]:
    return [plural(count, noun) for count, noun in counts if count]


def _case_order(finding: Finding) -> tuple[str, int, int, float, str, int, str, str]:
    """Within a case: engine errors, violations (most severe first), then pending obligations, soonest
    deadline first.

    Ties are broken by where the record sits in the input, which usually follows the case's story.
    """
    pending = finding.status is Status.PENDING
    error = finding.status is Status.ERROR
    deadline = finding.deadline.timestamp() if finding.deadline is not None else float("inf")
    origin = finding.origin
    return (
        finding.case_id,
        1 if pending else 0,
        0 if pending else -finding.severity.rank - (1 if error else 0),
        deadline if pending else 0.0,
        (origin.file or "") if origin is not None else "",
        (origin.line or 0) if origin is not None else 0,
        finding.policy,
        finding.record_id,
    )


def _finding_lines(
    finding: Finding, policy_width: int, style: _Style, waiver: Waiver | None = None
) -> list[str]:
    if waiver is not None:
        label = style.color("waived".ljust(_LABEL_WIDTH), _WAIVED_COLOR)
    elif finding.status is Status.PENDING:
        label = style.color("pending".ljust(_LABEL_WIDTH), _PENDING_COLOR)
    elif finding.status is Status.ERROR:
        label = style.color("engine".ljust(_LABEL_WIDTH), _SEVERITY_COLORS[Severity.ERROR])
    else:
        label = style.color(finding.severity.value.ljust(_LABEL_WIDTH), _SEVERITY_COLORS[finding.severity])
    # Every id, path and message is user data: escaped, so a terminal shows it rather than obeys it.
    policy, record_id = printable(finding.policy), printable(finding.record_id)
    head = f"  {label}  {policy.ljust(policy_width)}  record {record_id}"
    where = place(finding.origin)
    if where:
        head += "  " + style.dim(printable(where))
    lines = [head.rstrip(), f"      {printable(finding.message)}"]
    if finding.reason is not None:
        lines.append(f"      because: {printable(finding.reason)}")
    if finding.deadline is not None and format_datetime(finding.deadline) not in finding.message:
        word = "due by" if finding.status is Status.PENDING else "deadline was"
        lines.append(f"      {word} {format_datetime(finding.deadline)}")
    if len(finding.evidence) > 1:
        lines.append(f"      evidence: {printable(', '.join(finding.evidence))}")
    if waiver is not None:
        reason = printable(" ".join(waiver.reason.split()))
        waiver_place = place(waiver.location)
        where = style.dim(f"  {printable(waiver_place)}") if waiver_place else ""
        lines.append(
            f"      waived by {printable(waiver.owner)} until {printable(waiver.expires_as_written)}: "
            f"{reason}{where}"
        )
    return lines


class _Style:
    """ANSI styling through ``click.style``, or none at all.

    click is imported only when colour is asked for, so that adapters other than the CLI (a web
    service rendering JSON or SARIF) can use the reporters without it.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def _style(self, text: str, **styles: Any) -> str:
        if not self.enabled:
            return text
        import click

        return click.style(text, **styles)

    def color(self, text: str, fg: str) -> str:
        return self._style(text, fg=fg, bold=True)

    def bold(self, text: str) -> str:
        return self._style(text, bold=True)

    def dim(self, text: str) -> str:
        return self._style(text, dim=True)

    def summary(self, text: str, failed: bool) -> str:
        return self._style(text, fg="red" if failed else "green", bold=True)
