"""Named conditions: a plugin's Python predicate called from a YAML policy, on both evaluators.

The policy below is the seed-000 story in miniature: a commitment that sends a technician back to a
customer who asked for someone else needs a recorded reason. Whether the reason counts is decided by
the business's own predicate (here: a note from the same technician's manager, or any note that says
"only certified").
"""

from __future__ import annotations

from typing import Any

import pytest

from serviceflow import Engine, PolicyError, Status
from serviceflow.conditions import ConditionContext, NamedCondition
from serviceflow.policy.compiler import parse_policy
from serviceflow.policy.yamlsource import parse_yaml
from serviceflow.records.model import Record
from serviceflow.timeutil import parse_datetime
from support import with_defaults

NOW = parse_datetime("2024-05-08T00:00:00Z")

POLICY = """\
id: reason-for-same-technician
title: Sending the same technician back needs a reason
severity: warning
rationale: '"Ask for a different technician" (seed 000)'
params:
  phrases: {type: list, default: [only certified]}
for_each:
  type: commitment
  where:
    present: $it.resource
require:
  any:
    - condition:
        name: reason-recorded
        args: {commitment: $subject, phrases: $params.phrases}
    - exists:
        type: note
        where:
          condition:
            name: customer-agreed
            args: {note: $it}
message: Commitment {subject.id} sends {subject.resource} back without a recorded reason
"""


def reason_recorded(context: ConditionContext, commitment: Record, phrases: tuple[str, ...]) -> bool:
    """A note at or before the commitment that quotes one of the phrases."""
    for note in context.of_type("note"):
        text = str(note.get("text", "")).lower()
        if note.seq <= commitment.seq and any(phrase in text for phrase in phrases):
            return True
    return False


def customer_agreed(context: ConditionContext, note: Record) -> bool:
    return "customer agreed" in str(note.get("text", "")).lower()


CONDITIONS = {
    "reason-recorded": NamedCondition(
        "reason-recorded",
        reason_recorded,
        {"commitment": "record", "phrases": "list"},
        plugin="acme-policies",
    ),
    "customer-agreed": NamedCondition("customer-agreed", customer_agreed, {"note": "record"}, plugin="acme"),
}


def commitment(record_id: str, at: str, resource: str | None = "jake") -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": record_id,
        "type": "commitment",
        "at": at,
        "commitment_id": record_id,
        "promise": "send a technician",
        "due": "2024-05-09T09:00:00Z",
    }
    if resource is not None:
        record["resource"] = resource
    return record


def note(record_id: str, at: str, text: str) -> dict[str, Any]:
    return {"id": record_id, "type": "note", "at": at, "text": text}


def evaluate(
    records: list[dict[str, Any]],
    evaluator: str,
    conditions: dict[str, NamedCondition] = CONDITIONS,
    policy: str = POLICY,
):
    definition = parse_policy(parse_yaml(policy, "policy.yaml"), conditions)
    with Engine([definition.bind()], evaluator=evaluator) as engine:
        return engine.evaluate(with_defaults(records), now=NOW)


def test_a_named_condition_decides_the_require(evaluator_name: str) -> None:
    evaluation = evaluate(
        [
            note("n1", "2024-05-07T08:00:00Z", "Only certified techs may open the panel"),
            commitment("k1", "2024-05-07T09:00:00Z"),
            commitment("k2", "2024-05-07T10:00:00Z", resource=None),
        ],
        evaluator_name,
    )
    assert evaluation.violations == () and evaluation.engine_errors == ()


def test_the_predicate_sees_only_the_case_known_at_now(evaluator_name: str) -> None:
    evaluation = evaluate(
        [
            commitment("k1", "2024-05-07T09:00:00Z"),
            note("n1", "2024-05-09T08:00:00Z", "only certified, noted later"),
        ],
        evaluator_name,
    )
    assert [(f.record_id, f.status) for f in evaluation.violations] == [("k1", Status.VIOLATION)]


def test_a_named_condition_inside_a_query_where(evaluator_name: str) -> None:
    evaluation = evaluate(
        [
            commitment("k1", "2024-05-07T09:00:00Z"),
            note("n1", "2024-05-07T09:30:00Z", "Customer agreed to Jake coming back"),
            commitment("k2", "2024-05-07T10:00:00Z", resource="ann"),
        ],
        evaluator_name,
    )
    assert evaluation.violations == ()
    unagreed = evaluate([commitment("k1", "2024-05-07T09:00:00Z")], evaluator_name)
    assert [f.record_id for f in unagreed.violations] == ["k1"]


