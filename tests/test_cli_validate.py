"""``serviceflow validate``: schema checks only, every error as file:line: /pointer: message."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from serviceflow.cli import main


def record(record_id: str, type_: str = "note", **fields: Any) -> dict[str, Any]:
    base = {
        "id": record_id,
        "case_id": "C-1",
        "type": type_,
        "at": "2024-05-01T09:00:00Z",
        "actor": {"role": "agent", "id": "a-1"},
    }
    if type_ == "note":
        base["text"] = "called the customer"
    return base | fields


def write_jsonl(path: Path, *items: dict[str, Any] | str) -> str:
    path.write_text("".join((item if isinstance(item, str) else json.dumps(item)) + "\n" for item in items))
    return path.name


@pytest.fixture(autouse=True)
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def validate(*args: str, input: str | None = None) -> Result:
    result = CliRunner().invoke(main, ["validate", *args], input=input)
    assert "Traceback" not in result.output
    return result


def test_valid_records_exit_zero_and_say_how_many(workdir: Path) -> None:
    name = write_jsonl(workdir / "ok.jsonl", record("r1"), record("r2"), record("r3"))
    result = validate(name)
    assert result.exit_code == 0
    assert result.stderr.strip() == "3 records valid"
    assert result.stdout == ""


def test_every_error_of_every_invalid_record_is_printed_with_file_line_and_pointer(workdir: Path) -> None:
    name = write_jsonl(
        workdir / "bad.jsonl",
        record("r1"),
        record("r2", at="2024-05-01T09:00:00"),
        "{oops",
        record("r4", "status_change", to="archived", actor={"role": "robot", "id": "x"}),
    )
    result = validate(name)
    assert result.exit_code == 2
    lines = result.stdout.splitlines()
    assert any(line.startswith("bad.jsonl:2: /at: ") for line in lines), lines
    assert any(line.startswith("bad.jsonl:3: /: ") for line in lines), lines
    assert any(line.startswith("bad.jsonl:4: /actor/role: ") for line in lines), lines
    assert any(line.startswith("bad.jsonl:4: /to: ") for line in lines), lines
    assert "3 of 4 records invalid" in result.stderr


def test_an_unreadable_file_does_not_hide_the_errors_in_the_next_one(workdir: Path) -> None:
    name = write_jsonl(workdir / "bad.jsonl", record("r1", "confirmation"))
    result = validate("missing.jsonl", name)
    assert result.exit_code == 2
    assert "missing.jsonl" in result.stdout
    assert "bad.jsonl:1: /" in result.stdout
    assert "1 source unreadable" in result.stderr


def test_a_directory_stands_for_the_record_files_inside_it(workdir: Path) -> None:
    (workdir / "exports").mkdir()
    write_jsonl(workdir / "exports" / "a.jsonl", record("r1"))
    write_jsonl(workdir / "exports" / "b.jsonl", record("r2"))
    result = validate("exports")
    assert result.exit_code == 0
    assert "2 records valid" in result.stderr


def test_records_are_read_from_stdin_for_a_dash() -> None:
    result = validate("-", input=json.dumps(record("r1", "confirmation")) + "\n")
    assert result.exit_code == 2
    assert result.stdout.startswith("<stdin>:1: /")


def test_validate_does_not_evaluate_policies(workdir: Path) -> None:
    closed = record("r1", "status_change", to="closed")
    assert validate(write_jsonl(workdir / "r.jsonl", closed)).exit_code == 0


def test_validate_needs_at_least_one_path() -> None:
    assert validate().exit_code == 2
