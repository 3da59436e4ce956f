"""User configuration: parameters, severity and enabled per policy, without editing the YAML."""

from __future__ import annotations

from pathlib import Path

import pytest

from serviceflow import ConfigError, Engine, Severity
from serviceflow.config import find_config, load_config
from serviceflow.timeutil import parse_datetime
from support import with_defaults

FLAGGED = with_defaults(
    [
        {
            "id": "t",
            "type": "contact",
            "at": "2024-05-07T08:00:00Z",
            "direction": "inbound",
            "flags": ["policy_question"],
        },
        {"id": "e", "type": "escalation", "at": "2024-05-07T11:00:00Z", "reason": "r", "to": "supervisor"},
    ]
)


def test_parameters_and_severity_come_from_serviceflow_toml(tmp_path: Path) -> None:
    config = tmp_path / "serviceflow.toml"
    config.write_text(
        '[policies.escalate-values-in-question]\nseverity = "warning"\nparams = { within = "2h" }\n'
    )
    engine = Engine.from_config(config=config)
    evaluation = engine.evaluate(FLAGGED, now=parse_datetime("2024-05-08T00:00:00Z"))
    escalations = [f for f in evaluation.violations if f.policy == "escalate-values-in-question"]
    assert [f.severity for f in escalations] == [Severity.WARNING]


def test_a_disabled_policy_does_not_run(tmp_path: Path) -> None:
    config = tmp_path / "serviceflow.toml"
    config.write_text("[policies.commit-requires-capacity]\nenabled = false\n")
    engine = Engine.from_config(config=config)
    assert "commit-requires-capacity" not in {p.id for p in engine.policies}
    assert len(engine.policies) == len(engine.definitions) - 1


def test_tool_serviceflow_in_pyproject_is_found_from_a_subdirectory(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.serviceflow]\nfail-on = "warning"\n'
    )
    nested = tmp_path / "exports" / "2024"
    nested.mkdir(parents=True)
    found = find_config(nested)
    assert found == tmp_path / "pyproject.toml"
    assert load_config(found).fail_on == "warning"


def test_unknown_policy_in_config_is_an_error_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "serviceflow.toml"
    config.write_text("[policies.commit-requires-capacty]\nenabled = false\n")
    with pytest.raises(ConfigError, match="commit-requires-capacty"):
        Engine.from_config(config=config)


def test_unknown_setting_names_file_line_and_key(tmp_path: Path) -> None:
    config = tmp_path / "serviceflow.toml"
    config.write_text('evaluator = "native"\nfail_on = "error"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert caught.value.location.line == 2
    assert caught.value.location.pointer == "/fail_on"


def test_mistyped_parameter_value_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "serviceflow.toml"
    config.write_text('[policies.escalate-values-in-question.params]\nwithin = "soon"\n')
    with pytest.raises(ConfigError, match="duration"):
        Engine.from_config(config=config)


def test_invalid_toml_names_the_line(tmp_path: Path) -> None:
    config = tmp_path / "serviceflow.toml"
    config.write_text('fail-on = "error"\nevaluator = \n')
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert caught.value.location.line == 2
