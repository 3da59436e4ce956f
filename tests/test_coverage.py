"""Clause coverage: which conditions of a policy the records made both hold and fail."""

from __future__ import annotations

from typing import Any

import pytest

from serviceflow.errors import EvaluatorError
from serviceflow.explain.coverage import ClauseCoverage, CoverageCollector, PolicyCoverage, policy_clauses
from serviceflow.policy import bundled_policy_dir, load_policies
from serviceflow.policy.ir import CompiledPolicy
from serviceflow.policy.yamlsource import parse_yaml
from serviceflow.timeutil import parse_datetime
from support import with_defaults

DEFINITIONS = {definition.id: definition for definition in load_policies([bundled_policy_dir()])}
NOW = parse_datetime("2024-05-07T20:00:00Z")
WINDOW = {"start": "2024-05-07T12:00:00Z", "end": "2024-05-07T17:00:00Z"}
AFTER_DUE = "2024-05-07T16:00:00Z"


def capacity() -> CompiledPolicy:
    return DEFINITIONS["commit-requires-capacity"].bind()


def commitment(record_id: str, case: str, **fields: Any) -> dict[str, Any]:
    record = {"id": record_id, "type": "commitment", "at": "2024-05-07T08:05:00Z", "commitment_id": record_id}
    record.update(promise="p", due="2024-05-07T15:00:00Z", **fields)
    return {**record, "case_id": case}


def check(record_id: str, case: str, at: str = "2024-05-07T07:00:00Z", **fields: Any) -> dict[str, Any]:
    record = {"id": record_id, "case_id": case, "type": "capacity_check", "at": at, "confirmed": True}
    record.update({"resource": "r", "window": WINDOW, **fields})
    return record


# A commitment with no capacity check: require is false, nothing under it is evaluated.
NO_CHECK = [commitment("c1", "case-1")]
# A commitment naming its check, which is good: require is true.
NAMED_CHECK = [check("k4", "case-4"), commitment("c4", "case-4", capacity_ref="k4")]
# Candidates that each fail one more condition of the where, then one that matches.
FAILING_THEN_GOOD = [
    check("k-unconfirmed", "case-2", confirmed=False),
    check("k-late-start", "case-2", "2024-05-07T07:01:00Z", window={**WINDOW, "start": AFTER_DUE}),
    check("k-early-end", "case-2", "2024-05-07T07:02:00Z", window={**WINDOW, "end": "2024-05-07T14:00:00Z"}),
    check("k-other", "case-2", "2024-05-07T07:03:00Z", resource="other"),
    check(
        "k-late-part",
        "case-2",
        "2024-05-07T07:04:00Z",
        materials=[{"item": "valve", "available": False, "eta": "2024-05-07T16:00:00Z"}],
    ),
    check(
        "k-good",
        "case-2",
        "2024-05-07T07:05:00Z",
        materials=[
            {"item": "valve", "available": True},
            {"item": "seal", "available": False, "eta": "2024-05-07T14:00:00Z"},
        ],
    ),
    commitment("c2", "case-2", resource="r"),
]
# A commitment naming a check it does not have, and a check made after it.
WRONG_REF_AND_LATE = [
    check("k-unnamed", "case-3"),
    commitment("c3", "case-3", capacity_ref="k-named"),
    check("k-after", "case-3", "2024-05-07T08:06:00Z"),
]


def by_pointer(coverage: PolicyCoverage) -> dict[str, ClauseCoverage]:
    return {clause.pointer: clause for clause in coverage.clauses}


def test_every_condition_with_a_pointer_is_a_clause_in_policy_order() -> None:
    (coverage,) = CoverageCollector([capacity()]).report()
    assert [clause.pointer for clause in coverage.clauses] == [
        "/require",
        "/require/exists/where",
        *(f"/require/exists/where/{index}" for index in range(4)),
        "/require/exists/where/4",
        "/require/exists/where/4/any/0",
        "/require/exists/where/4/any/1",
        "/require/exists/where/5",
        "/require/exists/where/5/any/0",
        "/require/exists/where/5/any/1",
        "/require/exists/where/6",
        "/require/exists/where/6/every/where",
        "/require/exists/where/6/every/where/any/0",
        "/require/exists/where/6/every/where/any/1",
    ]
    assert coverage.policy_id == "commit-requires-capacity"
    assert coverage.file is not None and coverage.file.endswith("commit-requires-capacity.yaml")


def test_clauses_carry_their_line_and_text_as_written() -> None:
    clauses = by_pointer(CoverageCollector([capacity()]).report()[0])
    assert clauses["/require"].line == 17
    assert clauses["/require/exists/where/2"].line == 23
    assert clauses["/require/exists/where/2"].text == "le: [$check.window.start, $subject.due]"
    assert clauses["/require/exists/where/4/any/0"].text == "absent: $subject.resource"


def test_nothing_evaluated_covers_nothing() -> None:
    (coverage,) = CoverageCollector([capacity()]).report()
    assert (coverage.covered, coverage.total, coverage.percent) == (0, 16, 0.0)
    assert all(clause.outcomes == frozenset() for clause in coverage.clauses)