def failing(context: ConditionContext, commitment: Record, phrases: tuple[str, ...]) -> bool:
    if commitment.id == "k1":
        raise KeyError("crm_id")
    return False


def test_a_raising_condition_is_an_engine_error_naming_plugin_and_policy(evaluator_name: str) -> None:
    conditions = {
        **CONDITIONS,
        "reason-recorded": NamedCondition(
            "reason-recorded", failing, {"commitment": "record", "phrases": "list"}, plugin="acme-policies"
        ),
    }
    evaluation = evaluate(
        [commitment("k1", "2024-05-07T09:00:00Z"), commitment("k2", "2024-05-07T10:00:00Z")],
        evaluator_name,
        conditions,
    )
    assert [f.record_id for f in evaluation.violations] == ["k2"]
    (error,) = evaluation.engine_errors
    assert (error.record_id, error.status, error.policy) == ("k1", Status.ERROR, "reason-for-same-technician")
    assert "'reason-recorded' (plugin acme-policies)" in error.message
    assert "KeyError" in error.message and "reason-for-same-technician" in error.message


@pytest.mark.parametrize(
    ("answer", "problem"), [("yes", "returned 'yes', not true or false"), (None, "returned None")]
)
def test_a_condition_must_answer_true_or_false(evaluator_name: str, answer: Any, problem: str) -> None:
    conditions = {
        **CONDITIONS,
        "reason-recorded": NamedCondition(
            "reason-recorded", lambda context, **args: answer, {"commitment": "record", "phrases": "list"}
        ),
    }
    evaluation = evaluate([commitment("k1", "2024-05-07T09:00:00Z")], evaluator_name, conditions)
    assert evaluation.violations == ()
    assert problem in evaluation.engine_errors[0].message


def test_arguments_are_checked_against_their_declared_types(evaluator_name: str) -> None:
    conditions = {
        **CONDITIONS,
        "reason-recorded": NamedCondition(
            "reason-recorded", reason_recorded, {"commitment": "string", "phrases": "list"}
        ),
    }
    evaluation = evaluate([commitment("k1", "2024-05-07T09:00:00Z")], evaluator_name, conditions)
    assert "argument 'commitment' should be string, got Record" in evaluation.engine_errors[0].message


# --- named conditions in every place a condition or a value may stand ----------------------------

RETURN_VISIT = """\
id: agreed-return-visit
title: A technician sent back needs the customer's agreement, and no refusal on file
severity: warning
rationale: the same story, with the predicates choosing subjects and feeding lets
for_each:
  type: commitment
  where:
    condition: {name: resource-named, args: {commitment: $it}}
let:
  agreed:
    condition:
      name: agreed-in
      args: {note: {latest: {type: note, where: {before: [$it, $subject]}}}}
require:
  all:
    - eq: [$agreed, true]
    - not:
        condition: {name: reason-recorded, args: {commitment: $subject, phrases: [refused]}}
message: "Commitment {subject.id} sends {subject.resource} back (agreed: {agreed})"
"""


def resource_named(context: ConditionContext, commitment: Record) -> bool:
    if commitment.get("resource") == "unknown":
        raise ValueError("resource 'unknown' is not in the roster")
    return commitment.get("resource") is not None


def agreed_in(context: ConditionContext, note: Record | None) -> bool:
    return note is not None and "customer agreed" in str(note.get("text", "")).lower()


RETURN_VISIT_CONDITIONS = {
    **CONDITIONS,
    "resource-named": NamedCondition(
        "resource-named", resource_named, {"commitment": "record"}, plugin="acme"
    ),
    "agreed-in": NamedCondition("agreed-in", agreed_in, {"note": "record"}, plugin="acme"),
}


def return_visit(records: list[dict[str, Any]], evaluator: str) -> Any:
    return evaluate(records, evaluator, RETURN_VISIT_CONDITIONS, RETURN_VISIT)


