"""The library API a help desk embeds: Engine.evaluate and Engine.lint."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from serviceflow import ConfigError, Engine, EvaluatorError, InputError, RecordError
from serviceflow.config import Config
from serviceflow.run import evaluate_sources
from serviceflow.timeutil import parse_datetime
from support import with_defaults

NOW = parse_datetime("2024-05-08T00:00:00Z")
CLOSE_WITHOUT_CONFIRMATION = with_defaults(
    [{"id": "x", "type": "status_change", "at": "2024-05-07T11:00:00Z", "to": "closed"}]
)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.from_config(config=Config())


def test_evaluate_reports_an_invalid_record_and_still_evaluates_the_others(engine: Engine) -> None:
    records = [*CLOSE_WITHOUT_CONFIRMATION, {"id": "bad", "case_id": "c1", "type": "status_change"}]
    evaluation = engine.evaluate(records, now=NOW)
    assert [f.record_id for f in evaluation.violations] == ["x"]
    (error,) = evaluation.input_errors
    assert isinstance(error, RecordError)
    assert error.location.line == 2


def test_lint_goes_on_past_a_missing_file(engine: Engine, tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text("".join(json.dumps(r) + "\n" for r in CLOSE_WITHOUT_CONFIRMATION))
    evaluation = evaluate_sources(engine, [tmp_path / "missing.jsonl", good], now=NOW)
    assert [f.record_id for f in evaluation.violations] == ["x"]
    (error,) = evaluation.input_errors
    assert isinstance(error, InputError)
    assert "missing.jsonl" in str(error)


def test_duplicate_record_ids_are_input_errors(engine: Engine) -> None:
    evaluation = engine.evaluate(CLOSE_WITHOUT_CONFIRMATION * 2, now=NOW)
    assert len(evaluation.input_errors) == 1
    assert "duplicate" in evaluation.input_errors[0].message
    assert len(evaluation.violations) == 1


def test_now_without_an_offset_is_refused(engine: Engine) -> None:
    with pytest.raises(EvaluatorError, match="offset"):
        engine.evaluate(CLOSE_WITHOUT_CONFIRMATION, now=datetime(2024, 5, 8))


def test_unknown_evaluator_is_named() -> None:
    with pytest.raises(EvaluatorError, match="unknown evaluator 'rete'"):
        Engine.from_config(config=Config(), evaluator="rete")


def test_summary_counts_by_policy(engine: Engine) -> None:
    summary = engine.evaluate(CLOSE_WITHOUT_CONFIRMATION, now=NOW).summary()
    assert summary["violations"] == 1
    assert summary["by_policy"] == {"no-close-without-confirmation": 1}
    assert summary["cases"] == 1 and summary["records"] == 1


def test_a_case_naming_an_unknown_calendar_is_an_input_error(engine: Engine) -> None:
    records = with_defaults(
        [
            {"id": "o", "type": "case_opened", "at": "2024-05-07T09:00:00Z", "calendar": "apac"},
            *CLOSE_WITHOUT_CONFIRMATION,
        ]
    )
    evaluation = engine.evaluate(records, now=NOW)
    (error,) = evaluation.input_errors
    assert error.location.pointer == "/calendar"
    assert "unknown calendar 'apac'" in error.message
    assert [f.record_id for f in evaluation.violations] == ["x"]


def test_calendars_come_from_config_and_a_policy_naming_an_unknown_one_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "serviceflow.toml"
    config.write_text(
        '[calendars.emea]\ntimezone = "Europe/Berlin"\nhours = { mon = ["09:00-17:00"] }\n\n'
        '[policies.escalate-values-in-question]\ncalendar = "emea"\n'
    )
    engine = Engine.from_config(config=config)
    assert set(engine.calendars) == {"always", "emea"}
    config.write_text('[policies.escalate-values-in-question]\ncalendar = "emea"\n')
    with pytest.raises(ConfigError, match="unknown calendar 'emea'"):
        Engine.from_config(config=config)


def test_a_policy_reading_a_field_no_schema_defines_is_refused_before_any_record(tmp_path) -> None:
    from serviceflow import PolicyError
    from serviceflow.config import Config

    policy = tmp_path / "typo.yaml"
    policy.write_text(
        "id: typo\ntitle: t\nseverity: error\nrationale: r\n"
        "for_each: {type: commitment}\nrequire: {present: $subject.comitment_id}\nmessage: m\n"
    )
    with pytest.raises(PolicyError) as caught:
        Engine.from_config(policy_paths=[policy], config=Config(bundled=False))
    assert "comitment_id" in caught.value.message and "commitment_id" in caught.value.message
    assert (caught.value.location.file, caught.value.location.line) == (str(policy), 6)
