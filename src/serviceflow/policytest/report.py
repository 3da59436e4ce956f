"""Reports of a policy test run: text for people, JSON for tools, JUnit XML for CI systems.

Every format gives each test's outcome and, for a failed one, the difference: the expected findings
that did not come (*missing*, ``-``) and the findings that came unasked (*unexpected*, ``+``), each
with its status, case, record, deadline and message. An errored test carries the reasons, each with
file, line and JSON pointer. Coverage, when it was measured, is rendered by
:mod:`serviceflow.policytest.coverage` and appended by the caller.

Reports only format: they never run tests or decide exit codes. The output carries no timestamps or
durations, so the same run gives the same bytes. Test files are data: the text escapes what they hold
with :func:`~serviceflow.reporters.escaping.printable`, the JSON and XML keep it valid with
:func:`~serviceflow.reporters.escaping.json_text` and :func:`~serviceflow.reporters.escaping.xml_text`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from itertools import groupby
from typing import Any

from serviceflow.errors import ServiceflowError
from serviceflow.findings import Finding
from serviceflow.policytest.format import ExpectedFinding
from serviceflow.policytest.results import Outcome, PolicyTestResult, SuiteResult
from serviceflow.reporters.escaping import json_text, printable, xml_text
from serviceflow.timeutil import format_datetime

#: The formats ``--format`` offers.
FORMATS = ("text", "json", "junit")
_LABELS = {Outcome.PASSED: "PASS", Outcome.FAILED: "FAIL", Outcome.ERROR: "ERROR"}
_COLORS = {Outcome.PASSED: "32", Outcome.FAILED: "31", Outcome.ERROR: "1;31"}
_LABEL_WIDTH = max(len(label) for label in _LABELS.values())


def summary_line(suite: SuiteResult) -> str:
    """``102 tests in 13 files: 101 passed, 1 failed (native)``; errors only when there are some."""
    total = len(suite.results)
    text = (
        f"{_plural(total, 'test')} in {_plural(suite.files, 'file')}: "
        f"{suite.count(Outcome.PASSED)} passed, {suite.count(Outcome.FAILED)} failed"
    )
    errors = suite.count(Outcome.ERROR)
    if errors:
        text += f", {_plural(errors, 'error')}"
    return f"{text} ({suite.evaluator})"


def render_text(suite: SuiteResult, color: bool = False) -> str:
    """Tests grouped by file, one line each; the difference under each failure; a summary line."""
    lines: list[str] = []
    for file, results in groupby(suite.results, key=lambda result: result.test.file):
        grouped = list(results)
        policies = ", ".join(dict.fromkeys(p for result in grouped for p in result.test.policies))
        lines.append(f"{printable(str(file))}  ({printable(policies)})")
        for result in grouped:
            label = _LABELS[result.outcome].ljust(_LABEL_WIDTH)
            if color:
                label = f"\x1b[{_COLORS[result.outcome]}m{label}\x1b[0m"
            where = "" if result.outcome is Outcome.PASSED else f"  (line {result.test.location.line})"
            lines.append(f"  {label}  {printable(result.test.name)}{where}")
            lines.extend(f"         {printable(line)}" for line in difference_lines(result))
        lines.append("")
    lines.append(summary_line(suite))
    return "\n".join(lines) + "\n"


def difference_lines(result: PolicyTestResult) -> list[str]:
    """What a failed or errored test reports: missing and unexpected findings, or its errors."""
    several = len(result.test.policies) > 1
    lines = [f"error: {error}" for error in result.errors]
    lines.extend(f"- missing     {_expected_text(item, several)}" for item in result.missing)
    lines.extend(f"+ unexpected  {_finding_text(finding, several)}" for finding in result.unexpected)
    return lines


def _expected_text(item: ExpectedFinding, several: bool) -> str:
    parts = [f"{item.status.value:<9}", f"case {item.case_id}, record {item.record_id}"]
    if several:
        parts.insert(1, item.policy)
    if item.deadline is not None:
        parts.append(f"due {format_datetime(item.deadline)}")
    if item.evidence is not None:
        parts.append(f"evidence [{', '.join(item.evidence)}]")
    if item.severity is not None:
        parts.append(f"severity {item.severity.value}")
    if item.message is not None:
        parts.append(f"message containing {item.message!r}")
    if item.location.line is not None:
        parts.append(f"(line {item.location.line})")
    return "  ".join(parts)


def _finding_text(finding: Finding, several: bool) -> str:
    parts = [f"{finding.status.value:<9}", f"case {finding.case_id}, record {finding.record_id}"]
    if several:
        parts.insert(1, finding.policy)
    if finding.deadline is not None:
        parts.append(f"due {format_datetime(finding.deadline)}")
    parts.append(f"severity {finding.severity.value}")
    parts.append(f"evidence [{', '.join(finding.evidence)}]")
    return "  ".join(parts) + f": {finding.message}"


def render_json(suite: SuiteResult, coverage: list[dict[str, Any]] | None = None) -> str:
    """``{tests, summary}``, plus ``coverage`` when it was measured; indented, newline-terminated."""
    document: dict[str, Any] = {
        "tests": [_result_dict(result) for result in suite.results],
        "summary": {
            "tests": len(suite.results),
            "files": suite.files,
            "passed": suite.count(Outcome.PASSED),
            "failed": suite.count(Outcome.FAILED),
            "errors": suite.count(Outcome.ERROR),
            "evaluator": suite.evaluator,
        },
    }
    if coverage is not None:
        document["coverage"] = coverage
    return json_text(document, indent=2) + "\n"


def _result_dict(result: PolicyTestResult) -> dict[str, Any]:
    test = result.test
    return {
        "name": test.name,
        "file": str(test.file),
        "line": test.location.line,
        "policies": list(test.policies),
        "outcome": result.outcome.value,
        "missing": [expected_dict(item) for item in result.missing],
        "unexpected": [finding.to_dict() for finding in result.unexpected],
        "errors": [_error_dict(error) for error in result.errors],
    }


def expected_dict(item: ExpectedFinding) -> dict[str, Any]:
    """An expected finding as the test file wrote it (defaults filled), with its line."""
    data: dict[str, Any] = {
        "policy": item.policy,
        "case": item.case_id,
        "record": item.record_id,
        "status": item.status.value,
    }
    if item.deadline is not None:
        data["deadline"] = format_datetime(item.deadline)
    if item.evidence is not None:
        data["evidence"] = list(item.evidence)
    if item.message is not None:
        data["message"] = item.message
    if item.severity is not None:
        data["severity"] = item.severity.value
    data["line"] = item.location.line
    return data


def _error_dict(error: ServiceflowError) -> dict[str, Any]:
    return {
        "file": error.location.file,
        "line": error.location.line,
        "pointer": error.location.pointer,
        "message": error.message,
    }


def render_junit(suite: SuiteResult) -> str:
    """One ``<testsuite>`` per test file, one ``<testcase>`` per test, named as the test file names it.

    ``classname`` is the policy (or policies) under test, so CI groups results by policy; a failed
    test holds a ``<failure>`` whose text is the difference, an errored one an ``<error>``.
    """
    root = ET.Element("testsuites", {"name": "serviceflow test"})
    for file, results in groupby(suite.results, key=lambda result: result.test.file):
        element = ET.SubElement(root, "testsuite", {"name": _xml(str(file))})
        for result in results:
            _testcase(element, result)
        _count(element, element.findall("testcase"))
    _count(root, root.findall("testsuite/testcase"))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _testcase(suite: ET.Element, result: PolicyTestResult) -> None:
    test = result.test
    attributes = {
        "classname": _xml(",".join(test.policies)),
        "name": _xml(test.name),
        "file": _xml(str(test.file)),
    }
    if test.location.line is not None:
        attributes["line"] = str(test.location.line)
    attributes["time"] = "0"
    case = ET.SubElement(suite, "testcase", attributes)
    if result.outcome is Outcome.FAILED:
        counts = [(len(result.missing), "missing"), (len(result.unexpected), "unexpected")]
        summary = ", ".join(f"{count} {kind}" for count, kind in counts if count)
        _child(case, "failure", f"findings differ: {summary}", "findings", result)
    elif result.outcome is Outcome.ERROR:
        _child(case, "error", result.errors[0].message if result.errors else "error", "invalid-test", result)


def _child(case: ET.Element, tag: str, message: str, kind: str, result: PolicyTestResult) -> None:
    element = ET.SubElement(case, tag, {"message": _xml(message), "type": kind})
    element.text = _xml("\n".join(difference_lines(result)))


def _count(element: ET.Element, cases: Iterable[ET.Element]) -> None:
    listed = list(cases)
    element.set("tests", str(len(listed)))
    element.set("failures", str(sum(1 for case in listed if case.find("failure") is not None)))
    element.set("errors", str(sum(1 for case in listed if case.find("error") is not None)))
    element.set("skipped", "0")
    element.set("time", "0")


def _xml(text: str) -> str:
    return xml_text(text)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
