"""GitHub Actions workflow commands: one annotation per violation and per input error.

``::error file=F,line=L,title=POLICY::message``; warnings become ``::warning`` and info ``::notice``.
Values are escaped as the Actions runner expects: in the message ``%``, ``\\r`` and ``\\n``; in
properties also ``:`` and ``,``. Before that, user data goes through
:func:`~serviceflow.reporters.escaping.printable`: the runner's log obeys ANSI sequences, and a raw
newline would start a workflow command of the record's choosing.

Pending obligations are not annotations (nothing is wrong yet, and Actions caps annotations per step):
they are plain log lines, followed by the summary line.
"""

from __future__ import annotations

from serviceflow.errors import Location
from serviceflow.findings import Evaluation, Severity
from serviceflow.reporters.base import ReportOptions
from serviceflow.reporters.escaping import printable
from serviceflow.reporters.text import summary_line
from serviceflow.timeutil import format_datetime

_COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def escape_data(value: str) -> str:
    """Escape a workflow command's message."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """Escape a workflow command's property value (``file``, ``title``, ...)."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def workflow_command(command: str, message: str, properties: dict[str, str]) -> str:
    """``::command key=value,...::message`` with everything escaped, control characters made visible."""
    rendered = ",".join(
        f"{key}={escape_property(printable(value, newlines=True))}" for key, value in properties.items()
    )
    text = escape_data(printable(message, newlines=True))
    return f"::{command}{' ' + rendered if rendered else ''}::{text}"


def render_github(evaluation: Evaluation, options: ReportOptions) -> str:
    """Annotations for violations and input errors, then pending obligations and the summary."""
    lines = []
    for finding in evaluation.violations:
        properties = _place(finding.origin)
        properties["title"] = finding.policy
        message = f"{finding.message} (case {finding.case_id}, record {finding.record_id})"
        lines.append(workflow_command(_COMMANDS[finding.severity], message, properties))
    for finding in evaluation.engine_errors:
        properties = _place(finding.origin)
        properties["title"] = f"serviceflow engine error: {finding.policy}"
        message = f"{finding.message} (case {finding.case_id}, record {finding.record_id})"
        lines.append(workflow_command("error", message, properties))
    for error in evaluation.input_errors:
        properties = _place(error.location)
        properties["title"] = "serviceflow input error"
        pointer = f"{error.location.pointer or '/'}: " if error.location.pointer is not None else ""
        lines.append(workflow_command("error", pointer + error.message, properties))
    for finding in evaluation.pending:
        due = f" due by {format_datetime(finding.deadline)}" if finding.deadline else ""
        line = f"pending{due}: {finding.policy}: {finding.message} (case {finding.case_id})"
        lines.append(printable(" ".join(line.splitlines())))
    lines.append(summary_line(evaluation))
    return "\n".join(lines) + "\n"


def _place(location: Location | None) -> dict[str, str]:
    properties: dict[str, str] = {}
    if location is not None and location.file is not None and not location.file.startswith("<"):
        properties["file"] = location.file
        if location.line is not None:
            properties["line"] = str(location.line)
    return properties
