"""``serviceflow explain`` and its library: why each policy fired, or did not, for each candidate record."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from serviceflow import Engine
from serviceflow.cli import main
from serviceflow.conditions import NamedCondition
from serviceflow.config import Config
from serviceflow.errors import PolicyError, ServiceflowError
from serviceflow.explain.explain import Explanation, explain_case, read_case
from serviceflow.explain.report import explanation_to_dict, render_explanation
from serviceflow.explain.trace import SubjectTrace, TraceNode, TracingEvaluator, Verdict
from serviceflow.explain.wording import candidates, first_failure, reason
from serviceflow.policy import bundled_policy_dir, ir, load_policies
from serviceflow.policy.compiler import parse_policy
from serviceflow.policy.ir import CompiledPolicy
from serviceflow.policy.yamlsource import parse_yaml
from serviceflow.records import CaseBuffer, RecordValidator
from serviceflow.records.model import Record
from serviceflow.run import evaluate_sources
from serviceflow.timeutil import parse_datetime
from support import with_defaults

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "records"
NOW_TEXT = "2024-05-09T14:00:00Z"
NOW = parse_datetime(NOW_TEXT)
DEFINITIONS = {definition.id: definition for definition in load_policies([bundled_policy_dir()])}


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.from_config(config=Config())


def explained(engine: Engine, case_id: str, policy_id: str | None = None) -> Explanation:
    case = read_case(Engine.from_config(config=Config()), [EXAMPLES], case_id, NOW)
    return explain_case(engine.policies, case.case_id, case.records, NOW, engine.calendars, policy_id)


def subject(explanation: Explanation, policy_id: str, record_id: str) -> SubjectTrace:
    (found,) = [
        item
        for item in explanation.trace.subjects
        if item.policy.id == policy_id and item.record.id == record_id
    ]
    return found


def query_of(node: TraceNode) -> TraceNode:
    (query,) = [child for child in node.children if isinstance(child.node, ir.Query)]
    return query


def case_records(records: list[dict[str, Any]]) -> list[Record]:
    validator = RecordValidator()
    store = CaseBuffer()
    for seq, item in enumerate(with_defaults(records)):
        store.add(validator.to_record(item, None, seq))
    ((_, ordered),) = list(store.cases())
    return ordered


def trace_one(policy: CompiledPolicy, records: list[dict[str, Any]], now: datetime) -> list[SubjectTrace]:
    return TracingEvaluator([policy]).trace_case("c1", case_records(records), now).subjects


# --- the library: fired, not fired, pending ------------------------------------------------------


def test_a_violation_names_the_first_failed_condition_and_the_values_compared(engine: Engine) -> None:
    explanation = explained(engine, "milkyway-leak", "commit-requires-capacity")
    second = subject(explanation, "commit-requires-capacity", "mw-10")
    assert second.verdict is Verdict.VIOLATION and second.verdict.fired
    assert second.finding is not None and second.finding.record_id == "mw-10"
    require = second.require
    assert require is not None and require.outcome is False
    considered = candidates(query_of(require))
    assert [record.id for record, _where in considered] == ["mw-03"]
    (_, where) = considered[0]
    assert where is not None
    failed = first_failure(where)
    assert failed is not None and failed.pointer == "/require/exists/where/3"
    assert [child.value for child in failed.children] == [
        parse_datetime("2024-05-06T16:00:00-04:00"),
        parse_datetime("2024-05-07T17:00:00-04:00"),
    ]
    assert reason(second) == (
        "no capacity_check matched: mw-03 failed /require/exists/where/3 "
        "(ge $check.window.end 2024-05-06T16:00:00-04:00 ≥ $subject.due 2024-05-07T17:00:00-04:00: false)"
    )


def test_a_met_obligation_shows_the_record_that_met_it(engine: Engine) -> None:
    first = subject(
        explained(engine, "milkyway-leak", "commit-requires-capacity"), "commit-requires-capacity", "mw-04"
    )
    assert first.verdict is Verdict.MET and not first.verdict.fired
    assert first.finding is None
    assert first.require is not None
    assert query_of(first.require).value[0].id == "mw-03"
    assert reason(first) == "require held"


def test_a_pending_obligation_carries_its_deadline_and_lets(engine: Engine) -> None:
    pending = subject(explained(engine, "refund-7731"), "concession-after-missed-commitment", "rf-05")
    assert pending.verdict is Verdict.PENDING
    assert pending.deadline == parse_datetime("2024-05-11T12:00:00Z")
    assert {name: node.value for name, node in pending.lets} == {
        "due": parse_datetime("2024-05-09T12:00:00Z"),
        "concession_by": parse_datetime("2024-05-11T12:00:00Z"),
    }
    assert pending.when is not None and pending.when.outcome is True
    assert pending.by is not None and pending.by.value == parse_datetime("2024-05-11T12:00:00Z")
    assert reason(pending) == "no concession record in the case"


def test_a_record_the_for_each_where_turns_down_is_not_selected(engine: Engine) -> None:
    chat = subject(explained(engine, "refund-7731"), "respond-promptly", "rf-02")
    assert chat.verdict is Verdict.NOT_SELECTED
    assert chat.when is None and chat.require is None
    assert chat.for_each is not None
    failed = first_failure(chat.for_each)
    assert failed is not None and failed.pointer == "/for_each/where/0"
    assert '"chat"' in reason(chat)


def test_a_false_when_is_not_applicable_and_names_the_record_that_made_it_false(engine: Engine) -> None:
    fixed = subject(explained(engine, "milkyway-leak"), "ask-for-help-early", "mw-04")
    assert fixed.verdict is Verdict.NOT_APPLICABLE
    assert fixed.require is None
    assert reason(fixed) == "fulfillment mw-05 matched /when/1/none"


def test_every_candidate_of_a_failed_exists_names_its_first_failed_condition() -> None:
    policy = DEFINITIONS["commit-requires-capacity"].bind()
    window = {"start": "2024-05-07T12:00:00Z", "end": "2024-05-07T17:00:00Z"}
    check = {"type": "capacity_check", "resource": "r", "confirmed": True, "window": window}
    records = [
        {**check, "id": "k1", "at": "2024-05-07T07:00:00Z", "confirmed": False},
        {
            **check,
            "id": "k2",
            "at": "2024-05-07T07:01:00Z",
            "window": {**window, "start": "2024-05-07T16:00:00Z"},
        },
        {"id": "c", "type": "commitment", "at": "2024-05-07T08:00:00Z", "commitment_id": "x", "promise": "p"}
        | {"due": "2024-05-07T15:00:00Z"},
    ]
    (traced,) = trace_one(policy, records, parse_datetime("2024-05-07T20:00:00Z"))
    assert traced.verdict is Verdict.VIOLATION
    assert reason(traced) == (
        "no capacity_check matched: "
        "k1 failed /require/exists/where/0 (eq $check.confirmed false = true: false); "
        "k2 failed /require/exists/where/2 "
        "(le $check.window.start 2024-05-07T16:00:00Z ≤ $subject.due 2024-05-07T15:00:00Z: false)"
    )
    assert traced.require is not None
    where_of_k2 = candidates(query_of(traced.require))[1][1]
    assert where_of_k2 is not None
    # Evaluation order, short-circuit included: the conditions after the failed one were not checked.
    assert [item.pointer for item in where_of_k2.children] == [f"/require/exists/where/{i}" for i in range(3)]


def test_a_fold_records_each_change_with_the_accumulator_it_saw() -> None:
    policy = DEFINITIONS["concession-after-missed-commitment"].bind()
    records = [
        {"id": "c", "type": "commitment", "at": "2024-05-07T08:00:00Z", "commitment_id": "x", "promise": "p",
         "due": "2024-05-07T15:00:00Z"},
        {"id": "r1", "type": "reschedule", "at": "2024-05-07T09:00:00Z", "commitment_id": "x",
         "new_due": "2024-05-08T15:00:00Z", "customer_agreed": True},
    ]  # fmt: skip
    (traced,) = trace_one(policy, records, parse_datetime("2024-05-09T20:00:00Z"))
    (due_name, due) = traced.lets[0]
    assert due_name == "due" and due.value == parse_datetime("2024-05-08T15:00:00Z")
    (when,) = [child for child in due.children if child.node is due.node.when]  # type: ignore[union-attr]
    assert when.bindings["change"].id == "r1"
    assert when.bindings["acc"] == parse_datetime("2024-05-07T15:00:00Z")
    assert when.outcome is True


# --- named conditions ----------------------------------------------------------------------------

NAMED_POLICY = """
id: noted
title: A note says why
severity: error
rationale: r
for_each: {type: note}
require:
  condition: {name: says-why, args: {record: $subject, word: because}}