def test_a_latest_pick_as_an_argument_is_evidence_and_a_let_keeps_the_answer(evaluator_name: str) -> None:
    evaluation = return_visit(
        [
            note("n1", "2024-05-07T08:00:00Z", "Customer agreed to Jake"),
            commitment("k1", "2024-05-07T09:00:00Z"),
            note("n2", "2024-05-07T09:30:00Z", "Customer declined a second visit"),
            commitment("k2", "2024-05-07T10:00:00Z", resource="ann"),
        ],
        evaluator_name,
    )
    assert [(f.record_id, f.status, f.evidence, f.message) for f in evaluation.violations] == [
        ("k2", Status.VIOLATION, ("k2", "n2"), "Commitment k2 sends ann back (agreed: false)")
    ]
    assert evaluation.engine_errors == ()


def test_a_named_condition_under_not(evaluator_name: str) -> None:
    evaluation = return_visit(
        [
            note("n1", "2024-05-07T08:00:00Z", "Customer agreed, but the tenant refused entry"),
            commitment("k1", "2024-05-07T09:00:00Z"),
        ],
        evaluator_name,
    )
    assert [(f.record_id, f.evidence, f.message) for f in evaluation.violations] == [
        ("k1", ("k1", "n1"), "Commitment k1 sends jake back (agreed: true)")
    ]


def test_a_named_condition_in_for_each_where_chooses_subjects_and_its_error_names_the_record(
    evaluator_name: str,
) -> None:
    evaluation = return_visit(
        [
            commitment("k1", "2024-05-07T09:00:00Z"),
            commitment("k2", "2024-05-07T10:00:00Z", resource=None),
            commitment("k3", "2024-05-07T11:00:00Z", resource="unknown"),
            commitment("k4", "2024-05-07T12:00:00Z", resource="ann"),
        ],
        evaluator_name,
    )
    assert [(f.record_id, f.evidence) for f in evaluation.violations] == [("k1", ("k1",)), ("k4", ("k4",))]
    (error,) = evaluation.engine_errors
    assert (error.record_id, error.evidence, error.policy) == ("k3", ("k3",), "agreed-return-visit")
    assert "'resource-named' (plugin acme) raised ValueError" in error.message


def test_an_engine_error_in_one_case_leaves_the_next_case_alone(evaluator_name: str) -> None:
    records = [
        commitment("k1", "2024-05-07T09:00:00Z", resource="unknown"),
        {**commitment("k2", "2024-05-07T09:00:00Z"), "case_id": "c2"},
        {**note("n1", "2024-05-07T08:00:00Z", "customer agreed"), "case_id": "c2"},
    ]
    evaluation = return_visit(records, evaluator_name)
    assert [(f.case_id, f.record_id) for f in evaluation.engine_errors] == [("c1", "k1")]
    assert evaluation.violations == ()


def compile_error(text: str) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        parse_policy(parse_yaml(text, "policy.yaml"), CONDITIONS)
    return caught.value


def test_an_unknown_condition_name_is_a_load_error_with_file_line_and_pointer() -> None:
    error = compile_error(POLICY.replace("name: customer-agreed", "name: customer-agrees"))
    assert "unknown named condition 'customer-agrees'" in error.message
    assert "customer-agreed, reason-recorded" in error.message
    assert error.location.file == "policy.yaml"
    assert error.location.line == 20
    assert error.location.pointer == "/require/any/1/exists/where/condition/name"


def test_an_undeclared_or_missing_argument_is_a_load_error() -> None:
    unknown = compile_error(POLICY.replace("args: {note: $it}", "args: {note: $it, who: ann}"))
    assert "has no argument 'who' (arguments: note)" in unknown.message
    assert unknown.location.pointer == "/require/any/1/exists/where/condition/args/who"
    missing = compile_error(POLICY.replace("args: {note: $it}", "args: {}"))
    assert "needs argument(s) note" in missing.message


def test_an_argument_reference_out_of_scope_is_a_load_error() -> None:
    error = compile_error(POLICY.replace("args: {note: $it}", "args: {note: $check}"))
    assert "unknown name 'check'" in error.message


def test_a_condition_declares_known_types_only() -> None:
    with pytest.raises(ValueError, match="unknown type 'recrod'"):
        NamedCondition("x", reason_recorded, {"commitment": "recrod"})
