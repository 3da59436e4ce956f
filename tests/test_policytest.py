"""``serviceflow test``: policy test files, their errors, the runner's verdicts and its reports."""

from __future__ import annotations

import json
import os
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from serviceflow.cli import main
from serviceflow.errors import Location
from serviceflow.findings import Finding, Severity, Status
from serviceflow.policy import bundled_policy_dir, load_policies, policy_files
from serviceflow.policytest import (
    ExpectedFinding,
    Outcome,
    PolicyTestError,
    PolicyTestRunner,
    compare,
    find_test_files,
    load_test_file,
    select,
)
from serviceflow.timeutil import parse_datetime

REPOSITORY = Path(__file__).resolve().parents[1]
DEFINITIONS = load_policies([bundled_policy_dir()])

PASSING = """\
policy: respond-promptly
tests:
  - name: an answered email passes
    now: "2024-05-08T00:00:00Z"
    records:
      - {id: o, type: case_opened, at: "2024-05-07T09:00:00Z", channel: email}
      - {id: a, type: contact, at: "2024-05-07T10:00:00Z", channel: email, direction: outbound}
    expect: []
  - name: an unanswered email is pending until the window closes
    now: "2024-05-07T10:00:00Z"
    records:
      - {id: o, type: case_opened, at: "2024-05-07T09:00:00Z", channel: email}
    expect:
      - {record: o, status: pending, deadline: "2024-05-07T13:00:00Z", message: "Respond to o"}
"""

