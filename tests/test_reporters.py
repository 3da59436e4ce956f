"""Reporters, fed hand-built evaluations: each format's structure, wording and escaping."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from serviceflow.errors import InputError, Location, RecordError
from serviceflow.findings import Evaluation, EvaluationCollector, Finding, Severity, Status
from serviceflow.plugins import PluginHost
from serviceflow.reporters import summary_line
from serviceflow.reporters.github import escape_data, escape_property
from serviceflow.reporters.sarif import FINGERPRINT_KEY, artifact_uri
from support import render

NOW = datetime(2024, 5, 1, 13, 0, tzinfo=UTC)
DEADLINE = datetime(2024, 5, 1, 15, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Policy:
    id: str
    title: str
    severity: Severity
    rationale: str


POLICIES = [
    Policy("commit-requires-capacity", "Commit only with capacity", Severity.ERROR, "Keep promises."),
    Policy("escalate-values-in-question", "Escalate questions", Severity.WARNING, "Ask for help."),
    Policy("quiet-policy", "Never fires here", Severity.INFO, "Nothing to see."),
]


def violation(
    case_id: str,
    record_id: str,
    policy: str = "commit-requires-capacity",
    severity: Severity = Severity.ERROR,
    message: str = "Commitment K-1 was made without a capacity check",
    line: int | None = 2,
    file: str | None = "records.jsonl",
) -> Finding:
    return Finding(
        policy=policy,
        severity=severity,
        status=Status.VIOLATION,
        case_id=case_id,
        record_id=record_id,
        message=message,
        evidence=(record_id,),
        origin=Location(file, line) if file is not None else None,
    )


def pending(case_id: str, record_id: str) -> Finding:
    return Finding(
        policy="escalate-values-in-question",
        severity=Severity.WARNING,
        status=Status.PENDING,
        case_id=case_id,
        record_id=record_id,
        message=f"Contact {record_id} raised values_in_question",
        evidence=(record_id,),
        deadline=DEADLINE,
        origin=Location("records.jsonl", 9),
    )


def evaluation(
    findings: Sequence[Finding] = (),
    pending_items: Sequence[Finding] = (),
    errors: Sequence[InputError] = (),
    cases: int = 5,
) -> Evaluation:
    collector = EvaluationCollector(NOW)
    collector.cases, collector.records = cases, 12
    for finding in [*findings, *pending_items]:
        collector.add(finding)
    for position, error in enumerate(errors):
        collector.add_input_error(error, position)
    return collector.freeze()


def sample() -> Evaluation:
    return evaluation(
        findings=[
            violation("C-1", "r2"),
            violation("C-1", "r4", message="Second commitment without capacity", line=4),
            violation("C-2", "r7", line=7),
        ],
        pending_items=[pending("C-2", "r9")],
        errors=[RecordError("3 is not of type 'string'", Location("records.jsonl", 5, "/promise"))],
    )


# --- registry -----------------------------------------------------------------------------------


def test_every_documented_format_is_registered() -> None:
    assert set(PluginHost().reporters) == {"text", "json", "sarif", "junit", "github", "html"}


def test_rendering_an_unknown_format_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="formats: text, json"):
        render(sample(), "yaml")


# --- text ----------------------------------------------------------------------------------------


def test_text_summary_counts_violations_by_severity_pending_cases_and_invalid_records() -> None:
    assert summary_line(sample()) == "3 violations (3 error) and 1 pending in 2 of 5 cases; 1 invalid record"


def test_text_summary_lists_severities_most_severe_first_and_counts_unreadable_sources() -> None:
    result = evaluation(
        findings=[
            violation("C-1", "r1", severity=Severity.INFO),
            violation("C-1", "r2", severity=Severity.ERROR),
            violation("C-2", "r3", severity=Severity.WARNING),
        ],
        errors=[InputError("cannot read missing.jsonl: No such file", Location("missing.jsonl"))],
        cases=1,
    )
    assert summary_line(result) == (
        "3 violations (1 error, 1 warning, 1 info) and 0 pending in 2 of 1 case; 1 unreadable source"
    )


def test_text_summary_of_a_clean_run_says_zero_violations() -> None:
    assert summary_line(evaluation(cases=1)) == "0 violations and 0 pending in 0 of 1 case"


def test_text_groups_findings_under_one_header_per_case_with_location_and_record() -> None:
    text = render(sample(), "text")
    assert text.count("case C-1") == 1
    assert text.count("case C-2") == 1
    assert text.index("case C-1") < text.index("r2") < text.index("r4") < text.index("case C-2")
    assert "record r2  records.jsonl:2" in text
    assert "Second commitment without capacity" in text
    assert text.rstrip().endswith("3 violations (3 error) and 1 pending in 2 of 5 cases; 1 invalid record")


def test_text_shows_pending_obligations_with_their_deadline_after_the_violations() -> None:
    text = render(sample(), "text")
    case_two = text[text.index("case C-2") :]
    assert "(1 violation, 1 pending)" in case_two
    assert case_two.index("error") < case_two.index("pending  escalate-values-in-question")
    assert "due by 2024-05-01T15:00:00Z" in case_two


def test_text_has_no_ansi_codes_unless_colour_is_asked_for() -> None:
    assert "\x1b[" not in render(sample(), "text")
    assert "\x1b[" in render(sample(), "text", color=True)


# --- json ----------------------------------------------------------------------------------------


def test_json_is_one_object_with_violations_pending_errors_and_summary() -> None:
    data = json.loads(render(sample(), "json"))
    assert list(data) == [
        "violations",
        "pending",
        "waived",
        "engine_errors",
        "errors",
        "more_errors",
        "expired_waivers",
        "unused_waivers",
        "summary",
    ]
    assert [f["record_id"] for f in data["violations"]] == ["r2", "r4", "r7"]
    assert data["pending"][0]["deadline"] == "2024-05-01T15:00:00Z"
    assert data["errors"] == [
        {"file": "records.jsonl", "line": 5, "pointer": "/promise", "message": "3 is not of type 'string'"}
    ]
    assert data["summary"]["violations"] == 3


# --- sarif ---------------------------------------------------------------------------------------


def sarif(result: Evaluation) -> dict[str, Any]:
    return json.loads(render(result, "sarif", policies=POLICIES))


def test_sarif_is_version_2_1_0_with_one_run_of_serviceflow() -> None:
    log = sarif(sample())
    assert log["version"] == "2.1.0"
    assert log["$schema"].endswith("sarif-2.1.0.json")
    (run,) = log["runs"]
    assert run["tool"]["driver"]["name"] == "serviceflow"
    assert set(run) >= {"tool", "invocations", "results"}


def test_sarif_rules_describe_every_policy_that_ran_with_its_level() -> None:
    rules = sarif(sample())["runs"][0]["tool"]["driver"]["rules"]
    assert [rule["id"] for rule in rules] == [policy.id for policy in POLICIES]
    first = rules[0]
    assert first["name"] == "Commit only with capacity"
    assert first["shortDescription"] == {"text": "Commit only with capacity"}
    assert first["fullDescription"] == {"text": "Keep promises."}
    assert [rule["defaultConfiguration"]["level"] for rule in rules] == ["error", "warning", "note"]


def test_sarif_results_point_at_the_record_file_and_line() -> None:
    results = sarif(sample())["runs"][0]["results"]
    assert len(results) == 3
    first = results[0]
    assert first["ruleId"] == "commit-requires-capacity"
    assert first["ruleIndex"] == 0
    assert first["level"] == "error"
    assert first["message"]["text"] == "Commitment K-1 was made without a capacity check"
    physical = first["locations"][0]["physicalLocation"]
    assert physical == {"artifactLocation": {"uri": "records.jsonl"}, "region": {"startLine": 2}}
    assert first["partialFingerprints"][FINGERPRINT_KEY] == "commit-requires-capacity:C-1:r2"
    assert first["properties"]["case_id"] == "C-1"


def test_sarif_maps_info_to_note_and_adds_a_rule_for_an_unlisted_policy() -> None:
    result = evaluation(findings=[violation("C-1", "r1", policy="plugin-policy", severity=Severity.INFO)])
    run = sarif(result)["runs"][0]
    (only,) = run["results"]
    assert only["level"] == "note"
    assert run["tool"]["driver"]["rules"][only["ruleIndex"]]["id"] == "plugin-policy"


def test_sarif_keeps_pending_obligations_out_of_results_but_in_run_properties() -> None:
    run = sarif(sample())["runs"][0]
    assert all(result["properties"]["record_id"] != "r9" for result in run["results"])
    (kept,) = run["properties"]["pending"]
    assert kept["record_id"] == "r9"
    assert kept["deadline"] == "2024-05-01T15:00:00Z"


def test_sarif_reports_input_errors_as_tool_execution_notifications() -> None:
    (invocation,) = sarif(sample())["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is True
    (notification,) = invocation["toolExecutionNotifications"]
    assert notification["level"] == "error"
    assert notification["message"]["text"] == "3 is not of type 'string'"
    assert notification["locations"][0]["physicalLocation"]["region"]["startLine"] == 5
    assert notification["properties"]["pointer"] == "/promise"


def test_sarif_omits_the_physical_location_of_records_read_from_stdin() -> None:
    result = evaluation(findings=[violation("C-1", "r1", file="<stdin>")])
    (location,) = sarif(result)["runs"][0]["results"][0]["locations"]
    assert "physicalLocation" not in location
    assert location["logicalLocations"][0]["name"] == "C-1"


def test_sarif_uris_keep_relative_paths_and_turn_absolute_ones_into_file_uris() -> None:
    assert artifact_uri("exports/may 2024.jsonl") == "exports/may%202024.jsonl"
    assert artifact_uri("/data/records.jsonl") == "file:///data/records.jsonl"


# --- junit ---------------------------------------------------------------------------------------


def junit(result: Evaluation) -> ET.Element:
    return ET.fromstring(render(result, "junit", policies=POLICIES).encode("utf-8"))


def test_junit_has_one_suite_per_policy_and_one_for_input_errors() -> None:
    root = junit(sample())
    assert root.tag == "testsuites"
    assert [suite.get("name") for suite in root] == [
        "commit-requires-capacity",
        "escalate-values-in-question",
        "quiet-policy",
        "serviceflow.input",
    ]
    assert (root.get("tests"), root.get("failures"), root.get("skipped"), root.get("errors")) == (
        "6",
        "3",
        "1",
        "1",
    )


def test_junit_reports_each_violation_as_a_failing_testcase_of_case_and_record() -> None:
    suite = junit(sample()).find("testsuite[@name='commit-requires-capacity']")
    assert suite is not None
    cases = suite.findall("testcase")
    assert [case.get("name") for case in cases] == [
        "case C-1, record r2",
        "case C-1, record r4",
        "case C-2, record r7",
    ]
    assert suite.get("failures") == "3"
    failure = cases[0].find("failure")
    assert failure is not None
    assert failure.get("type") == "error"
    assert failure.get("message") == "Commitment K-1 was made without a capacity check"
    assert "location: records.jsonl:2" in (failure.text or "")
    assert (cases[0].get("file"), cases[0].get("line")) == ("records.jsonl", "2")


def test_junit_reports_pending_obligations_as_skipped_with_their_deadline() -> None:
    suite = junit(sample()).find("testsuite[@name='escalate-values-in-question']")
    assert suite is not None
    skipped = suite.find("testcase/skipped")
    assert skipped is not None
    assert "due by 2024-05-01T15:00:00Z" in (skipped.get("message") or "")


def test_junit_shows_a_policy_without_findings_as_one_passing_testcase() -> None:
    suite = junit(sample()).find("testsuite[@name='quiet-policy']")
    assert suite is not None
    (case,) = suite.findall("testcase")
    assert case.get("name") == "all cases"
    assert list(case) == []


def test_junit_output_is_byte_for_byte_stable() -> None:
    assert render(sample(), "junit", policies=POLICIES) == render(sample(), "junit", policies=POLICIES)


def test_junit_replaces_characters_xml_cannot_hold_so_the_document_still_parses() -> None:
    result = evaluation(findings=[violation("C-1", "r1", message="bell \x07 and <tag> & more")])
    failure = junit(result).find(".//failure")
    assert failure is not None
    assert failure.get("message") == "bell \ufffd and <tag> & more"


# --- github --------------------------------------------------------------------------------------


def test_github_escapes_percent_and_newlines_in_messages() -> None:
    assert escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"


def test_github_also_escapes_colons_and_commas_in_properties() -> None:
    assert escape_property("a,b:c%\n") == "a%2Cb%3Ac%25%0A"


def test_github_writes_one_annotation_per_violation_by_severity() -> None:
    result = evaluation(
        findings=[
            violation("C-1", "r1"),
            violation("C-1", "r2", severity=Severity.WARNING),
            violation("C-1", "r3", severity=Severity.INFO, line=None),
        ]
    )
    lines = render(result, "github").splitlines()
    assert lines[0].startswith("::error file=records.jsonl,line=2,title=commit-requires-capacity::")
    assert lines[1].startswith("::warning file=records.jsonl,line=2,title=commit-requires-capacity::")
    assert lines[2].startswith("::notice file=records.jsonl,title=commit-requires-capacity::")


def test_github_escapes_file_names_and_multi_line_messages_in_annotations() -> None:
    result = evaluation(findings=[violation("C-1", "r1", message="line one\nline two", file="a,b:c.jsonl")])
    line = render(result, "github").splitlines()[0]
    assert line.startswith(
        "::error file=a%2Cb%3Ac.jsonl,line=2,title=commit-requires-capacity::line one%0Aline two"
    )


def test_github_annotates_input_errors_and_logs_pending_items_as_plain_lines() -> None:
    lines = render(sample(), "github").splitlines()
    assert (
        "::error file=records.jsonl,line=5,title=serviceflow input error::/promise: 3 is not of type 'string'"
        in lines
    )
    pending_lines = [line for line in lines if line.startswith("pending")]
    assert pending_lines == [
        "pending due by 2024-05-01T15:00:00Z: escalate-values-in-question: "
        "Contact r9 raised values_in_question (case C-2)"
    ]
    assert lines[-1] == summary_line(sample())


def test_reporters_import_no_click_unless_colour_is_asked_for() -> None:
    script = (
        "import sys\n"
        "from datetime import datetime, timezone\n"
        "from serviceflow.findings import Evaluation\n"
        "from serviceflow.plugins import PluginHost\n"
        "from serviceflow.reporters import ReportOptions\n"
        "for spec in PluginHost().reporters.values():\n"
        "    spec.render(Evaluation(now=datetime(2024, 1, 1, tzinfo=timezone.utc)), ReportOptions())\n"
        "assert 'click' not in sys.modules, 'click was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_text_lists_a_case_violations_of_equal_severity_in_input_order() -> None:
    result = evaluation(
        findings=[
            violation("C-1", "r10", policy="a-policy", line=10),
            violation("C-1", "r7", policy="z-policy", line=7),
            violation("C-1", "r9", policy="m-policy", severity=Severity.WARNING, line=9),
        ]
    )
    text = render(result, "text")
    assert text.index("record r7") < text.index("record r10") < text.index("record r9")


# --- engine errors -------------------------------------------------------------------------------


def with_engine_error() -> Evaluation:
    result = sample()
    return dataclasses.replace(
        result,
        engine_errors=(
            Finding(
                policy="reason-for-same-technician",
                severity=Severity.ERROR,
                status=Status.ERROR,
                case_id="C-1",
                record_id="r3",
                message="policy could not decide: named condition 'x' raised KeyError",
                evidence=("r3",),
                origin=Location("records.jsonl", 3),
            ),
        ),
    )


def test_every_format_reports_engine_errors_and_never_as_a_pass() -> None:
    result = with_engine_error()
    text = render(result, "text")
    assert "  engine   reason-for-same-technician   record r3  records.jsonl:3" in text
    assert "case C-1  (1 engine error, 2 violations)" in text
    assert summary_line(result).endswith("; 1 engine error; 1 invalid record")
    assert json.loads(render(result, "json"))["engine_errors"][0]["status"] == "error"
    invocation = json.loads(render(result, "sarif"))["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    assert [n["descriptor"]["id"] for n in invocation["toolExecutionNotifications"]] == [
        "invalid-record",
        "engine-error",
    ]
    junit = ET.fromstring(render(result, "junit"))
    (error,) = junit.findall("testsuite[@name='reason-for-same-technician']/testcase/error")
    assert error.get("type") == "engine-error"
    assert "::error file=records.jsonl,line=3,title=serviceflow engine error" in render(result, "github")