def test_a_clause_seen_only_false_is_not_covered() -> None:
    collector = CoverageCollector([capacity()])
    collector.add(with_defaults(NO_CHECK), NOW)
    (coverage,) = collector.report()
    clauses = by_pointer(coverage)
    assert clauses["/require"].outcomes == frozenset({False})
    assert not clauses["/require"].covered
    assert clauses["/require/exists/where"].outcomes == frozenset()
    assert coverage.percent == 0.0


def test_some_records_cover_part_of_a_policy_and_more_records_cover_all_of_it() -> None:
    collector = CoverageCollector([capacity()])
    collector.add(with_defaults(NO_CHECK), NOW)
    collector.add(with_defaults(NAMED_CHECK), NOW)
    (partly,) = collector.report()
    assert [clause.pointer for clause in partly.clauses if clause.covered] == ["/require"]
    assert (partly.covered, partly.total, partly.percent) == (1, 16, 6.25)
    assert by_pointer(partly)["/require/exists/where/5/any/1"].outcomes == frozenset({True})

    collector.add(with_defaults(FAILING_THEN_GOOD + WRONG_REF_AND_LATE), NOW)
    assert collector.input_errors == []
    (fully,) = collector.report()
    assert [clause.pointer for clause in fully.clauses if not clause.covered] == []
    assert (fully.covered, fully.total, fully.percent) == (16, 16, 100.0)


def test_conditions_in_lets_when_and_folds_are_clauses() -> None:
    policy = DEFINITIONS["concession-after-missed-commitment"].bind()
    pointers = [clause.pointer for clause in policy_clauses_of(policy)]
    assert pointers == [
        "/let/due/fold/over/where",
        "/let/due/fold/over/where/0",
        "/let/due/fold/over/where/1",
        "/let/due/fold/over/where/2",
        "/let/due/fold/when",
        "/when",
        "/when/0",
        "/when/1",
        "/when/1/none/where",
        "/when/1/none/where/0",
        "/when/1/none/where/1",
        "/require",
        "/require/exists/where",
        "/require/exists/where/0",
        "/require/exists/where/1",
        "/require/exists/where/2",
    ]


def policy_clauses_of(policy: CompiledPolicy) -> list[ClauseCoverage]:
    return CoverageCollector([policy]).report()[0].clauses


def test_for_each_where_is_a_clause_and_counts_each_candidate() -> None:
    policy = DEFINITIONS["confirm-next-steps"].bind()
    collector = CoverageCollector([policy])
    records = [
        commitment("phone", "c1", channel="phone"),
        {**commitment("mail", "c1", channel="email"), "at": "2024-05-07T08:06:00Z"},
    ]
    collector.add(with_defaults(records), NOW)
    clauses = by_pointer(collector.report()[0])
    assert clauses["/for_each/where"].outcomes == frozenset({True, False})
    assert clauses["/for_each/where"].covered


def test_invalid_records_are_kept_as_input_errors_and_the_rest_still_count() -> None:
    collector = CoverageCollector([capacity()])
    collector.add([{"id": "broken", "type": "commitment"}, *with_defaults(NO_CHECK)], NOW)
    assert len(collector.input_errors) == 1
    assert by_pointer(collector.report()[0])["/require"].outcomes == frozenset({False})


def test_now_must_carry_an_offset() -> None:
    from datetime import datetime

    with pytest.raises(EvaluatorError):
        CoverageCollector([capacity()]).add([], datetime(2024, 5, 7, 20))


def test_a_policy_without_clauses_is_fully_covered() -> None:
    assert PolicyCoverage("empty", None, []).percent == 100.0
    assert (PolicyCoverage("empty", None, []).covered, PolicyCoverage("empty", None, []).total) == (0, 0)


def test_policies_compiled_without_a_document_still_have_pointers_and_text() -> None:
    from dataclasses import replace

    policy = replace(capacity(), document=None)
    clauses = by_pointer(CoverageCollector([policy]).report()[0])
    assert clauses["/require/exists/where/2"].line is None
    assert clauses["/require/exists/where/2"].text == "le: [$check.window.start, $subject.due]"


def test_named_conditions_are_clauses() -> None:
    from serviceflow.conditions import NamedCondition
    from serviceflow.policy.compiler import parse_policy

    def is_flagged(_context: object, record: Any) -> bool:
        return bool(record.get("text") == "!")

    flagged = NamedCondition("flagged", is_flagged, {"record": "record"})
    text = """
id: urgent-notes
title: t
severity: warning
rationale: r
for_each: {type: note}
require:
  not:
    condition: {name: flagged, args: {record: $subject}}
message: m
"""
    policy = parse_policy(parse_yaml(text, "urgent-notes.yaml"), {"flagged": flagged}).bind()
    assert [node.pointer for node in policy_clauses(policy)] == ["/require", "/require/not"]
    collector = CoverageCollector([policy])
    notes = [
        {"id": "n1", "type": "note", "at": "2024-05-07T08:00:00Z", "text": "x", "meta": {}},
    ]
    collector.add(with_defaults(notes), NOW)
    clauses = by_pointer(collector.report()[0])
    assert clauses["/require/not"].outcomes == frozenset({False})
    assert clauses["/require/not"].text == "condition: {name: flagged, args: {record: $subject}}"
