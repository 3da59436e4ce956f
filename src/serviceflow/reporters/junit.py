"""JUnit XML, for CI systems that show test results (Jenkins, GitLab, Azure Pipelines, test reporters).

* One ``<testsuite>`` per policy, named by its id, in id order.
* One ``<testcase>`` per (case, record) finding: ``classname`` is the policy id, ``name`` is
  ``case <case_id>, record <record_id>``, with ``file`` and ``line`` of the record when known.
  A violation holds a ``<failure>`` (``type`` is its severity); a pending obligation is ``<skipped>``
  with its deadline, since it is neither passed nor failed yet.
* A policy that ran with nothing to report gets one passing testcase named ``all cases``, so that CI
  shows it as passed rather than as an empty suite.
* Input errors form a last suite, ``serviceflow.input``, one ``<error>`` testcase each.

The output carries no timestamps or host names: the same evaluation gives the same bytes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from serviceflow.errors import InputError, RecordError
from serviceflow.findings import Evaluation, Finding, Status
from serviceflow.reporters.base import ReportOptions, place
from serviceflow.reporters.escaping import xml_text
from serviceflow.timeutil import format_datetime

INPUT_SUITE = "serviceflow.input"
PASSING_CASE = "all cases"


def render_junit(evaluation: Evaluation, options: ReportOptions) -> str:
    """A ``<testsuites>`` document with an XML declaration, indented, ending with a newline."""
    by_policy: dict[str, list[Finding]] = {policy.id: [] for policy in options.policies}
    for finding in [*evaluation.violations, *evaluation.pending, *evaluation.engine_errors]:
        by_policy.setdefault(finding.policy, []).append(finding)
    root = ET.Element("testsuites", {"name": "serviceflow"})
    for policy_id in sorted(by_policy):
        findings = sorted(by_policy[policy_id], key=lambda f: f.key)
        suite = _suite(root, policy_id)
        for finding in findings:
            _finding_case(suite, finding)
        if not findings:
            ET.SubElement(suite, "testcase", {"classname": policy_id, "name": PASSING_CASE, "time": "0"})
    if evaluation.input_errors:
        suite = _suite(root, INPUT_SUITE)
        for error in evaluation.input_errors:
            _error_case(suite, error)
    for suite in root:
        _count(suite, suite.findall("testcase"))
    _count(root, root.findall("testsuite/testcase"))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _suite(root: ET.Element, name: str) -> ET.Element:
    return ET.SubElement(root, "testsuite", {"name": xml_text(name)})


def _finding_case(suite: ET.Element, finding: Finding) -> None:
    attributes = {
        "classname": xml_text(finding.policy),
        "name": xml_text(f"case {finding.case_id}, record {finding.record_id}"),
    }
    if finding.origin is not None and finding.origin.file is not None:
        attributes["file"] = xml_text(finding.origin.file)
        if finding.origin.line is not None:
            attributes["line"] = str(finding.origin.line)
    attributes["time"] = "0"
    case = ET.SubElement(suite, "testcase", attributes)
    if finding.status is Status.ERROR:
        element = ET.SubElement(case, "error", {"message": xml_text(finding.message), "type": "engine-error"})
        element.text = xml_text(_details(finding))
        return
    if finding.status is Status.PENDING:
        due = f" (due by {format_datetime(finding.deadline)})" if finding.deadline else ""
        ET.SubElement(case, "skipped", {"message": xml_text(f"pending{due}: {finding.message}")})
        return
    failure = ET.SubElement(
        case, "failure", {"message": xml_text(finding.message), "type": finding.severity.value}
    )
    failure.text = xml_text(_details(finding))


def _details(finding: Finding) -> str:
    lines = [
        finding.message,
        "",
        f"policy: {finding.policy}",
        f"severity: {finding.severity.value}",
        f"case: {finding.case_id}",
        f"record: {finding.record_id}",
    ]
    where = place(finding.origin)
    if where:
        lines.append(f"location: {where}")
    if finding.deadline is not None:
        lines.append(f"deadline: {format_datetime(finding.deadline)}")
    if finding.evidence:
        lines.append(f"evidence: {', '.join(finding.evidence)}")
    return "\n".join(lines)


def _error_case(suite: ET.Element, error: InputError) -> None:
    attributes = {"classname": INPUT_SUITE, "name": xml_text(place(error.location) or "<input>")}
    if error.location.file is not None:
        attributes["file"] = xml_text(error.location.file)
        if error.location.line is not None:
            attributes["line"] = str(error.location.line)
    attributes["time"] = "0"
    case = ET.SubElement(suite, "testcase", attributes)
    kind = "invalid-record" if isinstance(error, RecordError) else "unreadable-input"
    element = ET.SubElement(case, "error", {"message": xml_text(error.message), "type": kind})
    element.text = xml_text(str(error))


def _count(element: ET.Element, cases: Sequence[ET.Element]) -> None:
    element.set("tests", str(len(cases)))
    element.set("failures", str(sum(1 for case in cases if case.find("failure") is not None)))
    element.set("errors", str(sum(1 for case in cases if case.find("error") is not None)))
    element.set("skipped", str(sum(1 for case in cases if case.find("skipped") is not None)))
    element.set("time", "0")
