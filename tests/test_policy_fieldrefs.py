"""Field references in policies are checked against the record schemas before any record is read."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from serviceflow.cli import main
from serviceflow.conditions import ConditionContext, NamedCondition
from serviceflow.errors import PolicyError
from serviceflow.policy import bundled_policy_dir, load_policies
from serviceflow.policy.compiler import parse_policy
from serviceflow.policy.fieldrefs import check_field_references, field_reference_errors
from serviceflow.policy.yamlsource import load_yaml
from serviceflow.records import SchemaSet, load_schemas
from serviceflow.records.schemas import ENVELOPE_ID

SCHEMAS = load_schemas()

HEADER = """\
id: {id}
title: A policy under test
severity: error
rationale: Tests need one.
"""


def write_policy(tmp_path: Path, body: str, policy_id: str = "under-test") -> Path:
    path = tmp_path / f"{policy_id}.yaml"
    path.write_text(HEADER.format(id=policy_id) + textwrap.dedent(body))
    return path


def check(path: Path, schemas: SchemaSet = SCHEMAS) -> list[PolicyError]:
    return check_field_references(load_policies([path]), schemas)


def line_of(path: Path, needle: str, occurrence: int = 1) -> int:
    lines = [number for number, line in enumerate(path.read_text().splitlines(), 1) if needle in line]
    return lines[occurrence - 1]


def test_the_bundled_policies_read_only_fields_their_schemas_define() -> None:
    definitions = load_policies([bundled_policy_dir()])
    assert definitions
    assert check_field_references(definitions, SCHEMAS) == []


def test_a_misspelt_subject_field_is_an_error_with_file_line_pointer_and_suggestion(tmp_path: Path) -> None:
    path = write_policy(
        tmp_path,
        """\
        for_each:
          type: commitment
        require:
          exists:
            type: fulfillment
            where:
              eq: [$it.commitment_id, $subject.comitment_id]
        message: missed
        """,
    )
    (error,) = check(path)
    assert error.location.file == str(path)
    assert error.location.line == line_of(path, "$subject.comitment_id")
    assert error.location.pointer == "/require/exists/where/eq/1"
    assert error.policy_id == "under-test"
    assert error.message == (
        "policy 'under-test' reads 'comitment_id' of commitment, which its schema does not define "
        "(did you mean 'commitment_id'?)"
    )


def test_a_misspelt_field_of_a_query_alias_is_checked_against_that_querys_types(tmp_path: Path) -> None:
    path = write_policy(
        tmp_path,
        """\
        for_each:
          type: commitment
        require:
          exists:
            type: concession
            as: offer
            where:
              - eq: [$offer.commitment_id, $subject.commitment_id]
              - eq: [$offer.kinds, refund]
        message: no concession
        """,
    )
    (error,) = check(path)
    assert error.location.line == line_of(path, "$offer.kinds")
    assert error.location.pointer == "/require/exists/where/1/eq/0"
    assert "reads 'kinds' of concession" in error.message
    assert "(did you mean 'kind'?)" in error.message


def test_a_misspelt_field_of_a_let_bound_to_latest_is_an_error(tmp_path: Path) -> None:
    path = write_policy(
        tmp_path,
        """\
        for_each:
          type: commitment
        let:
          change:
            latest:
              type: reschedule
              where:
                eq: [$it.commitment_id, $subject.commitment_id]
        require:
          le: [$subject.at, $change.new_deu]
        message: "moved to {change.new_due}"
        """,
    )
    (error,) = check(path)
    assert error.location.line == line_of(path, "$change.new_deu")
    assert error.location.pointer == "/require/le/1"
    assert "reads 'new_deu' of reschedule" in error.message
    assert "(did you mean 'new_due'?)" in error.message


def test_a_misspelt_nested_field_names_the_whole_path_and_suggests_the_nested_one(tmp_path: Path) -> None:
    path = write_policy(
        tmp_path,
        """\
        for_each:
          type: commitment
        require:
          exists:
            type: capacity_check
            as: check
            where:
              - le: [$check.window.strat, $subject.due]
        message: no capacity
        """,
    )
    (error,) = check(path)
    assert error.location.line == line_of(path, "$check.window.strat")
    assert error.location.pointer == "/require/exists/where/0/le/0"
    assert "reads 'window.strat' of capacity_check" in error.message
    assert "(did you mean 'window.start'?)" in error.message


def test_every_occurrence_is_listed_in_line_order(tmp_path: Path) -> None:
    path = write_policy(
        tmp_path,
        """\
        for_each:
          type: commitment
        when:
          present: $subject.promis
        require:
          present: $subject.promis
        message: "{subject.promis}"
        """,
    )
    errors = check(path)
    assert [(error.location.line, error.location.pointer) for error in errors] == [
        (line_of(path, "$subject.promis", 1), "/when/present"),
        (line_of(path, "$subject.promis", 2), "/require/present"),
        (line_of(path, "{subject.promis}"), "/message"),
    ]


def test_one_spelling_is_wrong_only_where_its_alias_holds_a_type_without_the_field(tmp_path: Path) -> None:
    path = write_policy(
        tmp_path,
        """\
        for_each:
          type: status_change
        require:
          any:
            - exists:
                type: confirmation
                where:
                  eq: [$it.resolved, true]
            - exists:
                type: resolution
                where:
                  eq: [$it.resolved, true]
        message: not confirmed
        """,
    )
    (error,) = check(path)
    assert error.location.line == line_of(path, "$it.resolved", 2)
    assert error.location.pointer == "/require/any/1/exists/where/eq/0"
    assert "of resolution" in error.message


def test_a_field_any_of_a_querys_types_defines_is_accepted(tmp_path: Path) -> None:
    path = write_policy(
        tmp_path,
        """\
        for_each:
          type: [contact, escalation]
        require:
          any:
            - eq: [$subject.direction, inbound]
            - present: $subject.reason
        message: ok
        """,
    )
    assert check(path) == []


def test_names_whose_records_are_unknown_and_open_objects_are_not_checked(tmp_path: Path) -> None:
    path = write_policy(
        tmp_path,
        """\
        for_each:
          type: capacity_check
        let:
          anything: {coalesce: [$subject.meta.whatever, 1]}
          total:
            fold:
              over: {type: capacity_check}
              initial: 0
              value: {add: [$acc.whatever, 1]}
        require:
          - present: $subject.materials.whatever
          - present: $anything.whatever
          - every:
              in: $subject.materials
              where:
                eq: [$item.whatever, true]
        message: ok
        """,
    )
    assert check(path) == []


def test_references_to_an_unknown_record_type_are_not_checked(tmp_path: Path) -> None:
    path = write_policy(
        tmp_path,
        """\
        for_each:
          type: survey
        require:
          present: $subject.score
        message: ok
        """,
    )
    assert check(path) == []


def plugin_type(closed: bool) -> dict[str, object]:
    schema: dict[str, object] = {"$ref": ENVELOPE_ID, "properties": {"score": {"type": "integer"}}}
    if closed:
        schema["unevaluatedProperties"] = False
    return schema


@pytest.mark.parametrize(("closed", "expected"), [(True, 1), (False, 0)])
def test_a_plugin_record_type_is_checked_only_when_its_schema_is_closed(
    tmp_path: Path, closed: bool, expected: int
) -> None:
    path = write_policy(
        tmp_path,
        """\
        for_each:
          type: survey
        require:
          ge: [$subject.scroe, 3]
        message: low
        """,
    )
    schemas = load_schemas(extra={"survey": plugin_type(closed)})
    errors = check(path, schemas)
    assert len(errors) == expected
    if errors:
        assert "(did you mean 'score'?)" in errors[0].message


def never(context: ConditionContext, value: object) -> bool:
    return False


def test_a_named_conditions_arguments_are_checked_like_any_reference(tmp_path: Path) -> None:
    path = write_policy(
        tmp_path,
        """\
        for_each:
          type: commitment
        require:
          condition:
            name: never
            args: {value: $subject.promis}
        message: x
        """,
    )
    conditions = {"never": NamedCondition("never", never, {"value": "any"}, plugin="tests")}
    definition = parse_policy(load_yaml(path), conditions)
    (error,) = check_field_references([definition], SCHEMAS)
    assert error.location.pointer == "/require/condition/args/value"
    assert "(did you mean 'promise'?)" in error.message


def test_one_compiled_policy_can_be_checked_against_its_document(tmp_path: Path) -> None:
    path = write_policy(
        tmp_path,
        """\
        for_each:
          type: commitment
        require:
          present: $subject.duee
        message: x
        """,
    )
    (definition,) = load_policies([path])
    (error,) = field_reference_errors(definition.bind(), definition.document, SCHEMAS)
    assert "(did you mean 'due'?)" in error.message


def test_policies_check_lists_every_bad_reference_and_exits_two(tmp_path: Path) -> None:
    path = write_policy(
        tmp_path,
        """\
        for_each:
          type: commitment
        require:
          - present: $subject.comitment_id
          - present: $subject.promis
        message: x
        """,
    )
    result = CliRunner().invoke(main, ["policies", "check", str(path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    lines = result.stdout.splitlines()
    assert lines == [
        f"{path}:{line_of(path, 'comitment_id')}: /require/0/present: policy 'under-test' reads "
        "'comitment_id' of commitment, which its schema does not define (did you mean 'commitment_id'?)",
        f"{path}:{line_of(path, 'promis')}: /require/1/present: policy 'under-test' reads "
        "'promis' of commitment, which its schema does not define (did you mean 'promise'?)",
    ]
    assert "2 errors in 1 policy file" in result.stderr


def test_policies_check_passes_the_bundled_policies() -> None:
    result = CliRunner().invoke(main, ["policies", "check", str(bundled_policy_dir())])
    assert result.exit_code == 0, result.output
