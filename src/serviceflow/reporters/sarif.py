"""SARIF 2.1.0, for code-scanning dashboards (GitHub code scanning, Azure DevOps, IDE viewers).

* ``tool.driver.rules``: one rule per policy that ran (id, name = title, short description = title,
  full description = rationale, default level from the effective severity), plus a bare rule for any
  policy that reported but was not passed in.
* ``results``: one per violation, level error/warning/note, located at the subject record's file and
  line, with the case as a logical location and ``partialFingerprints`` built from
  (policy, case, record) so that dashboards track a finding across runs.
* Pending obligations are **not results**: they are not problems yet, and a code-scanning dashboard
  would open an alert for each. They are kept, with their deadlines, in ``runs[0].properties.pending``.
* Input errors are ``invocations[0].toolExecutionNotifications`` (level error), the place SARIF gives
  to problems the tool had reading its input; ``executionSuccessful`` stays true because the other
  records were evaluated.
* Waived violations stay results, each with a SARIF ``suppressions`` entry (kind ``external``, status
  ``accepted``, the waiver's reason as justification, its owner and expiry as properties), so that
  dashboards show them as suppressed rather than lose them; waived pending obligations are kept in
  ``runs[0].properties.waived_pending``. Expired and unused waivers are
  ``invocations[0].toolConfigurationNotifications`` (level warning) located in the waivers file.

File names are written as given on the command line (relative paths stay relative, which is what
code scanning expects when run from the repository root); absolute paths become ``file://`` URIs. A
file name that is not UTF-8 (Python holds its bytes as surrogate escapes) is percent-encoded byte for
byte; text values are kept exactly, a lone surrogate as its JSON escape
(:func:`~serviceflow.reporters.escaping.json_text`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePath
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from serviceflow.errors import InputError, Location, RecordError
from serviceflow.findings import Evaluation, Finding, Severity, Status
from serviceflow.reporters.base import PolicyInfo, ReportOptions
from serviceflow.reporters.escaping import json_text
from serviceflow.timeutil import format_datetime

if TYPE_CHECKING:
    from serviceflow.waivers import WaivedFinding

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT_KEY = "serviceflowFinding/v1"
_LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def render_sarif(evaluation: Evaluation, options: ReportOptions) -> str:
    """A SARIF log with one run."""
    return json_text(sarif_log(evaluation, options), indent=2) + "\n"


def sarif_log(evaluation: Evaluation, options: ReportOptions) -> dict[str, Any]:
    """The SARIF log as a JSON-ready dict."""
    from serviceflow import __version__

    waived = [w for w in evaluation.waived if w.finding.status is Status.VIOLATION]
    waived_pending = [w for w in evaluation.waived if w.finding.status is Status.PENDING]
    rules, index = _rules(options.policies, [*evaluation.violations, *(w.finding for w in waived)])
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "serviceflow",
                "version": __version__,
                "rules": rules,
            }
        },
        "invocations": [
            {
                "executionSuccessful": not evaluation.engine_errors,
                "toolExecutionNotifications": [
                    *(_notification(error) for error in evaluation.input_errors),
                    *(_engine_notification(finding) for finding in evaluation.engine_errors),
                ],
            }
        ],
        "results": [
            *(_result(finding, index[finding.policy]) for finding in evaluation.violations),
            *(_suppressed(item, index[item.finding.policy]) for item in waived),
        ],
        "properties": {
            "summary": evaluation.summary(),
            "pending": [finding.to_dict() for finding in evaluation.pending],
            "waived_pending": [item.to_dict() for item in waived_pending],
        },
    }
    waiver_notices = _waiver_notifications(evaluation, {policy.id for policy in options.policies})
    if waiver_notices:
        run["invocations"][0]["toolConfigurationNotifications"] = waiver_notices
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def artifact_uri(file: str) -> str:
    """A URI reference for a record file: relative paths stay relative, absolute ones become file URIs."""
    path = PurePath(file)
    encoded = quote(_file_name_bytes(path.as_posix()), safe="/")
    return f"file://{encoded}" if path.is_absolute() else encoded


def _file_name_bytes(name: str) -> bytes:
    """The bytes of a file name: undecodable bytes come back as they were read (``os.fsdecode``).

    A surrogate that is no such escape (a name from inside a record) cannot be one byte; its
    surrogate-pass UTF-8 form still percent-encodes into a valid URI instead of failing the report.
    """
    try:
        return name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogatepass")


def _rules(
    policies: Sequence[PolicyInfo], findings: Sequence[Finding]
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    for policy in policies:
        if policy.id not in index:
            index[policy.id] = len(rules)
            rules.append(_rule(policy))
    for finding in findings:
        if finding.policy not in index:
            index[finding.policy] = len(rules)
            rules.append({"id": finding.policy, "defaultConfiguration": {"level": _LEVELS[finding.severity]}})
    return rules, index


def _rule(policy: PolicyInfo) -> dict[str, Any]:
    return {
        "id": policy.id,
        "name": policy.title,
        "shortDescription": {"text": policy.title},
        "fullDescription": {"text": policy.rationale},
        "defaultConfiguration": {"level": _LEVELS[Severity(policy.severity)]},
    }


def _result(finding: Finding, rule_index: int) -> dict[str, Any]:
    location: dict[str, Any] = {
        "logicalLocations": [
            {"name": finding.case_id, "fullyQualifiedName": f"{finding.case_id}/{finding.record_id}"}
        ]
    }
    physical = _physical_location(finding.origin)
    if physical is not None:
        location["physicalLocation"] = physical
    properties: dict[str, Any] = {
        "case_id": finding.case_id,
        "record_id": finding.record_id,
        "severity": finding.severity.value,
        "evidence": list(finding.evidence),
    }
    deadline = finding.to_dict().get("deadline")
    if deadline is not None:
        properties["deadline"] = deadline
    return {
        "ruleId": finding.policy,
        "ruleIndex": rule_index,
        "level": _LEVELS[finding.severity],
        "message": {"text": finding.message},
        "locations": [location],
        "partialFingerprints": {FINGERPRINT_KEY: f"{finding.policy}:{finding.case_id}:{finding.record_id}"},
        "properties": properties,
    }


def _suppressed(waived: WaivedFinding, rule_index: int) -> dict[str, Any]:
    """A waived violation: still a result, suppressed by the waiver that accepted it."""
    waiver = waived.waiver
    suppression: dict[str, Any] = {
        "kind": "external",
        "status": "accepted",
        "justification": waiver.reason,
        "properties": {"owner": waiver.owner, "expires": format_datetime(waiver.expires)},
    }
    physical = _physical_location(waiver.location)
    if physical is not None:
        suppression["location"] = {"physicalLocation": physical}
    return _result(waived.finding, rule_index) | {"suppressions": [suppression]}


def _waiver_notifications(evaluation: Evaluation, ran: set[str]) -> list[dict[str, Any]]:
    """Expired and unused waivers: problems in the tool's configuration, not in the records."""
    notices = [("expired-waiver", w.expired_notice(), w.location) for w in evaluation.expired_waivers]
    notices += [
        ("unused-waiver", w.unused_notice(not ran or w.policy in ran), w.location)
        for w in evaluation.unused_waivers
    ]
    notifications = []
    for kind, text, location in notices:
        notification: dict[str, Any] = {
            "level": "warning",
            "message": {"text": text},
            "descriptor": {"id": kind},
        }
        physical = _physical_location(location)
        if physical is not None:
            notification["locations"] = [{"physicalLocation": physical}]
        notifications.append(notification)
    return notifications


