"""Text that cannot be written (issue 13, mechanism 4): every report survives every string.

Records are data from outside: a record id may be a lone surrogate (``"\\ud800"`` is valid JSON) or carry
ANSI escape sequences. No reporter may crash on them (the report must encode as UTF-8), no human-facing
format (text, GitHub annotations, explain, policy tests, error lines) may pass a control character to
the terminal raw, and JSON, SARIF and XML must stay valid and, where the format can carry it, exact.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest

from serviceflow.errors import InputError, Location, RecordError
from serviceflow.explain.report import render_explanation, render_explanation_json
from serviceflow.findings import Evaluation, Finding, Severity, Status
from serviceflow.policytest.format import ExpectedFinding, PolicyTest
from serviceflow.policytest.report import render_json as render_tests_json
from serviceflow.policytest.report import render_junit as render_tests_junit
from serviceflow.policytest.report import render_text as render_tests_text
from serviceflow.policytest.results import Outcome, PolicyTestResult, SuiteResult
from serviceflow.reporters.base import ReportOptions
from serviceflow.reporters.escaping import json_text, printable, xml_text
from serviceflow.reporters.github import render_github
from serviceflow.reporters.json_report import render_json
from serviceflow.reporters.junit import render_junit
from serviceflow.reporters.sarif import artifact_uri, render_sarif
from serviceflow.reporters.text import render_text
from serviceflow.waivers import WaivedFinding, Waiver

NOW = datetime(2024, 5, 1, 13, 0, tzinfo=UTC)

# Each is something a JSON record can hold and a terminal, a UTF-8 stream or an XML parser chokes on.
HOSTILE = {
    "lone high surrogate": "r\ud800x",
    "lone low surrogate": "\udcff",
    "clear screen and set title": "\x1b[2J\x1b]0;pwned\x07id",
    "colour that never resets": "\x1b[31mred",
    "one-byte CSI (C1)": "\x9b2J",
    "carriage return over the line": "ok\rFAKE",
    "newline starting a workflow command": "x\n::error::injected",
    "NUL and DEL": "a\x00b\x7f",
    "right-to-left override": "abc\u202edef",
    "line separator": "a\u2028b",
    "workflow property syntax": "50%,a:b::c",
}
HOSTILE_IDS = list(HOSTILE)


def _policy(policy_id: str) -> Any:
    return SimpleNamespace(
        id=policy_id, title=f"Title {policy_id}", severity=Severity.ERROR, rationale="Why."
    )


def _finding(text: str, status: Status = Status.VIOLATION) -> Finding:
    return Finding(
        policy=f"policy-{text}",
        severity=Severity.ERROR,
        status=status,
        case_id=f"case-{text}",
        record_id=f"rec-{text}",
        message=f"message {text}",
        evidence=(f"rec-{text}", f"other-{text}"),
        deadline=datetime(2024, 5, 2, tzinfo=UTC) if status is Status.PENDING else None,
        origin=Location(f"dir/{text}.jsonl", 3),
        reason=f"because {text}",
    )


def _waiver(text: str) -> Waiver:
    return Waiver(
        policy=f"policy-{text}",
        case_id=f"case-{text}",
        record_id=None,
        reason=f"reason {text}",
        owner=f"owner {text}",
        expires=datetime(2024, 6, 1, tzinfo=UTC),
        expires_as_written="2024-05-31",
        location=Location(f"waivers-{text}.yaml", 4),
    )


def _evaluation(text: str) -> Evaluation:
    """An evaluation with ``text`` in every field a reporter prints, whichever Evaluation API is here."""
    lists: dict[str, Any] = {
        "pending": [_finding(text, Status.PENDING)],
        "engine_errors": [dataclasses.replace(_finding(text, Status.ERROR), message=f"raised {text}")],
        "input_errors": [
            RecordError(f"invalid {text}", Location(f"in-{text}.jsonl", 7, f"/meta/{text}")),
            InputError(f"unreadable {text}", Location(f"gone-{text}.jsonl")),
        ],
        "waived": [WaivedFinding(dataclasses.replace(_finding(text), case_id=f"case-{text}"), _waiver(text))],
        "expired_waivers": [_waiver(text)],
        "unused_waivers": [_waiver(text)],
    }
    # The record-path rewrite renames Evaluation.findings to violations; build whichever exists.
    names = {field.name for field in dataclasses.fields(Evaluation)}
    lists["violations" if "violations" in names else "findings"] = [_finding(text)]
    return Evaluation(now=NOW, cases=1, records=3, **lists)


def _options(text: str, color: bool = False) -> ReportOptions:
    return ReportOptions(policies=[_policy(f"policy-{text}")], color=color, show_waived=True)


REPORTERS: dict[str, Callable[[Evaluation, ReportOptions], str]] = {
    "text": render_text,
    "json": render_json,
    "sarif": render_sarif,
    "junit": render_junit,
    "github": render_github,
}
_OUR_STYLING = re.compile(r"\x1b\[[0-9;]*m")


def _raw_controls(text: str) -> list[str]:
    """Characters a terminal could act on, other than line breaks between report lines."""
    return [
        char
        for char in text
        if char != "\n"
        and (
            unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp") or char in "\u202a\u202b\u202c\u202d\u202e"
        )
    ]


# --- every reporter, every hostile string --------------------------------------------------------


@pytest.mark.parametrize("name", HOSTILE_IDS)
@pytest.mark.parametrize("report_format", list(REPORTERS))
def test_every_report_of_hostile_text_encodes_as_utf8(report_format: str, name: str) -> None:
    text = HOSTILE[name]
    report = REPORTERS[report_format](_evaluation(text), _options(text))
    report.encode("utf-8")  # what the CLI's stdout and write_atomically do; strict


@pytest.mark.parametrize("color", [False, True])
@pytest.mark.parametrize("name", HOSTILE_IDS)
@pytest.mark.parametrize("report_format", ["text", "github"])
def test_human_reports_send_no_control_character_to_the_terminal(
    report_format: str, name: str, color: bool
) -> None:
    text = HOSTILE[name]
    report = REPORTERS[report_format](_evaluation(text), _options(text, color=color))
    assert _raw_controls(_OUR_STYLING.sub("", report)) == []


@pytest.mark.parametrize("name", HOSTILE_IDS)
@pytest.mark.parametrize("report_format", ["text", "github"])
def test_hostile_text_adds_no_line_to_a_human_report(report_format: str, name: str) -> None:
    benign = REPORTERS[report_format](_evaluation("plain"), _options("plain"))
    hostile = REPORTERS[report_format](_evaluation(HOSTILE[name]), _options(HOSTILE[name]))
    assert len(hostile.splitlines()) == len(benign.splitlines())


def test_github_annotations_stay_commands_and_show_the_escaped_sequence() -> None:
    text = HOSTILE["newline starting a workflow command"] + HOSTILE["clear screen and set title"]
    lines = render_github(_evaluation(text), _options(text)).splitlines()
    assert not any(line.startswith("::error::injected") for line in lines)
    annotation = next(line for line in lines if line.startswith("::error file="))
    assert "\\x1b[2J" in annotation
    # A newline inside a message stays the runner's own %0A: a line break inside the annotation.
    assert "%0A::error::injected" in annotation


def test_text_report_shows_escapes_where_the_record_had_control_characters() -> None:
    report = render_text(_evaluation("\x1b[2J"), _options("\x1b[2J"))
    assert "case case-\\x1b[2J" in report
    assert "record rec-\\x1b[2J" in report


@pytest.mark.parametrize("name", HOSTILE_IDS)
def test_json_report_parses_and_keeps_every_value_exactly(name: str) -> None:
    text = HOSTILE[name]
    data = json.loads(render_json(_evaluation(text), _options(text)))
    violations = data.get("violations", data.get("findings"))
    assert violations[0]["record_id"] == f"rec-{text}"
    assert violations[0]["message"] == f"message {text}"
    assert data["errors"][0]["message"] == f"invalid {text}"


# A structural schema of the SARIF 2.1.0 parts serviceflow writes (required properties, types and
# enumerations as the OASIS specification gives them); the full schema is not vendored here.
_MESSAGE = {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}
_PHYSICAL = {
    "type": "object",
    "required": ["artifactLocation"],
    "properties": {
        "artifactLocation": {
            "type": "object",
            "required": ["uri"],
            "properties": {"uri": {"type": "string", "pattern": "^[\\x21-\\x7e]*$"}},
        },
        "region": {"type": "object", "properties": {"startLine": {"type": "integer", "minimum": 1}}},
    },
}
_LOCATION = {"type": "object", "properties": {"physicalLocation": _PHYSICAL}}
_LEVEL = {"enum": ["none", "note", "warning", "error"]}
_NOTIFICATION = {
    "type": "object",
    "required": ["message"],
    "properties": {"message": _MESSAGE, "level": _LEVEL, "locations": {"type": "array", "items": _LOCATION}},
}
SARIF_STRUCTURE = {
    "type": "object",
    "required": ["version", "runs"],
    "properties": {
        "version": {"const": "2.1.0"},
        "$schema": {"type": "string"},
        "runs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["tool"],
                "properties": {
                    "tool": {
                        "type": "object",
                        "required": ["driver"],
                        "properties": {
                            "driver": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "rules": {
                                        "type": "array",
                                        "items": {"type": "object", "required": ["id"]},
                                    },
                                },
                            }
                        },
                    },
                    "invocations": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["executionSuccessful"],
                            "properties": {
                                "executionSuccessful": {"type": "boolean"},
                                "toolExecutionNotifications": {"type": "array", "items": _NOTIFICATION},
                                "toolConfigurationNotifications": {"type": "array", "items": _NOTIFICATION},
                            },
                        },
                    },
                    "results": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["message"],
                            "properties": {
                                "message": _MESSAGE,
                                "level": _LEVEL,
                                "ruleId": {"type": "string"},
                                "ruleIndex": {"type": "integer", "minimum": -1},
                                "locations": {"type": "array", "items": _LOCATION},
                                "suppressions": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["kind"],
                                        "properties": {"kind": {"enum": ["inSource", "external"]}},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


@pytest.mark.parametrize("name", HOSTILE_IDS)
def test_sarif_report_parses_validates_and_keeps_the_message(name: str) -> None:
    text = HOSTILE[name]
    log = json.loads(render_sarif(_evaluation(text), _options(text)))
    jsonschema.Draft202012Validator(SARIF_STRUCTURE).validate(log)
    assert log["runs"][0]["results"][0]["message"]["text"] == f"message {text}"


@pytest.mark.parametrize("name", HOSTILE_IDS)
def test_junit_report_is_well_formed_xml(name: str) -> None:
    text = HOSTILE[name]
    root = ET.fromstring(render_junit(_evaluation(text), _options(text)).encode("utf-8"))
    assert root.tag == "testsuites"


def test_a_file_name_that_is_not_utf8_becomes_its_percent_encoded_bytes() -> None:
    name = os.fsdecode(b"records/caf\xe9.jsonl")  # how Python hands over a Latin-1 file name
    assert artifact_uri(name) == "records/caf%E9.jsonl"
    assert artifact_uri("/" + name) == "file:///records/caf%E9.jsonl"
    assert artifact_uri("records/r\ud800.jsonl") == "records/r%ED%A0%80.jsonl"


# --- the shared helpers ---------------------------------------------------------------------------


def test_printable_writes_each_kind_of_control_as_a_visible_escape() -> None:
    assert printable("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert printable("a\nb\r\tc") == "a\\nb\\r\\tc"
    assert printable("\x9b\x7f\x00") == "\\x9b\\x7f\\x00"
    assert printable("\ud800") == "\\ud800"
    assert printable("\u202e\u2028") == "\\u202e\\u2028"


def test_printable_leaves_ordinary_text_of_any_script_alone() -> None:
    for text in ("café", "Grüße", "日本語", "emoji 😀", "tab-free text", "a\\x1b literally"):
        assert printable(text) is text


def test_printable_may_keep_newlines_for_formats_that_encode_them() -> None:
    assert printable("a\nb\x1b", newlines=True) == "a\nb\\x1b"


def test_json_text_escapes_only_lone_surrogates_and_reads_back_the_same() -> None:
    value = {"id": "r\ud800", "text": "café \x1b 😀"}
    text = json_text(value)
    text.encode("utf-8")
    assert "\\ud800" in text and "café" in text and "😀" in text
    assert json.loads(text) == value


def test_xml_text_replaces_what_xml_cannot_carry() -> None:
    assert xml_text("a\x00b\ud800c\x1b") == "a\ufffdb\ufffdc\ufffd"
    assert xml_text("tab\tnew\nline") == "tab\tnew\nline"


# --- explain and policy tests print user data through the same helper ----------------------------


def _explanation(text: str) -> Any:
    policy = SimpleNamespace(
        id=f"policy-{text}",
        title=f"title {text}",
        severity=Severity.ERROR,
        source=None,
        subject=SimpleNamespace(types=(f"type-{text}",)),
    )
    trace = SimpleNamespace(case_id=f"case-{text}", now=NOW, records=[], subjects=[])
    return SimpleNamespace(trace=trace, policies=[policy], subjects=lambda _policy: [])


@pytest.mark.parametrize("name", HOSTILE_IDS)
def test_explain_text_and_json_survive_hostile_ids(name: str) -> None:
    text = HOSTILE[name]
    listing = render_explanation(_explanation(text))
    listing.encode("utf-8")
    assert _raw_controls(listing) == []
    document = render_explanation_json(_explanation(text))
    assert json.loads(document)["case_id"] == f"case-{text}"


def _suite(text: str) -> SuiteResult:
    expected = ExpectedFinding(
        policy=f"policy-{text}", case_id=f"case-{text}", record_id=f"rec-{text}", status=Status.VIOLATION
    )
    test = PolicyTest(
        name=f"test {text}",
        file=Path(f"tests/{text}.test.yaml"),
        policies=(f"policy-{text}",),
        now=NOW,
        expected=(expected,),
        location=Location(f"tests/{text}.test.yaml", 2),
    )
    failed = PolicyTestResult(test, Outcome.FAILED, missing=(expected,), unexpected=(_finding(text),))
    errored = PolicyTestResult(
        test, Outcome.ERROR, errors=(RecordError(f"bad {text}", Location("f", 1, "/x")),)
    )
    return SuiteResult(results=(failed, errored), evaluator="native")


@pytest.mark.parametrize("name", HOSTILE_IDS)
def test_policy_test_reports_survive_hostile_names(name: str) -> None:
    text = HOSTILE[name]
    suite = _suite(text)
    for color in (False, True):
        listing = render_tests_text(suite, color=color)
        listing.encode("utf-8")
        assert _raw_controls(_OUR_STYLING.sub("", listing)) == []
    assert json.loads(render_tests_json(suite))["tests"][0]["name"] == f"test {text}"
    ET.fromstring(render_tests_junit(suite).encode("utf-8"))


def test_error_lines_on_stderr_are_printable(capsys: pytest.CaptureFixture[str]) -> None:
    from serviceflow.cli.output import echo_errors

    echo_errors([RecordError("bad \x1b[2J value", Location("in\x1b]0;t\x07.jsonl", 3, "/id"))])
    err = capsys.readouterr().err
    assert _raw_controls(err) == []
    assert "bad \\x1b[2J value" in err