FAILING = """\
policy: respond-promptly
tests:
  - name: a late answer
    now: "2024-05-08T00:00:00Z"
    records:
      - {id: o, type: case_opened, at: "2024-05-07T09:00:00Z", channel: email}
      - {id: a, type: contact, at: "2024-05-07T14:00:00Z", channel: email, direction: outbound}
    expect:
      - {record: a, status: violation}
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, ["test", *map(str, args)])


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory with no configuration above it, as a policy author's project."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SERVICEFLOW_DEBUG", raising=False)
    (tmp_path / "serviceflow.toml").write_text("")
    return tmp_path


def run_file(path: Path, evaluator: str = "native") -> list[Outcome]:
    runner = PolicyTestRunner(DEFINITIONS, evaluator=evaluator)
    test_file = load_test_file(path)
    runner.check(test_file)
    return [runner.run(test).outcome for test in test_file.tests]


# Passing, failing and the difference


def test_a_file_whose_tests_all_pass_exits_zero(workdir: Path) -> None:
    write(workdir, "respond.test.yaml", PASSING)
    result = run("respond.test.yaml")
    assert result.exit_code == 0, result.output
    assert "PASS   an answered email passes" in result.stdout
    assert result.stdout.rstrip().endswith("2 tests in 1 file: 2 passed, 0 failed (native)")


def test_a_failing_test_shows_missing_and_unexpected_findings_with_message_and_deadline(
    workdir: Path,
) -> None:
    write(workdir, "respond.test.yaml", FAILING)
    result = run("respond.test.yaml")
    assert result.exit_code == 1
    assert "FAIL   a late answer  (line 3)" in result.stdout
    assert "- missing     violation  case c1, record a  (line 9)" in result.stdout
    assert (
        "+ unexpected  violation  case c1, record o  severity warning  evidence [o]: "
        "o got no response within 4h" in result.stdout
    )
    assert "1 test in 1 file: 0 passed, 1 failed (native)" in result.stdout


def test_a_wrong_deadline_shows_the_expected_one_beside_the_actual(workdir: Path) -> None:
    write(
        workdir,
        "respond.test.yaml",
        PASSING.replace('deadline: "2024-05-07T13:00:00Z"', 'deadline: "2024-05-07T12:00:00Z"'),
    )
    result = run("respond.test.yaml")
    assert result.exit_code == 1
    assert "- missing     pending    case c1, record o  due 2024-05-07T12:00:00Z" in result.stdout
    assert "+ unexpected  pending    case c1, record o  due 2024-05-07T13:00:00Z" in result.stdout


def test_a_message_or_evidence_that_differs_fails_the_test(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "respond.test.yaml",
        FAILING.replace(
            "- {record: a, status: violation}",
            "- {record: o, status: violation, evidence: [o, a]}\n"
            "      - {record: o, status: violation, message: answered}",
        ),
    )
    assert run_file(path) == [Outcome.FAILED]


def test_the_runner_passes_every_bundled_test_on_each_evaluator(evaluator_name: str) -> None:
    path = bundled_policy_dir() / "tests" / "respond-promptly.test.yaml"
    assert set(run_file(path, evaluator_name)) == {Outcome.PASSED}


def test_compare_lets_the_stricter_expectation_choose_first() -> None:
    now = parse_datetime("2024-05-08T00:00:00Z")
    finding = Finding("p", Severity.ERROR, Status.VIOLATION, "c1", "r", "r is late", ("r", "x"))
    strict = ExpectedFinding("p", "c1", "r", Status.VIOLATION, evidence=("r", "x"))
    loose = ExpectedFinding("p", "c1", "r", Status.VIOLATION)
    assert compare([loose, strict], [finding]) == ((loose,), ())
    assert compare([strict], [finding, finding]) == ((), (finding,))
    pending = ExpectedFinding("p", "c1", "r", Status.PENDING, deadline=now)
    assert compare([pending], [finding]) == ((pending,), (finding,))


# Defaults, records files and settings


def test_inline_records_default_to_case_c1_and_an_agent(tmp_path: Path) -> None:
    path = write(tmp_path, "a.test.yaml", PASSING)
    test = load_test_file(path).tests[0]
    assert test.records[0].data["case_id"] == "c1"
    assert test.records[0].data["actor"] == {"role": "agent", "id": "agent-1"}
    assert test.expected == ()
    assert load_test_file(path).tests[1].expected[0].case_id == "c1"


def test_records_come_from_a_file_relative_to_the_test_file_in_any_record_format(tmp_path: Path) -> None:
    opened = {
        "id": "o",
        "case_id": "k9",
        "type": "case_opened",
        "at": "2024-05-07T09:00:00Z",
        "channel": "email",
        "actor": {"role": "customer", "id": "cu"},
    }
    write(tmp_path, "tests/data/case.jsonl", json.dumps(opened) + "\n")
    write(tmp_path, "tests/data/case.json", json.dumps([opened]))
    text = """\
        policy: respond-promptly
        tests:
          - name: from JSON Lines
            now: "2024-05-08T00:00:00Z"
            records_file: data/case.jsonl
            expect: [{case: k9, record: o, status: violation}]
          - name: from a JSON array
            now: "2024-05-08T00:00:00Z"
            records_file: data/case.json
            expect: [{case: k9, record: o, status: violation}]
        """
    path = write(tmp_path, "tests/respond.yaml", text)
    assert run_file(path) == [Outcome.PASSED, Outcome.PASSED]


def test_an_invalid_record_in_a_records_file_errors_the_test_naming_its_line(tmp_path: Path) -> None:
    write(tmp_path, "case.jsonl", '{"id": "o", "type": "case_opened"}\n')
    path = write(
        tmp_path,
        "r.test.yaml",
        'policy: respond-promptly\ntests:\n  - {name: bad, now: "2024-05-08T00:00:00Z", '
        "records_file: case.jsonl, expect: []}\n",
    )
    result = PolicyTestRunner(DEFINITIONS).run(load_test_file(path).tests[0])
    assert result.outcome is Outcome.ERROR
    assert str(result.errors[0]).startswith(f"{tmp_path / 'case.jsonl'}:1: /")


def test_params_severity_and_calendar_configure_the_policy_under_test(tmp_path: Path) -> None:
    text = """\
        policy: respond-promptly
        calendars:
          office: {timezone: UTC, hours: {tue: ["09:00-17:00"], wed: ["09:00-17:00"]}}
        tests:
          - name: a longer window, and the finding as an error
            now: "2024-05-08T00:00:00Z"
            params: {within: 6h}
            severity: error
            records:
              - {id: o, type: case_opened, at: "2024-05-07T09:00:00Z", channel: email}
              - {id: a, type: contact, at: "2024-05-07T14:00:00Z", channel: email, direction: outbound}
              - {id: o2, case_id: c2, type: case_opened, at: "2024-05-07T09:00:00Z", channel: email}
            expect:
              - {case: c2, record: o2, status: violation, severity: error}
          - name: in office hours the window runs into the next morning
            now: "2024-05-07T16:00:00Z"
            calendar: office
            records:
              - {id: o, type: case_opened, at: "2024-05-07T15:00:00Z", channel: email}
            expect:
              - {record: o, status: pending, deadline: "2024-05-08T11:00:00Z"}
        """
    assert run_file(write(tmp_path, "r.test.yaml", text)) == [Outcome.PASSED, Outcome.PASSED]


def test_settings_configure_each_of_several_policies_and_can_disable_one(tmp_path: Path) -> None:
    text = """\
        policies: [respond-promptly, one-human]
        tests:
          - name: only the policy left enabled reports
            now: "2024-05-08T00:00:00Z"
            settings:
              one-human: {params: {max_people: 1}}
              respond-promptly: {enabled: false}
            records:
              - {id: o, type: case_opened, at: "2024-05-07T09:00:00Z", channel: email}
              - {id: a1, type: contact, at: "2024-05-07T10:00:00Z", direction: outbound}
              - {id: a2, type: contact, at: "2024-05-07T11:00:00Z", direction: outbound,
                 actor: {role: agent, id: agent-2}}
            expect:
              - {policy: one-human, record: a2, status: violation}
        """
    assert run_file(write(tmp_path, "two.test.yaml", text)) == [Outcome.PASSED]


def test_a_parameter_the_policy_does_not_have_errors_the_test_at_its_line(workdir: Path) -> None:
    write(
        workdir, "r.test.yaml", PASSING.replace("    expect: []", "    params: {within_: 2h}\n    expect: []")
    )
    result = run("r.test.yaml")
    assert result.exit_code == 2
    assert "ERROR  an answered email passes  (line 3)" in result.stdout
    assert (
        "error: r.test.yaml:8: /tests/0/params: policy 'respond-promptly' has no parameter" in result.stdout
    )


def test_an_invalid_inline_record_errors_the_test_with_its_pointer(workdir: Path) -> None:
    write(workdir, "r.test.yaml", PASSING.replace('at: "2024-05-07T10:00:00Z"', 'at: "yesterday"'))
    result = run("r.test.yaml")
    assert result.exit_code == 2
    assert "error: r.test.yaml:7: /tests/0/records/1/at: " in result.stdout
    assert "PASS   an unanswered email" in result.stdout


# Bad test files: file, line, pointer, exit 2, no traceback


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            PASSING.replace("    expect: []", "    expected: []"),
            "bad.test.yaml:8: /tests/0/expected: unknown key 'expected' (did you mean 'expect'?)",
        ),
        (
            PASSING.replace('now: "2024-05-08T00:00:00Z"', 'now: "2024-05-08T00:00:00"'),
            "bad.test.yaml:4: /tests/0/now: 'now' must be an RFC 3339 date-time with an offset",
        ),
        (
            PASSING.replace(', deadline: "2024-05-07T13:00:00Z"', ""),
            "bad.test.yaml:14: /tests/1/expect/0: a pending finding needs its 'deadline'",
        ),
        (
            PASSING.replace("status: pending", "status: late"),
            "bad.test.yaml:14: /tests/1/expect/0/status: 'late' is not one of ['violation', 'pending']",
        ),
        (
            PASSING.replace("policy: respond-promptly", "policy: respond-quickly"),
            "bad.test.yaml:1: /policy: no policy 'respond-quickly' is loaded (policies: ",
        ),
        (
            PASSING.replace(
                "an unanswered email is pending until the window closes", "an answered email passes"
            ),
            "bad.test.yaml:9: /tests/1/name: two tests named 'an answered email passes'",
        ),
        (
            PASSING.replace("tests:", "tests: ["),
            "bad.test.yaml:3: invalid YAML: did not find expected node content",
        ),
        (
            PASSING.replace("policy: respond-promptly", "policies: [respond-promptly, one-human]"),
            "bad.test.yaml:14: /tests/1/expect/0: with several policies under test each expected finding "
            "names its 'policy'",
        ),
        (
            PASSING.replace("    expect: []", "    records_file: none.jsonl\n    expect: []"),
            "bad.test.yaml:3: /tests/0: give the records inline ('records') or in a file ('records_file')",
        ),
    ],
)
def test_a_bad_test_file_is_an_error_naming_file_line_and_pointer(
    workdir: Path, text: str, expected: str
) -> None:
    write(workdir, "bad.test.yaml", text)
    result = run("bad.test.yaml")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(expected), result.stderr
    assert "Traceback" not in result.stderr


def test_every_bad_file_is_reported_before_anything_runs(workdir: Path) -> None:
    write(workdir, "tests/a.yaml", "policy: respond-promptly\n")
    write(workdir, "tests/b.yaml", "tests: []\n")
    write(workdir, "tests/c.yaml", PASSING)
    result = run("tests")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{Path('tests/a.yaml')}:1: /: 'tests' is a required property",
        f"{Path('tests/b.yaml')}:1: /tests: [] should be non-empty",
    ]


def test_load_test_file_raises_a_policy_test_error_with_its_location(tmp_path: Path) -> None:
    path = write(
        tmp_path, "x.test.yaml", FAILING.replace("status: violation", "status: violation, deadline: x")
    )
    with pytest.raises(PolicyTestError) as raised:
        load_test_file(path)
    assert raised.value.location == Location(str(path), 9, "/tests/0/expect/0/deadline")
    assert raised.value.exit_code == 2


def test_a_missing_path_is_an_error(workdir: Path) -> None:
    result = run("nowhere")
    assert result.exit_code == 2
    assert result.stderr == "serviceflow: error: nowhere: no such test file or directory\n"


# Finding tests, choosing them


def test_a_directory_holds_test_yaml_files_and_yaml_under_tests_folders(tmp_path: Path) -> None:
    write(tmp_path, "policies/mine.yaml", "not a test")
    write(tmp_path, "policies/mine.test.yaml", PASSING)
    write(tmp_path, "policies/tests/deep/other.yml", PASSING)
    write(tmp_path, "policies/tests/data/case.jsonl", "")
    assert find_test_files([tmp_path / "policies"]) == [
        tmp_path / "policies/mine.test.yaml",
        tmp_path / "policies/tests/deep/other.yml",
    ]


def test_the_policy_loader_skips_what_serviceflow_test_runs(tmp_path: Path) -> None:
    policy = (bundled_policy_dir() / "one-human.yaml").read_text()
    write(tmp_path, "tests/policies/one-human.yaml", policy)
    write(tmp_path, "tests/policies/tests/deep/case.yaml", PASSING)
    write(tmp_path, "tests/policies/one-human.test.yml", PASSING)
    assert policy_files([tmp_path / "tests/policies"]) == [tmp_path / "tests/policies/one-human.yaml"]


def test_dash_k_selects_tests_by_policy_and_name(workdir: Path) -> None:
    write(workdir, "respond.test.yaml", PASSING)
    result = run("respond.test.yaml", "-k", "UNANSWERED")
    assert result.exit_code == 0
    assert "an answered email passes" not in result.stdout
    assert "1 test in 1 file: 1 passed" in result.stdout
    tests = load_test_file(workdir / "respond.test.yaml").tests
    assert select(tests, ["respond-promptly: an answered"]) == [tests[0]]
    assert select(tests, []) == list(tests)


def test_dash_k_that_selects_nothing_is_an_error(workdir: Path) -> None:
    write(workdir, "respond.test.yaml", PASSING)
    result = run("respond.test.yaml", "-k", "nothing like it")
    assert result.exit_code == 2
    assert "no policy tests matching -k nothing like it in respond.test.yaml" in result.stderr


def test_tests_run_a_policy_loaded_with_dash_dash_policies(workdir: Path) -> None:
    policy = (bundled_policy_dir() / "one-human.yaml").read_text().replace("id: one-human", "id: two-humans")
    write(workdir, "ours/two-humans.yaml", policy)
    write(
        workdir,
        "ours/tests/two-humans.yaml",
        """\
        policy: two-humans
        tests:
          - name: the third agent is flagged
            now: "2024-05-08T00:00:00Z"
            records:
              - {id: a1, type: contact, at: "2024-05-07T10:00:00Z", direction: outbound}
              - {id: a2, type: contact, at: "2024-05-07T11:00:00Z", direction: outbound,
                 actor: {role: agent, id: agent-2}}
              - {id: a3, type: contact, at: "2024-05-07T12:00:00Z", direction: outbound,
                 actor: {role: agent, id: agent-3}}
            expect: [{record: a3, status: violation}]
        """,
    )
    assert run("ours").exit_code == 2
    result = run("ours", "--policies", "ours")
    assert result.exit_code == 0, result.output
    assert "1 passed" in result.stdout


SHOUTING_PLUGIN = """\
from pathlib import Path