message: "{subject.id} does not say why"
"""


def named_policy(function: Any) -> CompiledPolicy:
    says_why = NamedCondition("says-why", function, {"record": "record", "word": "string"}, plugin="acme")
    return parse_policy(parse_yaml(NAMED_POLICY, "noted.yaml"), {"says-why": says_why}).bind()


NOTE = [{"id": "n1", "type": "note", "at": "2024-05-07T08:00:00Z", "text": "done"}]


def test_a_named_condition_appears_with_its_arguments_and_answer() -> None:
    policy = named_policy(lambda _context, record, word: word in record.get("text"))
    (traced,) = trace_one(policy, NOTE, NOW)
    assert traced.verdict is Verdict.VIOLATION
    assert traced.require is not None and traced.require.pointer == "/require"
    assert [child.value for child in traced.require.children][1] == "because"
    assert reason(traced) == 'failed /require (condition says-why(record=$subject n1, word="because"): false)'


def test_a_named_condition_that_raises_is_an_engine_error() -> None:
    def broken(_context: Any, record: Any, word: str) -> bool:
        raise KeyError(word)

    (traced,) = trace_one(named_policy(broken), NOTE, NOW)
    assert traced.verdict is Verdict.ENGINE_ERROR and traced.verdict.fired
    assert traced.require is not None and traced.require.error is not None
    assert reason(traced).startswith("/require: named condition 'says-why' (plugin acme) raised KeyError")
    text = render_explanation(
        Explanation(
            TracingEvaluator([traced.policy]).trace_case("c1", case_records(NOTE), NOW), [traced.policy]
        )
    )
    assert "fired: yes, an engine error" in text


# --- traced and untraced agree ------------------------------------------------------------------


def test_traced_findings_are_the_untraced_findings_on_the_examples(engine: Engine) -> None:
    expected = evaluate_sources(engine, [EXAMPLES], NOW)
    traced = []
    for case_id in ("milkyway-leak", "refund-7731", "acme-boiler"):
        traced.extend(explained(engine, case_id).trace.findings)
    assert sorted(traced, key=lambda f: f.key) == sorted(
        [*expected.violations, *expected.pending], key=lambda f: f.key
    )


# --- text and JSON --------------------------------------------------------------------------------


def test_the_text_lists_each_clause_with_its_policy_line(engine: Engine) -> None:
    text = render_explanation(explained(engine, "milkyway-leak", "commit-requires-capacity"))
    assert text.startswith("case milkyway-leak as of 2024-05-09T14:00:00Z: 13 records, 1 policy, 1 finding\n")
    assert "  record mw-10  (commitment at 2024-05-07T08:09:00-04:00" in text
    assert "    fired: yes, a violation (error)\n" in text
    assert "    line 17    require: exists capacity_check as check (1 considered, 0 matched): false" in text
    assert "    line 18      check mw-03: turned down at /require/exists/where/3\n" in text
    assert (
        "    line 24        ge $check.window.end 2024-05-06T16:00:00-04:00 ≥ "
        "$subject.due 2024-05-07T17:00:00-04:00: false  <- first failure\n"
    ) in text


def test_a_policy_without_candidates_says_so(engine: Engine) -> None:
    text = render_explanation(explained(engine, "refund-7731", "circle-back-root-cause"))
    assert "  no status_change record in the case: nothing to check\n" in text


def test_the_json_holds_verdicts_reasons_and_the_whole_trace(engine: Engine) -> None:
    data = explanation_to_dict(explained(engine, "refund-7731", "concession-after-missed-commitment"))
    assert data["case_id"] == "refund-7731" and data["now"] == NOW_TEXT
    ((policy),) = data["policies"]
    (item,) = policy["subjects"]
    assert item["record"] == "rf-05" and item["fired"] is True and item["verdict"] == "pending"
    assert item["deadline"] == "2024-05-11T12:00:00Z"
    assert item["finding"]["status"] == "pending"
    assert [stage["stage"] for stage in item["stages"]] == [
        "let due",
        "let concession_by",
        "when",
        "require",
        "by",
    ]
    require = item["stages"][3]["trace"]
    assert (require["op"], require["pointer"], require["line"], require["outcome"]) == (
        "exists",
        "/require",
        42,
        False,
    )
    assert require["children"][0]["considered"] == []
    assert item["first_failure"]["pointer"] == "/require"
    json.dumps(data)  # all of it is JSON


# --- the command ----------------------------------------------------------------------------------


def run(*args: str) -> Any:
    return CliRunner().invoke(main, ["explain", str(EXAMPLES), "--now", NOW_TEXT, *args])


def test_cli_explains_one_policy_in_text() -> None:
    result = run("--case", "milkyway-leak", "--policy", "commit-requires-capacity")
    assert result.exit_code == 0, result.output
    assert "because: no capacity_check matched: mw-03 failed /require/exists/where/3" in result.output
    assert "record mw-04" in result.output and "fired: no, require held" in result.output


def test_cli_explains_every_policy_in_json() -> None:
    result = run("--case", "refund-7731", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    fired = {
        (policy["policy"], item["record"])
        for policy in data["policies"]
        for item in policy["subjects"]
        if item["fired"]
    }
    assert ("escalate-values-in-question", "rf-02") in fired
    assert ("concession-after-missed-commitment", "rf-05") in fired
    assert ("commit-requires-capacity", "rf-05") not in fired


def test_cli_unknown_case_is_a_usage_error_naming_the_cases() -> None:
    result = run("--case", "no-such-case")
    assert result.exit_code == 2
    assert (
        "no case 'no-such-case' in the records (cases: refund-7731, milkyway-leak, acme-boiler)"
        in result.output
    )


def test_cli_unknown_policy_is_a_usage_error_naming_the_policies() -> None:
    result = run("--case", "refund-7731", "--policy", "no-such-policy")
    assert result.exit_code == 2
    assert "unknown or disabled policy 'no-such-policy'" in result.output
    assert "commit-requires-capacity" in result.output


def test_cli_needs_a_case() -> None:
    result = CliRunner().invoke(main, ["explain", str(EXAMPLES)])
    assert result.exit_code == 2
    assert "--case" in result.output


def test_cli_reads_policies_from_the_options(tmp_path: Path) -> None:
    policy = tmp_path / "noted.yaml"
    clause = "condition: {name: says-why, args: {record: $subject, word: because}}"
    policy.write_text(NAMED_POLICY.replace(clause, "present: $subject.meta"), encoding="utf-8")
    records = tmp_path / "records.jsonl"
    records.write_text(json.dumps(with_defaults(NOTE)[0]) + "\n", encoding="utf-8")
    result = CliRunner().invoke(
        main,
        [
            "explain",
            str(records),
            "--case",
            "c1",
            "--no-bundled",
            "--policies",
            str(policy),
            "--now",
            NOW_TEXT,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "case c1 as of" in result.output and "1 policy, 1 finding" in result.output
    assert "because: failed /require (present $subject.meta missing: false)" in result.output


def test_read_case_refuses_an_unknown_case() -> None:
    with pytest.raises(ServiceflowError, match="no case 'x'"):
        read_case(Engine.from_config(config=Config()), [EXAMPLES], "x", NOW)


def test_explain_case_refuses_an_unknown_policy(engine: Engine) -> None:
    with pytest.raises(PolicyError):
        explain_case(engine.policies, "c1", [], NOW, policy_id="x")
