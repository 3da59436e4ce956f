"""The command group: --version, help, and the one place errors become messages and exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from serviceflow import __version__
from serviceflow.cli import main
from serviceflow.errors import EvaluatorError


@pytest.fixture
def records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SERVICEFLOW_DEBUG", raising=False)
    (tmp_path / "r.jsonl").write_text("")
    return "r.jsonl"


def crash(*args: object, **kwargs: object) -> None:
    raise RuntimeError("boom")


def test_version_prints_the_package_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"serviceflow {__version__}"


def test_help_lists_the_commands_and_exit_statuses() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("lint", "validate", "policies"):
        assert command in result.stdout
    assert "Exit status" in result.stdout


def test_an_unknown_command_is_a_usage_error() -> None:
    assert CliRunner().invoke(main, ["frobnicate"]).exit_code == 2


def test_a_library_error_prints_one_line_and_exits_with_its_code(
    records: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise EvaluatorError("the evaluator gave up")

    monkeypatch.setattr("serviceflow.cli.lint.run_lint", fail)
    result = CliRunner().invoke(main, ["lint", records, "--now", "2024-05-01T00:00:00Z"])
    assert result.exit_code == 2
    assert result.stderr == "serviceflow: error: the evaluator gave up\n"


def test_an_unexpected_exception_exits_three_and_points_at_debug(
    records: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("serviceflow.cli.lint.run_lint", crash)
    result = CliRunner().invoke(main, ["lint", records, "--now", "2024-05-01T00:00:00Z"])
    assert result.exit_code == 3
    assert "RuntimeError: boom" in result.stderr
    assert "--debug" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("where", ["command", "group"])
def test_debug_flag_lets_an_unexpected_exception_through(
    records: str, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    monkeypatch.setattr("serviceflow.cli.lint.run_lint", crash)
    args = ["lint", records, "--now", "2024-05-01T00:00:00Z"]
    args = [*args, "--debug"] if where == "command" else ["--debug", *args]
    result = CliRunner().invoke(main, args)
    assert isinstance(result.exception, RuntimeError)


def test_debug_environment_variable_lets_an_unexpected_exception_through(
    records: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("serviceflow.cli.lint.run_lint", crash)
    monkeypatch.setenv("SERVICEFLOW_DEBUG", "1")
    result = CliRunner().invoke(main, ["lint", records, "--now", "2024-05-01T00:00:00Z"])
    assert isinstance(result.exception, RuntimeError)


def test_debug_shows_the_traceback_of_a_library_error_and_keeps_its_exit_code(
    records: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (Path.cwd() / "serviceflow.toml").write_text("bogus = 1\n")
    result = CliRunner().invoke(main, ["lint", records, "--now", "2024-05-01T00:00:00Z", "--debug"])
    assert result.exit_code == 2
    assert "Traceback" in result.stderr
    assert "serviceflow: error: " in result.stderr