from serviceflow import hookimpl
from serviceflow.conditions import NamedCondition
from serviceflow.plugins import PolicyPackSpec


def shouting(context, text):
    if text == "boom":
        raise RuntimeError("the classifier is down")
    return text is not None and text.isupper()


@hookimpl
def serviceflow_named_conditions():
    return [NamedCondition("shouting", shouting, {"text": "string"})]


@hookimpl
def serviceflow_policy_packs():
    pack = Path(__file__).parent.parent / "acme"
    return [PolicyPackSpec("acme", pack, pack / "tests")]
"""

NO_SHOUTING = """\
id: no-shouting
title: Do not shout at the customer
severity: warning
rationale: Capitals read as shouting.
for_each:
  type: contact
  where: {eq: [$it.direction, outbound]}
require:
  not: {condition: {name: shouting, args: {text: $subject.text}}}
message: "{subject.id} shouts"
"""


def test_tests_run_a_plugin_policy_pack_that_calls_its_named_condition(workdir: Path) -> None:
    write(workdir, "plugins/acme_plugin.py", SHOUTING_PLUGIN)
    write(workdir, "acme/no-shouting.yaml", NO_SHOUTING)
    write(
        workdir,
        "acme/tests/no-shouting.yaml",
        """\
        policy: no-shouting
        tests:
          - name: capitals are shouting
            now: "2024-05-08T00:00:00Z"
            records:
              - {id: t1, type: contact, at: "2024-05-07T09:00:00Z", direction: outbound, text: "CALL US NOW"}
              - {id: t2, type: contact, at: "2024-05-07T10:00:00Z", direction: outbound, text: "Call us"}
            expect: [{record: t1, status: violation, message: "t1 shouts"}]
          - name: a condition that raises errors the test
            now: "2024-05-08T00:00:00Z"
            records:
              - {id: t, type: contact, at: "2024-05-07T09:00:00Z", direction: outbound, text: "boom"}
            expect: []
        """,
    )
    result = run("acme/tests", "--plugins-dir", "plugins")
    assert result.exit_code == 2, result.output
    assert "PASS   capitals are shouting" in result.stdout
    assert "ERROR  a condition that raises errors the test  (line 9)" in result.stdout
    assert (
        f"error: {Path('acme/tests/no-shouting.yaml')}:12: /tests/1/records/0: engine error: "
        "policy 'no-shouting' could not "
        "decide: named condition 'shouting' (plugin acme_plugin) raised RuntimeError: the classifier is down"
    ) in result.stdout
    assert run("acme/tests").exit_code == 2  # without the plugin the policy is not loaded


# Reports


def test_json_reports_each_test_with_its_difference_and_a_summary(workdir: Path) -> None:
    write(workdir, "a.test.yaml", PASSING)
    write(workdir, "b.test.yaml", FAILING)
    result = run("a.test.yaml", "b.test.yaml", "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["summary"] == {
        "tests": 3,
        "files": 2,
        "passed": 2,
        "failed": 1,
        "errors": 0,
        "evaluator": "native",
    }
    failed = report["tests"][2]
    assert (failed["name"], failed["file"], failed["line"], failed["outcome"]) == (
        "a late answer",
        "b.test.yaml",
        3,
        "failed",
    )
    assert failed["missing"] == [
        {"policy": "respond-promptly", "case": "c1", "record": "a", "status": "violation", "line": 9}
    ]
    assert [(f["record_id"], f["message"]) for f in failed["unexpected"]] == [
        ("o", "o got no response within 4h")
    ]
    assert "coverage" not in report


def test_junit_has_a_suite_per_file_and_a_failure_holding_the_difference(workdir: Path) -> None:
    write(workdir, "a.test.yaml", PASSING)
    write(workdir, "b.test.yaml", FAILING)
    result = run("a.test.yaml", "b.test.yaml", "--format", "junit", "--output", "report.xml")
    assert result.exit_code == 1
    assert result.stderr == "serviceflow: wrote report.xml: 3 tests in 2 files: 2 passed, 1 failed (native)\n"
    root = ET.parse(workdir / "report.xml").getroot()
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "1", "0")
    assert [suite.get("name") for suite in root] == ["a.test.yaml", "b.test.yaml"]
    case = root.find("testsuite/testcase[@name='a late answer']")
    assert case is not None
    assert (case.get("classname"), case.get("file"), case.get("line")) == (
        "respond-promptly",
        "b.test.yaml",
        "3",
    )
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("message") == "findings differ: 1 missing, 1 unexpected"
    assert "- missing     violation  case c1, record a" in (failure.text or "")


def test_junit_reports_an_errored_test_as_an_error(workdir: Path) -> None:
    write(workdir, "r.test.yaml", PASSING.replace('at: "2024-05-07T10:00:00Z"', 'at: "yesterday"'))
    result = run("r.test.yaml", "--format", "junit")
    assert result.exit_code == 2
    root = ET.fromstring(result.stdout)
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("2", "0", "1")


@pytest.mark.durable
def test_dash_dash_engine_durable_runs_the_tests_on_the_durable_evaluator(workdir: Path) -> None:
    from support import DURABLE_SKIP_REASON, durable_available

    if not durable_available():
        pytest.skip(DURABLE_SKIP_REASON)
    write(workdir, "respond.test.yaml", PASSING)
    result = run("respond.test.yaml", "--engine", "durable")
    assert result.exit_code == 0, result.output
    assert result.stdout.rstrip().endswith("2 passed, 0 failed (durable)")


def test_the_bundled_policy_tests_pass_through_the_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPOSITORY)
    result = run(os.path.join("policies", "tests"))
    assert result.exit_code == 0, result.output
    assert "0 failed" in result.stdout


# Coverage

JARGON_FLAGGED = """\
policy: tone-jargon
tests:
  - name: internal jargon in an outbound message is flagged
    now: "2024-05-08T00:00:00Z"
    records:
      - {id: t, type: contact, at: "2024-05-07T09:00:00Z", direction: outbound, text: "Our SLA says so."}
    expect: [{record: t, status: violation}]
