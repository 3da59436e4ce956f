"""``--input-format`` on ``lint`` and ``validate``: help-desk logs from the command line."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from serviceflow.cli import main

SAMPLE = Path(__file__).parent / "data" / "real" / "uci_sample.csv.gz"
NOW = "2017-06-01T00:00:00Z"


@pytest.fixture(autouse=True)
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str, input: bytes | None = None) -> Result:
    result = CliRunner().invoke(main, list(args), input=input)
    assert "Traceback" not in result.output
    return result


def test_lint_reads_a_servicenow_log_and_reports_its_unconfirmed_closes() -> None:
    result = run(
        "lint", str(SAMPLE), "--input-format", "servicenow-incidents", "--now", NOW, "--format", "json"
    )
    assert result.exit_code == 1
    summary = json.loads(result.stdout)["summary"]
    assert summary["cases"] == 38
    assert summary["invalid_records"] == 0
    assert summary["by_policy"]["no-close-without-confirmation"] > 0


def test_lint_reads_a_log_from_stdin() -> None:
    args = ["lint", "-", "--input-format", "servicenow-incidents", "--now", NOW, "--format", "json"]
    result = run(*args, input=SAMPLE.read_bytes())
    assert json.loads(result.stdout)["summary"]["cases"] == 38


def test_lint_reports_a_bad_row_with_file_line_and_column_and_exits_two(workdir: Path) -> None:
    lines = gzip.decompress(SAMPLE.read_bytes()).decode().splitlines()
    lines[2] = lines[2].replace("29/2/2016 08:53", "yesterday")
    (workdir / "log.csv").write_text("\n".join(lines) + "\n")
    result = run(
        "lint", "log.csv", "--input-format", "servicenow-incidents", "--now", NOW, "--format", "json"
    )
    assert result.exit_code == 2
    assert "log.csv:3: /sys_updated_at: not a date-time like 29/2/2016 01:16: 'yesterday'" in result.stderr
    assert json.loads(result.stdout)["summary"]["cases"] == 38


def test_records_stay_the_default_format() -> None:
    result = run("lint", str(SAMPLE), "--now", NOW)
    assert result.exit_code == 2
    assert "uci_sample.csv.gz:1" in result.stderr


def test_validate_checks_every_record_an_importer_makes() -> None:
    result = run("validate", str(SAMPLE), "--input-format", "servicenow-incidents")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr.strip().endswith("records valid")


def test_validate_names_an_unreadable_log_and_exits_two(workdir: Path) -> None:
    (workdir / "other.csv").write_text("id,text\n1,hello\n")
    result = run("validate", "other.csv", "--input-format", "helpdesk-log")
    assert result.exit_code == 2
    assert "other.csv lacks the columns case_id, activity, resource, timestamp" in result.stdout


@pytest.mark.parametrize("command", ["lint", "validate"])
def test_an_unknown_input_format_is_a_usage_error_listing_the_formats(command: str) -> None:
    result = run(command, str(SAMPLE), "--input-format", "zendesk")
    assert result.exit_code == 2
    formats = "(formats: abcd, bpic2013-incidents, bpic2014-incidents"
    assert f"unknown input format 'zendesk' {formats}" in result.stderr
