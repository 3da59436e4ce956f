"""``serviceflow lint`` through click's CliRunner: reports, exit codes, input errors and --output."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from serviceflow.cli import main

NOW = "2024-05-01T13:00:00Z"


def opened(record_id: str, case_id: str) -> dict[str, Any]:
    return record(record_id, case_id, "case_opened", "2024-05-01T09:00:00Z", role="customer")


def closed(record_id: str, case_id: str, at: str = "2024-05-01T12:00:00Z") -> dict[str, Any]:
    return record(record_id, case_id, "status_change", at, to="closed")


def confirmed(record_id: str, case_id: str, at: str = "2024-05-01T11:00:00Z") -> dict[str, Any]:
    return record(record_id, case_id, "confirmation", at, role="customer", resolved=True)


def flagged_contact(record_id: str, case_id: str, at: str = "2024-05-01T12:00:00Z") -> dict[str, Any]:
    return record(
        record_id, case_id, "contact", at, role="customer", direction="inbound", flags=["values_in_question"]
    )


def record(
    record_id: str, case_id: str, type_: str, at: str, role: str = "agent", **fields: Any
) -> dict[str, Any]:
    return {
        "id": record_id,
        "case_id": case_id,
        "type": type_,
        "at": at,
        "actor": {"role": role, "id": "p-1"},
    } | fields


def write_jsonl(path: Path, *items: dict[str, Any] | str) -> Path:
    """Write records (dicts) and raw lines (str, for malformed input) as JSON Lines.

    Returns the name relative to the working directory, as a user would type it.
    """
    path.write_text("".join((item if isinstance(item, str) else json.dumps(item)) + "\n" for item in items))
    return Path(os.path.relpath(path))


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory whose serviceflow.toml runs only the four core policies.

    These tests are about the CLI's behaviour, so they pin the policy set the way a user would, and
    the practice library growing does not change what they expect.
    """
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    core = {
        "commit-requires-capacity",
        "escalate-values-in-question",
        "no-close-without-confirmation",
        "concession-after-missed-commitment",
    }
    others = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "policies").glob("*.yaml"))
    (tmp_path / "serviceflow.toml").write_text(
        "".join(f"[policies.{policy}]\nenabled = false\n\n" for policy in others if policy not in core)
    )
    monkeypatch.delenv("SERVICEFLOW_DEBUG", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    return work


def lint(*args: str, input: str | None = None) -> Result:
    result = CliRunner().invoke(main, ["lint", *args], input=input)
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def clean_file(workdir: Path) -> Path:
    return write_jsonl(
        workdir / "clean.jsonl", opened("a1", "C-1"), confirmed("a2", "C-1"), closed("a3", "C-1")
    )


@pytest.fixture
def mixed_file(workdir: Path) -> Path:
    """Case C-1 closed without confirmation (a violation), C-2 with an open escalation (pending)."""
    return write_jsonl(
        workdir / "records.jsonl",
        opened("r1", "C-1"),
        closed("r2", "C-1"),
        flagged_contact("r3", "C-2"),
    )


# --- exit codes ----------------------------------------------------------------------------------


def test_clean_records_exit_zero_with_a_summary(clean_file: Path) -> None:
    result = lint(str(clean_file), "--now", NOW)
    assert result.exit_code == 0, result.output
    assert "0 violations and 0 pending in 0 of 1 case" in result.stdout


def test_a_violation_at_the_fail_level_exits_one_and_is_reported_by_case(mixed_file: Path) -> None:
    result = lint(str(mixed_file), "--now", NOW)
    assert result.exit_code == 1
    assert "case C-1" in result.stdout
    assert "no-close-without-confirmation" in result.stdout
    assert "record r2  records.jsonl:2" in result.stdout
    assert "1 violation (1 error) and 1 pending in 2 of 2 cases" in result.stdout


def test_pending_obligations_alone_do_not_fail_the_run(workdir: Path) -> None:
    path = write_jsonl(workdir / "r.jsonl", flagged_contact("r1", "C-1"))
    result = lint(str(path), "--now", NOW)
    assert result.exit_code == 0
    assert "pending  escalate-values-in-question" in result.stdout
    assert "2024-05-01T16:00:00Z" in result.stdout


def test_fail_on_never_exits_zero_despite_violations(mixed_file: Path) -> None:
    assert lint(str(mixed_file), "--now", NOW, "--fail-on", "never").exit_code == 0


def test_fail_on_compares_against_the_severity_the_configuration_sets(
    mixed_file: Path, workdir: Path
) -> None:
    (workdir / "serviceflow.toml").write_text(
        '[policies.no-close-without-confirmation]\nseverity = "warning"\n'
    )
    assert lint(str(mixed_file), "--now", NOW).exit_code == 0
    assert lint(str(mixed_file), "--now", NOW, "--fail-on", "warning").exit_code == 1


def test_fail_on_defaults_to_the_configuration_and_the_option_overrides_it(
    mixed_file: Path, workdir: Path
) -> None:
    (workdir / "serviceflow.toml").write_text('fail-on = "never"\n')
    assert lint(str(mixed_file), "--now", NOW).exit_code == 0
    assert lint(str(mixed_file), "--now", NOW, "--fail-on", "error").exit_code == 1


def test_engine_option_overrides_the_configured_evaluator(mixed_file: Path, workdir: Path) -> None:
    config = workdir / "custom.toml"
    config.write_text('evaluator = "durable"\n')
    result = lint(str(mixed_file), "--now", NOW, "--config", str(config), "--engine", "native")
    assert result.exit_code == 1, result.output


# --- input errors --------------------------------------------------------------------------------


def test_bad_lines_exit_two_with_file_line_and_pointer_while_good_records_are_still_reported(
    workdir: Path,
) -> None:
    path = write_jsonl(
        workdir / "records.jsonl",
        opened("r1", "C-1"),
        "{not json",
        record("r3", "C-2", "status_change", "2024-05-01T10:00:00Z", to="archived"),
        closed("r4", "C-1"),
    )
    result = lint(str(path), "--now", NOW)
    assert result.exit_code == 2
    stderr_lines = result.stderr.splitlines()
    assert any(line.startswith("records.jsonl:2: /: ") for line in stderr_lines), result.stderr
    assert any(line.startswith("records.jsonl:3: /to: ") for line in stderr_lines), result.stderr
    assert "no-close-without-confirmation" in result.stdout
    assert "record r4  records.jsonl:4" in result.stdout
    assert "2 invalid records" in result.stdout


def test_input_errors_are_in_the_json_report_too(workdir: Path) -> None:
    path = write_jsonl(workdir / "records.jsonl", "[1,", closed("r2", "C-1"))
    result = lint(str(path), "--now", NOW, "--format", "json")
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert report["errors"][0]["file"] == "records.jsonl"
    assert report["errors"][0]["line"] == 1
    assert [finding["record_id"] for finding in report["violations"]] == ["r2"]


def test_a_missing_file_is_an_input_error_and_the_other_files_are_still_linted(mixed_file: Path) -> None:
    result = lint("missing.jsonl", str(mixed_file), "--now", NOW)
    assert result.exit_code == 2
    assert "missing.jsonl" in result.stderr
    assert "no-close-without-confirmation" in result.stdout


def test_records_are_read_from_stdin_for_a_dash(workdir: Path) -> None:
    lines = "".join(json.dumps(item) + "\n" for item in (opened("r1", "C-1"), closed("r2", "C-1")))
    result = lint("-", "--now", NOW, "--format", "json", input=lines)
    assert result.exit_code == 1, result.output
    (finding,) = json.loads(result.stdout)["violations"]
    assert finding["location"] == {"file": "<stdin>", "line": 2}


# --- usage and configuration errors --------------------------------------------------------------


@pytest.mark.parametrize("value", ["2024-05-01T13:00:00", "yesterday", "2024-05-01"])
def test_now_without_an_offset_is_a_usage_error_naming_the_option(clean_file: Path, value: str) -> None:
    result = lint(str(clean_file), "--now", value)
    assert result.exit_code == 2
    assert "--now" in result.stderr
    assert "offset" in result.stderr


def test_now_defaults_to_the_current_time(clean_file: Path) -> None:
    result = lint(str(clean_file), "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["summary"]["now"].endswith("Z")


def test_an_invalid_configuration_exits_two_with_its_location(clean_file: Path, workdir: Path) -> None:
    (workdir / "serviceflow.toml").write_text("bogus = 1\n")
    result = lint(str(clean_file), "--now", NOW)
    assert result.exit_code == 2
    assert result.stderr.startswith("serviceflow: error: ")
    assert "serviceflow.toml:1: /bogus: unknown setting 'bogus'" in result.stderr


def test_a_broken_policy_file_exits_two_naming_file_and_line(clean_file: Path, workdir: Path) -> None:
    policy = workdir / "broken.yaml"
    policy.write_text("id: broken\ntitle: [unclosed\n")
    result = lint(str(clean_file), "--now", NOW, "--policies", str(policy))
    assert result.exit_code == 2
    assert f"serviceflow: error: {policy}:" in result.stderr


def test_only_named_policies_run_without_the_bundled_ones(mixed_file: Path) -> None:
    repository_policies = Path(__file__).resolve().parents[1] / "policies"
    policy = repository_policies / "escalate-values-in-question.yaml"
    empty_config = mixed_file.parent / "empty.toml"
    empty_config.write_text("")
    result = lint(
        str(mixed_file),
        "--now",
        NOW,
        "--no-bundled",
        "--policies",
        str(policy),
        "--format",
        "json",
        "--config",
        str(empty_config),
    )
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["violations"] == []
    assert [item["policy"] for item in report["pending"]] == ["escalate-values-in-question"]


def test_an_unknown_format_is_a_usage_error(clean_file: Path) -> None:
    assert lint(str(clean_file), "--format", "yaml").exit_code == 2


# --- formats -------------------------------------------------------------------------------------


def test_json_format_holds_findings_pending_errors_and_summary(mixed_file: Path) -> None:
    report = json.loads(lint(str(mixed_file), "--now", NOW, "--format", "json").stdout)
    assert set(report) >= {"violations", "pending", "waived", "engine_errors", "errors", "summary"}
    assert report["violations"][0]["policy"] == "no-close-without-confirmation"
    assert report["pending"][0]["deadline"] == "2024-05-01T16:00:00Z"
    assert report["summary"]["cases"] == 2


def test_sarif_format_lists_the_bundled_policies_as_rules_and_violations_as_results(mixed_file: Path) -> None:
    log = json.loads(lint(str(mixed_file), "--now", NOW, "--format", "sarif").stdout)
    run = log["runs"][0]
    rule_ids = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    assert "no-close-without-confirmation" in rule_ids
    (result,) = run["results"]
    assert result["ruleId"] == "no-close-without-confirmation"
    assert result["locations"][0]["physicalLocation"]["region"] == {"startLine": 2}
    assert run["properties"]["pending"][0]["record_id"] == "r3"


def test_junit_format_parses_with_a_failure_and_a_skipped_testcase(mixed_file: Path) -> None:
    root = ET.fromstring(lint(str(mixed_file), "--now", NOW, "--format", "junit").stdout.encode())
    assert (root.get("failures"), root.get("skipped")) == ("1", "1")
    failing = root.find("testsuite[@name='no-close-without-confirmation']/testcase/failure")
    assert failing is not None


def test_github_format_writes_workflow_commands(mixed_file: Path) -> None:
    lines = lint(str(mixed_file), "--now", NOW, "--format", "github").stdout.splitlines()
    assert lines[0].startswith("::error file=records.jsonl,line=2,title=no-close-without-confirmation::")


def test_text_is_coloured_on_a_terminal_unless_no_color_is_set(
    mixed_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("serviceflow.cli.output.stdout_is_terminal", lambda: True)
    assert "\x1b[" in lint(str(mixed_file), "--now", NOW).stdout
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in lint(str(mixed_file), "--now", NOW).stdout


def test_text_is_not_coloured_when_piped(mixed_file: Path) -> None:
    assert "\x1b[" not in lint(str(mixed_file), "--now", NOW).stdout


def test_progress_goes_to_stderr_only_on_a_terminal(
    mixed_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("serviceflow.feeding.PROGRESS_EVERY", 1)
    assert "reading" not in lint(str(mixed_file), "--now", NOW).stderr
    monkeypatch.setattr("serviceflow.cli.lint.stderr_is_terminal", lambda: True)
    result = lint(str(mixed_file), "--now", NOW, "--format", "json")
    assert "serviceflow: reading [####################] 100%" in result.stderr
    assert ", 3 records," in result.stderr
    assert result.stderr.endswith("\r\x1b[K")  # erased before the report
    json.loads(result.stdout)


# --- --output ------------------------------------------------------------------------------------


def test_output_writes_the_report_to_the_file_and_nothing_to_stdout(mixed_file: Path, workdir: Path) -> None:
    target = workdir / "report.json"
    result = lint(str(mixed_file), "--now", NOW, "--format", "json", "--output", str(target))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert json.loads(target.read_text())["summary"]["violations"] == 1
    assert result.stderr.startswith(f"serviceflow: wrote {target}: 1 violation (1 error)")
    assert sorted(os.listdir(workdir)) == ["records.jsonl", "report.json"]


def test_output_replaces_an_existing_report_and_keeps_its_permissions(
    mixed_file: Path, workdir: Path
) -> None:
    target = workdir / "report.txt"
    target.write_text("old report\n")
    target.chmod(0o640)
    lint(str(mixed_file), "--now", NOW, "--output", str(target))
    assert "no-close-without-confirmation" in target.read_text()
    assert "\x1b[" not in target.read_text()
    assert target.stat().st_mode & 0o777 == 0o640


def test_output_is_still_written_when_input_errors_make_the_run_exit_two(workdir: Path) -> None:
    path = write_jsonl(workdir / "records.jsonl", "oops", closed("r2", "C-1"))
    target = workdir / "report.json"
    result = lint(str(path), "--now", NOW, "--format", "json", "-o", str(target))
    assert result.exit_code == 2
    assert json.loads(target.read_text())["violations"][0]["record_id"] == "r2"


def test_output_is_not_created_when_the_configuration_is_invalid(clean_file: Path, workdir: Path) -> None:
    (workdir / "serviceflow.toml").write_text("bogus = 1\n")
    target = workdir / "report.json"
    result = lint(str(clean_file), "--now", NOW, "--output", str(target))
    assert result.exit_code == 2
    assert not target.exists()


def test_output_is_left_unchanged_when_the_run_fails_before_reporting(
    clean_file: Path, workdir: Path
) -> None:
    target = workdir / "report.json"
    target.write_text("previous\n")
    result = lint(str(clean_file), "--now", "not-a-time", "--output", str(target))
    assert result.exit_code == 2
    assert target.read_text() == "previous\n"
    assert sorted(os.listdir(workdir)) == ["clean.jsonl", "report.json"]


def test_output_into_a_missing_directory_is_an_error_without_traceback(
    clean_file: Path, workdir: Path
) -> None:
    result = lint(str(clean_file), "--now", NOW, "--output", str(workdir / "no" / "such" / "report.txt"))
    assert result.exit_code == 2
    assert "serviceflow: error: cannot write" in result.stderr
