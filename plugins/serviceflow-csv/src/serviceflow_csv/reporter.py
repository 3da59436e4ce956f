"""The ``csv`` report: one row per finding, in columns a spreadsheet can sort and filter.

Columns, in order: ``policy, severity, status, case, record, deadline, message, evidence, file, line``.

* A row per violation, pending obligation and engine error (``status`` says which), sorted by case,
  policy and record, so that an auditor reads a case's findings together.
* A row per record that could not be read or validated, with ``status`` ``invalid_record``: an audit
  of findings must show which records were never evaluated, not silently leave them out. Such a row
  has no policy or case; ``record`` is the record's id when it was readable.
* ``deadline`` is RFC 3339 (pending rows only); ``evidence`` the record ids, ``; ``-separated;
  ``file`` and ``line`` where the record was read, when known.
* A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'``:
  messages quote customers' words and record ids come from other systems, and a spreadsheet would
  otherwise run such a cell as a formula (CSV injection).

RFC 4180: comma-separated, fields quoted when needed, CRLF line ends, a header row, UTF-8. The same
evaluation gives the same bytes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from serviceflow.plugin import Evaluation, Finding, InputError, RecordError, ReportOptions, format_datetime

COLUMNS = (
    "policy",
    "severity",
    "status",
    "case",
    "record",
    "deadline",
    "message",
    "evidence",
    "file",
    "line",
)
INVALID_RECORD = "invalid_record"
EVIDENCE_SEPARATOR = "; "
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def render_csv(evaluation: Evaluation, options: ReportOptions) -> str:
    """The header and one row per finding, then one per invalid record."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows(evaluation):
        writer.writerow([_cell(value) for value in row])
    return buffer.getvalue()


def rows(evaluation: Evaluation) -> Iterator[tuple[str, ...]]:
    """Each row's values, before CSV quoting and the formula guard."""
    findings = [*evaluation.violations, *evaluation.pending, *evaluation.engine_errors]
    for finding in sorted(findings, key=lambda item: item.key):
        yield _finding_row(finding)
    for error in evaluation.input_errors:
        yield _error_row(error)


def _finding_row(finding: Finding) -> tuple[str, ...]:
    origin = finding.origin
    return (
        finding.policy,
        finding.severity.value,
        finding.status.value,
        finding.case_id,
        finding.record_id,
        format_datetime(finding.deadline) if finding.deadline is not None else "",
        finding.message,
        EVIDENCE_SEPARATOR.join(finding.evidence),
        (origin.file or "") if origin is not None else "",
        str(origin.line) if origin is not None and origin.line is not None else "",
    )


def _error_row(error: InputError) -> tuple[str, ...]:
    record_id = error.record_id if isinstance(error, RecordError) else None
    location = error.location
    message = error.message if not location.pointer else f"{location.pointer}: {error.message}"
    return (
        "",
        "error",
        INVALID_RECORD,
        "",
        record_id or "",
        "",
        message,
        "",
        location.file or "",
        str(location.line) if location.line is not None else "",
    )


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_STARTS) else value
