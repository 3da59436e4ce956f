"""``serviceflow policies list|show|check``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from serviceflow.cli import main

BUNDLED = Path(__file__).resolve().parents[1] / "policies"
BUNDLED_IDS = sorted(path.stem for path in BUNDLED.glob("*.yaml"))


@pytest.fixture(autouse=True)
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str) -> Result:
    result = CliRunner().invoke(main, ["policies", *args])
    assert "Traceback" not in result.output
    return result


# --- list ----------------------------------------------------------------------------------------


def test_list_shows_the_bundled_policies_in_a_table() -> None:
    result = run("list")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "SEVERITY", "ENABLED", "TITLE"]
    assert [line.split()[0] for line in lines[1:]] == BUNDLED_IDS
    assert "Never close a case without the customer's confirmation" in result.stdout


def test_list_json_reports_enabled_and_effective_severity_from_the_configuration(workdir: Path) -> None:
    (workdir / "serviceflow.toml").write_text(
        "[policies.commit-requires-capacity]\nenabled = false\n\n"
        '[policies.escalate-values-in-question]\nseverity = "warning"\n'
    )
    result = run("list", "--json")
    assert result.exit_code == 0
    rows = {row["id"]: row for row in json.loads(result.stdout)["policies"]}
    assert list(rows) == BUNDLED_IDS
    assert rows["commit-requires-capacity"]["enabled"] is False
    assert rows["escalate-values-in-question"]["severity"] == "warning"
    assert rows["escalate-values-in-question"]["default_severity"] == "error"
    assert rows["no-close-without-confirmation"] == {
        "id": "no-close-without-confirmation",
        "title": "Never close a case without the customer's confirmation",
        "severity": "error",
        "default_severity": "error",
        "enabled": True,
        "source": str(BUNDLED / "no-close-without-confirmation.yaml"),
    }


def test_list_includes_named_policy_files_and_can_leave_out_the_bundled_ones() -> None:
    only = BUNDLED / "escalate-values-in-question.yaml"
    rows = json.loads(run("list", "--json", "--no-bundled", "--policies", str(only)).stdout)["policies"]
    assert [row["id"] for row in rows] == ["escalate-values-in-question"]


def test_list_does_not_need_the_configured_evaluator(workdir: Path) -> None:
    (workdir / "serviceflow.toml").write_text('evaluator = "durable"\n')
    assert run("list").exit_code == 0


def test_list_with_an_invalid_configuration_exits_two(workdir: Path) -> None:
    (workdir / "serviceflow.toml").write_text("[policies.no-such-policy]\nenabled = false\n")
    result = run("list")
    assert result.exit_code == 2
    assert "serviceflow: error: " in result.stderr
    assert "unknown policy 'no-such-policy'" in result.stderr


# --- show ----------------------------------------------------------------------------------------


def test_show_prints_title_severity_rationale_description_params_and_source() -> None:
    result = run("show", "escalate-values-in-question")
    assert result.exit_code == 0
    out = result.stdout
    assert "Escalate when values, policies or next steps are in question" in out
    assert "severity:  error" in out
    assert "Rationale:" in out and "then escalate" in out
    assert "Description:" in out
    assert "within (duration): 4h  (default)" in out
    assert "How long after the flagged contact the escalation may come." in out
    assert "flags (list): [values_in_question, policy_question, next_steps_unclear]" in out
    assert f"source:    {BUNDLED / 'escalate-values-in-question.yaml'}" in out


def test_show_prints_effective_values_set_in_the_configuration_beside_the_defaults(workdir: Path) -> None:
    (workdir / "serviceflow.toml").write_text(
        '[policies.escalate-values-in-question]\nseverity = "warning"\nparams = { within = "2h" }\n'
    )
    out = run("show", "escalate-values-in-question").stdout
    assert "within (duration): 2h  (default 4h)" in out
    assert "severity:  warning (policy default error)" in out


def test_show_gives_effective_values_of_a_disabled_policy_too(workdir: Path) -> None:
    (workdir / "serviceflow.toml").write_text(
        '[policies.concession-after-missed-commitment]\nenabled = false\nparams = { within = "1d" }\n'
    )
    out = run("show", "concession-after-missed-commitment").stdout
    assert "enabled:   no" in out
    assert "within (duration): 1d  (default 2d)" in out


def test_show_an_unknown_policy_is_a_usage_error_listing_the_known_ones() -> None:
    result = run("show", "no-such-policy")
    assert result.exit_code == 2
    assert "unknown policy 'no-such-policy'" in result.stderr
    assert "commit-requires-capacity" in result.stderr


# --- check ---------------------------------------------------------------------------------------


def test_check_compiles_a_directory_of_good_policies() -> None:
    result = run("check", str(BUNDLED))
    assert result.exit_code == 0
    assert result.stderr.strip() == f"{len(BUNDLED_IDS)} policies OK"


def test_check_reports_every_broken_file_with_file_line_and_pointer(workdir: Path) -> None:
    shutil.copy(BUNDLED / "no-close-without-confirmation.yaml", workdir / "good.yaml")
    (workdir / "syntax.yaml").write_text("id: syntax\ntitle: [unclosed\n")
    schema = (
        (BUNDLED / "escalate-values-in-question.yaml")
        .read_text()
        .replace("severity: error", "severity: fatal")
    )
    (workdir / "schema.yaml").write_text(schema)
    result = run("check", str(workdir))
    assert result.exit_code == 2
    lines = result.stdout.splitlines()
    assert len(lines) == 2, lines
    assert any(line.startswith(f"{workdir / 'schema.yaml'}:3: /severity: ") for line in lines), lines
    assert any(line.startswith(f"{workdir / 'syntax.yaml'}:") for line in lines), lines
    assert "2 errors in 3 policy files" in result.stderr


def test_check_reports_a_policy_id_defined_twice(workdir: Path) -> None:
    shutil.copy(BUNDLED / "commit-requires-capacity.yaml", workdir / "a.yaml")
    shutil.copy(BUNDLED / "commit-requires-capacity.yaml", workdir / "b.yaml")
    result = run("check", "a.yaml", "b.yaml")
    assert result.exit_code == 2
    assert "defined twice" in result.stdout


def test_check_reports_a_missing_path() -> None:
    result = run("check", "nowhere.yaml")
    assert result.exit_code == 2
    assert "nowhere.yaml: no such policy file or directory" in result.stdout