"""

JARGON_INBOUND = """\
  - name: the customer may use jargon
    now: "2024-05-08T00:00:00Z"
    records:
      - {id: t, type: contact, at: "2024-05-07T09:00:00Z", direction: inbound, text: "A P1?",
         actor: {role: customer, id: cu}}
    expect: []
"""


def test_coverage_names_each_uncovered_clause_with_pointer_line_and_text(workdir: Path) -> None:
    write(workdir, "jargon.test.yaml", JARGON_FLAGGED)
    result = run("jargon.test.yaml", "--coverage")
    assert result.exit_code == 0, result.output
    coverage = result.stdout.split("clause coverage:\n", 1)[1]
    assert "tone-jargon    0/4     0.0%" in coverage
    assert (
        "uncovered  line 19  /for_each/where/0  eq: [$it.direction, outbound]  (only ever true)" in coverage
    )
    assert "uncovered  line 24  /require  absent: $hit  (only ever false)" in coverage
    assert coverage.rstrip().endswith("0 of 4 clauses covered (0.0%) in 1 policy")


def test_a_clause_seen_true_by_one_test_and_false_by_another_is_covered(workdir: Path) -> None:
    write(workdir, "jargon.test.yaml", JARGON_FLAGGED + JARGON_INBOUND)
    result = run("jargon.test.yaml", "--format", "json", "--coverage")
    assert result.exit_code == 0, result.output
    [policy] = json.loads(result.stdout)["coverage"]
    clauses = {clause["pointer"]: clause for clause in policy["clauses"]}
    assert clauses["/for_each/where/0"]["outcomes"] == [False, True]
    assert clauses["/for_each/where/0"]["covered"] is True
    assert clauses["/for_each/where/1"]["covered"] is False
    assert (policy["policy"], policy["covered"], policy["total"], policy["percent"]) == (
        "tone-jargon",
        2,
        4,
        50.0,
    )


def test_a_policy_below_the_threshold_fails_the_run_though_every_test_passed(workdir: Path) -> None:
    write(workdir, "jargon.test.yaml", JARGON_FLAGGED + JARGON_INBOUND)
    below = run("jargon.test.yaml", "--threshold", "60")
    assert below.exit_code == 1
    assert "2 passed, 0 failed" in below.stdout
    assert "tone-jargon    2/4    50.0%  " in below.stdout
    assert "threshold 60%: 1 below (tone-jargon)" in below.stdout
    assert run("jargon.test.yaml", "--threshold", "50").exit_code == 0


def test_a_failed_test_still_exits_one_and_a_bad_one_two_whatever_the_coverage(workdir: Path) -> None:
    write(workdir, "respond.test.yaml", FAILING)
    assert run("respond.test.yaml", "--threshold", "0").exit_code == 1
    write(workdir, "respond.test.yaml", PASSING.replace('at: "2024-05-07T10:00:00Z"', 'at: "soon"'))
    assert run("respond.test.yaml", "--threshold", "100").exit_code == 2


def test_with_junit_the_coverage_goes_to_stderr(workdir: Path) -> None:
    write(workdir, "jargon.test.yaml", JARGON_FLAGGED)
    result = run("jargon.test.yaml", "--format", "junit", "--threshold", "50")
    assert result.exit_code == 1
    ET.fromstring(result.stdout)
    assert result.stderr.startswith("clause coverage:\n  tone-jargon")


def test_every_bundled_policy_is_fully_covered_by_its_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    """What CI runs (.ci/run): the bundled tests, gated at the coverage they reach."""
    monkeypatch.chdir(REPOSITORY)
    result = run(os.path.join("policies", "tests"), "--coverage", "--threshold", "100")
    assert result.exit_code == 0, result.output
    assert "0 failed (native)" in result.stdout
    assert "(100.0%) in" in result.stdout
    assert "; threshold 100%: met" in result.stdout


def test_a_policy_file_given_as_a_test_file_is_named_as_such(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "id: xy\ntitle: t\nseverity: error\nrationale: r\nfor_each: {type: commitment}\n"
        "require: {present: $subject.due}\nmessage: m\n"
    )
    result = CliRunner().invoke(main, ["test", str(policy)], env={"SERVICEFLOW_LOAD_PLUGINS": ""})
    assert result.exit_code == 2
    assert "this is a policy, not a policy test file" in result.output


def test_without_a_path_the_loaded_packs_tests_run(tmp_path: Path) -> None:
    env = {"SERVICEFLOW_LOAD_PLUGINS": ""}
    bundled = CliRunner().invoke(main, ["test"], env=env)
    assert bundled.exit_code == 0, bundled.output
    assert " 0 failed" in bundled.stdout and "in 1" in bundled.stdout  # files: one per bundled policy
    none = CliRunner().invoke(main, ["test", "--no-bundled"], env=env)
    assert none.exit_code == 2
    assert "no PATH given, and no loaded policy pack ships tests" in none.output
