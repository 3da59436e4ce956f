"""Loading and compiling policies: what a policy author sees when a policy is wrong, and what it means."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from serviceflow import Engine, PolicyError
from serviceflow.policy import bundled_policy_dir, load_policies
from serviceflow.policy.compiler import parse_policy
from serviceflow.policy.yamlsource import parse_yaml
from serviceflow.timeutil import parse_datetime
from support import with_defaults

MINIMAL = """\
id: every-close-noted
title: Every close has a note
severity: warning
rationale: '"Use a tracking system to always close the loop." (seed 000)'
for_each:
  type: status_change
  where:
    eq: [$it.to, closed]
require:
  exists:
    type: note
    where:
      le: [$it.at, $subject.at]
message: Close {subject.id} has no note
"""


def compile_text(text: str):
    return parse_policy(parse_yaml(text, "policy.yaml"))


def error_of(text: str) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        compile_text(text)
    return caught.value


def test_a_minimal_policy_compiles_and_runs() -> None:
    definition = compile_text(MINIMAL)
    engine = Engine([definition.bind()])
    records = with_defaults(
        [
            {"id": "x", "type": "status_change", "at": "2024-05-07T10:00:00Z", "to": "closed"},
        ]
    )
    evaluation = engine.evaluate(records, now=parse_datetime("2024-05-08T00:00:00Z"))
    assert [(f.policy, f.record_id, f.message) for f in evaluation.violations] == [
        ("every-close-noted", "x", "Close x has no note")
    ]


def test_unknown_top_level_key_names_file_line_and_key() -> None:
    error = error_of(MINIMAL + "sevrity: error\n")
    assert error.location.file == "policy.yaml"
    assert error.location.line == 1
    assert "sevrity" in error.message


def test_misspelt_operator_is_reported_at_its_line() -> None:
    error = error_of(MINIMAL.replace("eq: [$it.to, closed]", "equals: [$it.to, closed]"))
    assert error.location.line == 8
    assert error.location.pointer == "/for_each/where"
    assert "equals" in error.message


def test_unknown_reference_names_what_is_in_scope() -> None:
    error = error_of(MINIMAL.replace("$subject.at]", "$subjet.at]"))
    assert error.location.pointer == "/require/exists/where/le/1"
    assert error.location.line == 13
    assert "subjet" in error.message and "subject" in error.message


def test_unknown_parameter_is_an_error() -> None:
    error = error_of(MINIMAL.replace("$subject.at]", "{add: [$subject.at, $params.grace]}]"))
    assert "grace" in error.message


def test_bad_parameter_default_is_an_error() -> None:
    text = MINIMAL + "params:\n  grace: {type: duration, default: soon}\n"
    error = error_of(text)
    assert error.location.pointer == "/params/grace/default"
    assert "duration" in error.message


def test_yaml_syntax_error_names_the_line() -> None:
    error = error_of(MINIMAL.replace("severity: warning", "severity: [warning"))
    assert error.location.line is not None and error.location.line >= 3


def test_duplicate_keys_are_rejected() -> None:
    error = error_of(MINIMAL + "title: again\n")
    assert "duplicate key 'title'" in error.message


def test_bind_rejects_unknown_and_mistyped_parameters() -> None:
    (definition,) = [
        d for d in load_policies([bundled_policy_dir()]) if d.id == "escalate-values-in-question"
    ]
    with pytest.raises(PolicyError, match="no parameter 'windo'"):
        definition.bind({"windo": "2h"})
    with pytest.raises(PolicyError, match="duration"):
        definition.bind({"within": "two hours"})
    assert definition.bind({"within": "90m"}).params["within"] == timedelta(minutes=90)


def test_two_policies_with_one_id_are_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(MINIMAL)
    (tmp_path / "b.yaml").write_text(MINIMAL)
    with pytest.raises(PolicyError, match="defined twice"):
        load_policies([tmp_path])


def test_every_bundled_policy_quotes_its_seed() -> None:
    for definition in load_policies([bundled_policy_dir()]):
        assert "seed 00" in definition.rationale
        assert definition.rationale.count('"') >= 2


def test_dollar_dollar_is_a_literal_dollar() -> None:
    text = MINIMAL.replace("eq: [$it.to, closed]", "eq: [$it.text, $$5 off]")
    definition = compile_text(text)
    engine = Engine([definition.bind()])
    records = with_defaults(
        [
            {
                "id": "x",
                "type": "status_change",
                "at": "2024-05-07T10:00:00Z",
                "to": "closed",
                "text": "$5 off",
            },
        ]
    )
    evaluation = engine.evaluate(records, now=parse_datetime("2024-05-08T00:00:00Z"))
    assert [f.record_id for f in evaluation.violations] == ["x"]