def _engine_notification(finding: Finding) -> dict[str, Any]:
    """A policy that could not decide (a plugin raised): the tool's failure, not a result."""
    notification: dict[str, Any] = {
        "level": "error",
        "message": {"text": finding.message},
        "descriptor": {"id": "engine-error"},
        "associatedRule": {"id": finding.policy},
        "properties": {"case_id": finding.case_id, "record_id": finding.record_id},
    }
    physical = _physical_location(finding.origin) if finding.origin is not None else None
    if physical is not None:
        notification["locations"] = [{"physicalLocation": physical}]
    return notification


def _notification(error: InputError) -> dict[str, Any]:
    notification: dict[str, Any] = {
        "level": "error",
        "message": {"text": error.message},
        "descriptor": {"id": "invalid-record" if isinstance(error, RecordError) else "unreadable-input"},
    }
    physical = _physical_location(error.location)
    if physical is not None:
        notification["locations"] = [{"physicalLocation": physical}]
    if error.location.pointer is not None:
        notification["properties"] = {"pointer": error.location.pointer or "/"}
    return notification


def _physical_location(location: Location | None) -> dict[str, Any] | None:
    # Records read from stdin have no artifact a viewer could open.
    if location is None or location.file is None or location.file.startswith("<"):
        return None
    physical: dict[str, Any] = {"artifactLocation": {"uri": artifact_uri(location.file)}}
    if location.line is not None:
        physical["region"] = {"startLine": location.line}
    return physical
