"""What every reporter shares: its signature, the options it receives and small wording helpers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from serviceflow.errors import Location
from serviceflow.findings import Evaluation, Finding, Severity


class PolicyInfo(Protocol):
    """What a reporter needs to know about a policy (a ``CompiledPolicy`` or a ``PolicyDefinition``)."""

    @property
    def id(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def severity(self) -> Severity: ...

    @property
    def rationale(self) -> str: ...


@dataclass(frozen=True)
class ReportOptions:
    """What a reporter may use besides the evaluation.

    ``policies`` are the policies that ran (with their effective severity), so that formats that
    describe their rules (SARIF, JUnit) can list policies without findings too. ``color`` allows ANSI
    styling; the caller decides it (a terminal, and ``NO_COLOR`` unset). ``show_waived`` lists waived
    findings in the text report, which otherwise only counts them (a team reads the open queue).
    """

    policies: Sequence[PolicyInfo] = ()
    color: bool = False
    show_waived: bool = False


Reporter = Callable[[Evaluation, ReportOptions], str]


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``1 violation``, ``2 violations``."""
    return f"{count} {singular if count == 1 else plural_form or singular + 's'}"


def place(location: Location | None) -> str | None:
    """``file:line`` of a location, or ``None`` when it names no file."""
    if location is None or location.file is None:
        return None
    return location.file if location.line is None else f"{location.file}:{location.line}"


def severities_by_rank(findings: Sequence[Finding]) -> list[tuple[Severity, int]]:
    """How many findings there are of each severity, the most severe first, zero counts left out."""
    counts = {severity: 0 for severity in Severity}
    for finding in findings:
        counts[finding.severity] += 1
    ordered = sorted(counts.items(), key=lambda item: item[0].rank, reverse=True)
    return [(severity, count) for severity, count in ordered if count]
