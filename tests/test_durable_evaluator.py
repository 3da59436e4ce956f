"""The durable-rules evaluator gives the native evaluator's findings, finding for finding.

Every comparison here is exact: policy, severity, status, case, record, message, evidence and deadline.
Records are built directly (as the validator would build them), in case order, ``seq`` by position.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta, timezone
from typing import Any

import pytest

pytest.importorskip("durable.lang", reason="durable-rules needs CPython 3.11 or 3.12 and the 'durable' extra")

from serviceflow.calendars import ALWAYS, Calendar
from serviceflow.conditions import ConditionContext, NamedCondition
from serviceflow.errors import EvaluatorError
from serviceflow.evaluators.durable import DurableEvaluator
from serviceflow.evaluators.native import NativeEvaluator
from serviceflow.findings import Finding, Status
from serviceflow.policy import bundled_policy_dir, load_policies
from serviceflow.policy.compiler import parse_policy
from serviceflow.policy.ir import CompiledPolicy
from serviceflow.policy.yamlsource import parse_yaml
from serviceflow.records.model import Record
from serviceflow.timeutil import parse_datetime

pytestmark = pytest.mark.durable

BUNDLED = [definition.bind() for definition in load_policies([bundled_policy_dir()])]
BASE = datetime(2024, 5, 6, 8, 0, tzinfo=UTC)


def t(text: str) -> datetime:
    """A timestamp on 2024-05-06 (``"10:00"``) or a full RFC 3339 one."""
    return parse_datetime(text if "T" in text else f"2024-05-06T{text}:00Z")


def case(*specs: dict[str, Any], case_id: str = "c1") -> list[Record]:
    """Records in the given (case) order; each spec holds ``id``, ``type``, ``at`` and its fields."""
    records = []
    for seq, spec in enumerate(specs):
        fields = {"case_id": case_id, "actor": {"role": "agent", "id": "agent-1"}, **spec}
        records.append(Record(spec["id"], case_id, spec["type"], spec["at"], fields, seq=seq))
    return records


@pytest.fixture(scope="module")
def evaluators() -> Iterable[tuple[NativeEvaluator, DurableEvaluator]]:
    durable = DurableEvaluator(BUNDLED)
    yield NativeEvaluator(BUNDLED), durable
    durable.close()


def same_findings(
    pair: tuple[NativeEvaluator, DurableEvaluator], records: list[Record], now: datetime
) -> list[Finding]:
    native, durable = pair
    expected = native.evaluate_case(records[0].case_id if records else "c1", records, now).findings
    actual = durable.evaluate_case(records[0].case_id if records else "c1", records, now).findings
    assert actual == expected
    assert [f.message for f in actual] == [f.message for f in expected]
    return actual


def outcome(findings: list[Finding], policy: str) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """What one policy found (the other bundled policies run too, and are compared too)."""
    return [(f.policy, f.record_id, f.status.value, f.evidence) for f in findings if f.policy == policy]


# --- no-close-without-confirmation ---------------------------------------------------------------

CLOSE = "no-close-without-confirmation"


def test_close_without_confirmation_is_the_same_violation(evaluators) -> None:
    records = case({"id": "s1", "type": "status_change", "at": t("10:00"), "to": "closed"})
    assert outcome(same_findings(evaluators, records, t("12:00")), CLOSE) == [
        (CLOSE, "s1", "violation", ("s1",))
    ]


def test_close_after_a_resolved_confirmation_gives_nothing_on_both(evaluators) -> None:
    records = case(
        {"id": "k1", "type": "confirmation", "at": t("09:00"), "resolved": True},
        {"id": "s1", "type": "status_change", "at": t("10:00"), "to": "closed"},
    )
    assert outcome(same_findings(evaluators, records, t("12:00")), CLOSE) == []


def test_the_latest_answer_counts_so_resolved_then_still_broken_is_a_violation(evaluators) -> None:
    records = case(
        {"id": "k1", "type": "confirmation", "at": t("09:00"), "resolved": True},
        {"id": "k2", "type": "confirmation", "at": t("09:30"), "resolved": False},
        {"id": "s1", "type": "status_change", "at": t("10:00"), "to": "closed"},
    )
    assert outcome(same_findings(evaluators, records, t("12:00")), CLOSE) == [
        (CLOSE, "s1", "violation", ("s1", "k2"))
    ]


def test_reopen_then_confirm_then_close_again_needs_the_new_confirmation(evaluators) -> None:
    records = case(
        {"id": "k1", "type": "confirmation", "at": t("09:00"), "resolved": True},
        {"id": "s1", "type": "status_change", "at": t("10:00"), "to": "closed"},
        {"id": "s2", "type": "status_change", "at": t("11:00"), "to": "reopened"},
        {"id": "k2", "type": "confirmation", "at": t("12:00"), "resolved": True},
        {"id": "s3", "type": "status_change", "at": t("13:00"), "to": "closed"},
        {"id": "s4", "type": "status_change", "at": t("14:00"), "to": "reopened"},
        {"id": "s5", "type": "status_change", "at": t("15:00"), "to": "closed"},
    )
    assert outcome(same_findings(evaluators, records, t("16:00")), CLOSE) == [
        (CLOSE, "s5", "violation", ("s5", "s4"))
    ]


@pytest.mark.parametrize("reopen_first", [True, False], ids=["reopen-before-close", "close-before-reopen"])
def test_equal_timestamps_are_ordered_by_seq(evaluators, reopen_first: bool) -> None:
    reopen = {"id": "s0", "type": "status_change", "at": t("10:00"), "to": "reopened"}
    close = {"id": "s1", "type": "status_change", "at": t("10:00"), "to": "closed"}
    confirmation = {"id": "k1", "type": "confirmation", "at": t("09:00"), "resolved": True}
    order = [confirmation, reopen, close] if reopen_first else [confirmation, close, reopen]
    findings = same_findings(evaluators, case(*order), t("12:00"))
    assert outcome(findings, CLOSE) == ([(CLOSE, "s1", "violation", ("s1", "s0"))] if reopen_first else [])


# --- escalate-values-in-question --------------------------------------------------------------

ESCALATE = "escalate-values-in-question"
FLAGGED = {
    "id": "c1",
    "type": "contact",
    "at": t("10:00"),
    "direction": "inbound",
    "flags": ["policy_question"],
}


def test_flagged_contact_without_escalation_is_the_same_violation(evaluators) -> None:
    findings = same_findings(evaluators, case(FLAGGED), t("15:00"))
    assert outcome(findings, ESCALATE) == [(ESCALATE, "c1", "violation", ("c1",))]


def test_escalation_exactly_at_the_end_of_the_window_counts(evaluators) -> None:
    records = case(FLAGGED, {"id": "e1", "type": "escalation", "at": t("14:00"), "reason": "r", "to": "boss"})
    assert outcome(same_findings(evaluators, records, t("15:00")), ESCALATE) == []


def test_escalation_at_the_same_instant_as_the_contact_counts(evaluators) -> None:
    records = case(FLAGGED, {"id": "e1", "type": "escalation", "at": t("10:00"), "reason": "r", "to": "boss"})
    assert outcome(same_findings(evaluators, records, t("15:00")), ESCALATE) == []


def test_escalation_before_the_contact_does_not_count(evaluators) -> None:
    early = {"id": "e1", "type": "escalation", "at": t("09:59"), "reason": "r", "to": "boss"}
    records = case(early, FLAGGED)
    assert outcome(same_findings(evaluators, records, t("15:00")), ESCALATE) == [
        (ESCALATE, "c1", "violation", ("c1",))
    ]


def test_open_window_is_pending_with_the_same_deadline(evaluators) -> None:
    findings = same_findings(evaluators, case(FLAGGED), t("13:59"))
    assert outcome(findings, ESCALATE) == [(ESCALATE, "c1", "pending", ("c1",))]
    assert findings[0].deadline == t("14:00")


def test_now_exactly_at_the_deadline_is_a_violation_not_pending(evaluators) -> None:
    findings = same_findings(evaluators, case(FLAGGED), t("14:00"))
    assert outcome(findings, ESCALATE) == [(ESCALATE, "c1", "violation", ("c1",))]
    assert findings[0].deadline is None


def test_contact_with_other_flags_is_not_a_subject(evaluators) -> None:
    unflagged = {**FLAGGED, "flags": ["customer_dissatisfied"]}
    assert outcome(same_findings(evaluators, case(unflagged), t("15:00")), ESCALATE) == []


# --- concession-after-missed-commitment -------------------------------------------------------

CONCESSION = "concession-after-missed-commitment"
COMMITMENT = {"id": "m1", "type": "commitment", "at": t("08:00"), "commitment_id": "k1", "promise": "fix it",
              "due": t("12:00")}  # fmt: skip


def _only(findings: list[Finding], policy: str) -> list[Finding]:
    return [f for f in findings if f.policy == policy]


def test_missed_commitment_without_concession_is_the_same_violation(evaluators) -> None:
    findings = _only(same_findings(evaluators, case(COMMITMENT), t("2024-05-09T00:00:00Z")), CONCESSION)
    assert outcome(findings, CONCESSION) == [(CONCESSION, "m1", "violation", ("m1",))]


def test_missed_commitment_is_pending_until_the_concession_deadline(evaluators) -> None:
    findings = _only(same_findings(evaluators, case(COMMITMENT), t("13:00")), CONCESSION)
    assert outcome(findings, CONCESSION) == [(CONCESSION, "m1", "pending", ("m1",))]
    assert findings[0].deadline == t("2024-05-08T12:00:00Z")


def test_now_exactly_at_the_due_makes_the_commitment_missed(evaluators) -> None:
    findings = _only(same_findings(evaluators, case(COMMITMENT), t("12:00")), CONCESSION)
    assert [f.status.value for f in findings] == ["pending"]


def test_fulfillment_exactly_at_the_due_keeps_the_commitment(evaluators) -> None:
    records = case(COMMITMENT, {"id": "f1", "type": "fulfillment", "at": t("12:00"), "commitment_id": "k1"})
    assert _only(same_findings(evaluators, records, t("2024-05-09T00:00:00Z")), CONCESSION) == []


def test_concession_within_the_window_is_enough(evaluators) -> None:
    concession = {"id": "g1", "type": "concession", "at": t("2024-05-08T12:00:00Z"), "kind": "gesture",
                  "commitment_id": "k1"}  # fmt: skip
    records = case(COMMITMENT, concession)
    assert _only(same_findings(evaluators, records, t("2024-05-09T00:00:00Z")), CONCESSION) == []


def test_agreed_reschedule_chain_moves_the_due_and_is_evidence(evaluators) -> None:
    def change(id_: str, at: str, new_due: str, agreed: bool = True) -> dict[str, Any]:
        return {"id": id_, "type": "reschedule", "at": t(at), "commitment_id": "k1", "new_due": t(new_due),
                "customer_agreed": agreed}  # fmt: skip

    records = case(
        COMMITMENT,
        change("x1", "09:00", "15:00"),
        change("x2", "10:00", "11:00", agreed=False),
        change("x3", "14:00", "18:00"),
        change("x4", "19:00", "21:00"),
    )
    findings = _only(same_findings(evaluators, records, t("19:30")), CONCESSION)
    assert outcome(findings, CONCESSION) == [(CONCESSION, "m1", "pending", ("m1", "x1", "x3"))]
    assert "due 2024-05-06T18:00:00Z" in findings[0].message


@pytest.mark.parametrize("reschedule_first", [True, False], ids=["reschedule-first", "commitment-first"])
def test_reschedule_at_the_commitments_instant_counts_only_after_it_in_case_order(
    evaluators, reschedule_first: bool
) -> None:
    change = {"id": "x1", "type": "reschedule", "at": t("08:00"), "commitment_id": "k1",
              "new_due": t("20:00"), "customer_agreed": True}  # fmt: skip
    records = case(change, COMMITMENT) if reschedule_first else case(COMMITMENT, change)
    findings = _only(same_findings(evaluators, records, t("13:00")), CONCESSION)
    assert [f.record_id for f in findings] == (["m1"] if reschedule_first else [])


def test_times_in_other_offsets_render_with_their_own_offset(evaluators) -> None:
    plus_two = timezone(timedelta(hours=2))
    commitment = {**COMMITMENT, "due": datetime(2024, 5, 6, 14, 0, tzinfo=plus_two)}
    findings = _only(same_findings(evaluators, case(commitment), t("13:00")), CONCESSION)
    assert "+02:00" in findings[0].message


# --- commit-requires-capacity -----------------------------------------------------------------

CAPACITY = "commit-requires-capacity"


def check(id_: str, at: str = "07:00", **fields: Any) -> dict[str, Any]:
    spec = {"id": id_, "type": "capacity_check", "at": t(at), "resource": "plumber", "confirmed": True,
            "window": {"start": t("11:00"), "end": t("13:00")}}  # fmt: skip
    spec.update(fields)
    return spec


def commitment(**fields: Any) -> dict[str, Any]:
    return {**COMMITMENT, "at": t("08:00"), "due": t("12:00"), **fields}


def capacity(evaluators, *specs: dict[str, Any]) -> list[tuple[str, str, str, tuple[str, ...]]]:
    return outcome(same_findings(evaluators, case(*specs), t("09:00")), CAPACITY)


def test_commitment_without_capacity_check_is_the_same_violation(evaluators) -> None:
    assert capacity(evaluators, commitment()) == [(CAPACITY, "m1", "violation", ("m1",))]


def test_confirmed_check_covering_the_due_is_enough(evaluators) -> None:
    assert capacity(evaluators, check("q1"), commitment()) == []


def test_window_ending_exactly_at_the_due_covers_it(evaluators) -> None:
    window = {"start": t("11:00"), "end": t("12:00")}
    assert capacity(evaluators, check("q1", window=window), commitment()) == []


def test_check_at_the_same_instant_as_the_commitment_counts(evaluators) -> None:
    assert capacity(evaluators, commitment(), check("q1", at="08:00")) == []


def test_unconfirmed_or_later_checks_do_not_count(evaluators) -> None:
    late = check("q2", at="08:30")
    assert capacity(evaluators, check("q1", confirmed=False), commitment(), late)[0][2] == "violation"


def test_resource_mismatch_is_a_violation_but_an_unnamed_resource_is_not(evaluators) -> None:
    assert capacity(evaluators, check("q1"), commitment(resource="electrician"))[0][2] == "violation"
    assert capacity(evaluators, check("q1"), commitment(resource="plumber")) == []
    assert capacity(evaluators, check("q1", resource="electrician"), commitment()) == []


def test_capacity_ref_means_only_the_named_check_counts(evaluators) -> None:
    fitting, unfit = check("q1"), check("q2", confirmed=False)
    assert capacity(evaluators, fitting, unfit, commitment(capacity_ref="q2"))[0][2] == "violation"
    assert capacity(evaluators, fitting, unfit, commitment(capacity_ref="q1")) == []


@pytest.mark.parametrize(
    ("material", "finding"),
    [
        ({"item": "pipe", "available": True}, False),
        ({"item": "pipe", "available": False, "eta": t("12:00")}, False),
        ({"item": "pipe", "available": False, "eta": t("12:01")}, True),
        ({"item": "pipe", "available": False}, True),
        ({"item": "pipe", "eta": t("11:00")}, False),
    ],
    ids=["available", "eta-at-due", "eta-after-due", "unavailable-no-eta", "eta-before-due"],
)
def test_materials_must_be_available_or_arrive_by_the_due(
    evaluators, material: dict[str, Any], finding: bool
) -> None:
    spare = {"item": "tap", "available": True}
    result = capacity(evaluators, check("q1", materials=[spare, material]), commitment())
    assert bool(result) is finding


# --- many cases, one evaluator ----------------------------------------------------------------


def random_case(rng: random.Random, case_id: str, size: int = 12) -> list[Record]:
    """A plausible case: the bundled policies' record types with ids and times that often relate."""

    def time() -> datetime:
        return BASE + timedelta(minutes=rng.randrange(0, 72 * 60, 15))

    specs = []
    for index in range(size):
        kind = rng.choice(["contact", "capacity_check", "commitment", "reschedule", "fulfillment",
                           "escalation", "confirmation", "status_change", "concession"])  # fmt: skip
        spec: dict[str, Any] = {"id": f"{case_id}-{index}", "type": kind, "at": time()}
        if kind == "contact":
            spec["flags"] = rng.sample(
                ["values_in_question", "next_steps_unclear", "customer_dissatisfied"], 1
            )
        elif kind == "capacity_check":
            spec.update(resource=rng.choice(["plumber", "electrician"]), confirmed=rng.random() < 0.7,
                        window={"start": time(), "end": time()})  # fmt: skip
            if rng.random() < 0.5:
                spec["materials"] = [{"item": "pipe", "available": rng.random() < 0.5, "eta": time()}]
        elif kind == "commitment":
            spec.update(commitment_id=rng.choice(["k1", "k2"]), promise="visit", due=time())
        elif kind == "reschedule":
            spec.update(
                commitment_id=rng.choice(["k1", "k2"]), new_due=time(), customer_agreed=rng.random() < 0.7
            )
        elif kind in ("fulfillment", "concession"):
            spec["commitment_id"] = rng.choice(["k1", "k2"])
        elif kind == "confirmation":
            spec["resolved"] = rng.random() < 0.6
        elif kind == "status_change":
            spec["to"] = rng.choice(["closed", "reopened", "open"])
        specs.append(spec)
    specs.sort(key=lambda spec: spec["at"])
    return case(*specs, case_id=case_id)


def test_one_evaluator_evaluates_1100_cases_past_the_session_limit(evaluators) -> None:
    rng = random.Random(20240506)
    now = BASE + timedelta(days=2)
    findings = 0
    for number in range(1100):
        findings += len(same_findings(evaluators, random_case(rng, f"case-{number}"), now))
    assert findings > 1000  # the cases are not trivially empty


def test_a_case_never_sees_the_records_of_the_cases_before_it(evaluators) -> None:
    _, durable = evaluators
    escalated = case(
        {"id": "e1", "type": "escalation", "at": t("10:30"), "reason": "r", "to": "boss"}, case_id="a"
    )
    durable.evaluate_case("a", escalated, t("15:00"))
    findings = durable.evaluate_case("b", case({**FLAGGED, "id": "c2"}, case_id="b"), t("15:00")).findings
    assert outcome(findings, ESCALATE) == [(ESCALATE, "c2", "violation", ("c2",))]


def test_evaluating_starts_no_background_threads() -> None:
    before = set(threading.enumerate())
    durable = DurableEvaluator(BUNDLED)
    try:
        durable.evaluate_case("c1", random_case(random.Random(1), "c1"), BASE + timedelta(days=1))
        assert set(threading.enumerate()) == before
    finally:
        durable.close()


def test_an_evaluator_shared_by_threads_gives_each_the_native_findings(evaluators) -> None:
    native, durable = evaluators
    cases = [random_case(random.Random(seed), f"t{seed}") for seed in range(40)]
    now = BASE + timedelta(days=2)
    results: dict[int, list[Finding]] = {}

    def work(indexes: range) -> None:
        for index in indexes:
            results[index] = durable.evaluate_case(f"t{index}", cases[index], now).findings

    threads = [threading.Thread(target=work, args=(range(start, 40, 4),)) for start in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [results[i] for i in range(40)] == [
        native.evaluate_case(f"t{i}", cases[i], now).findings for i in range(40)
    ]


# --- every node of the policy language ----------------------------------------------------------

SYNTHETIC = {
    "count-and-values-in-conditions": """
for_each: {type: a}
let:
  n: {count: {type: b, where: {eq: [$it.s, $subject.s]}}}
when: {ge: [$n, 1]}
require: {eq: [{count: {type: c, where: {before: [$it, $subject]}}}, $n]}
message: "{subject.id} n={n}"
""",
    "coalesce-matches-and-deadlines": """
for_each: {type: [a, b], where: {matches: [{coalesce: [$it.s, $it.sub.w]}, "^(x|y)"]}}
let:
  due: {coalesce: [$subject.t, {add: [$subject.at, {duration: 2h}]}]}
require:
  exists:
    type: c
    where: [{le: [$it.at, $due]}, {ge: [{coalesce: [$it.x, 0]}, {coalesce: [$subject.x, 1]}]}]
by: $due
message: "{subject.id} due {due}"
pending_message: "{subject.id} by {deadline}"
""",
    "latest-earliest-and-order": """
for_each: {type: c}
let:
  first: {earliest: {type: [a, b], where: {after: [$subject, $it]}}}
  last: {latest: {type: [a, b], where: [{before: [$it, $subject]}, {present: $it.x}]}}
require:
  any:
    - absent: $first
    - all: [{present: $last}, {lt: [$first.x, $last.x]}, {not: {eq: [$first, $last]}}]
message: "{subject.id} first={first} last={last} lx={last.x}"
""",
    "fold-and-none-evidence": """
for_each: {type: a}
let:
  total:
    fold:
      over: {type: b, as: bb, where: {eq: [$bb.s, $subject.s]}}
      initial: $subject.at
      when: {lt: [$bb.at, {add: [$acc, {duration: 1h}]}]}
      value: {add: [$bb.at, {duration: 30m}]}
when: [{le: [$total, $now]}, {none: {type: c, where: {ne: [$it.s, $subject.s]}}}]
require:
  all:
    - none: {type: c, where: [{eq: [$it.s, $subject.s]}, {gt: [$it.at, $total]}]}
    - exists: {type: b, where: {ge: [$it.at, $total]}}
by: {add: [$total, {duration: 3h}]}
message: "{subject.id} total={total}"
""",
    "quantifiers-in-and-intersects": """
for_each: {type: [a, c]}
when:
  any:
    - intersects: [$subject.tags, [red, blue]]
    - some: {in: $subject.items, as: i, where: {gt: [$i.p, 2]}}
require:
  all:
    - every: {in: $subject.items, as: i, where: {any: [{eq: [$i.q, x]}, {lt: [$i.p, $subject.x]}]}}
    - in: [$subject.s, [x, y, null]]
    - not: {intersects: [$subject.tags, $subject.sub.tags]}
    - every: {in: [1, 2, 3], as: k, where: {ne: [$subject.x, $k]}}
message: "{subject.id} tags={subject.tags}"
""",
    "none-inside-a-where-is-visited-per-candidate": """
for_each: {type: b}
require:
  exists:
    type: a
    as: aa
    where:
      - eq: [$aa.s, $subject.s]
      - none: {type: c, where: [{eq: [$it.ref, $aa.id]}, {lt: [$it.at, $subject.at]}]}
      - exists: {type: c, as: cc, where: {eq: [$cc.x, $aa.x]}}
message: "{subject.id}"
""",
    "none-evidence-under-any-and-not": """
for_each: {type: a}
let:
  flag: {exists: {type: b, where: {eq: [$it.x, $subject.x]}}}
require:
  any:
    - none: {type: c, where: {eq: [$it.s, $subject.s]}}
    - eq: [$flag, true]
    - not: {none: {type: b, where: {gt: [$it.at, $subject.at]}}}
message: "{subject.id} flag={flag}"
""",
    "queries-inside-subject-selection-and-picks": """
for_each: {type: b, where: [{ge: [{count: {type: a, where: {eq: [$it.s, x]}}}, 1]}, {present: $it.s}]}
let:
  pick:
    latest:
      type: a
      where: {none: {type: c, where: [{after: [$it, $subject]}, {eq: [$it.s, x]}]}}
require:
  any:
    - eq: [$pick.s, $subject.s]
    - lt: [{count: {type: c, where: {exists: {type: a, as: q, where: {eq: [$q.s, $it.s]}}}}}, 2]
message: "{subject.id} pick={pick}"
""",
    "arithmetic-strings-and-lists-from-lets": """
for_each: {type: c, where: {lt: [$it.s, y]}}
let:
  gap: {sub: [$subject.at, {coalesce: [$subject.t, $now]}]}
  tags: {coalesce: [$subject.tags, $subject.sub.tags]}
require:
  all:
    - any:
        - lt: [$gap, {duration: 1h}]
        - le: [{add: [$subject.x, 1]}, $subject.y]
        - exists:
            type: a
            where: [{ge: [$it.s, $subject.s]}, {lt: [{sub: [$it.at, $subject.at]}, {duration: 2h}]}]
    - not:
        every:
          in: $tags
          as: g
          where: {any: [{matches: [$g, "^r"]}, {exists: {type: a, where: {in: [$g, $it.tags]}}}]}
    - in: [$subject.s, "xyz"]
    - in: [{latest: {type: b, where: {present: $it.y}}}, {coalesce: [$subject.items, $subject.tags]}]
by: {coalesce: [$subject.t, {add: [$subject.at, {duration: 1h}]}]}
message: "{subject.id} gap={gap} tags={tags}"
""",
    "find-count-distinct-and-time-arithmetic-in-wheres": """
for_each: {type: a, where: {present: {find: [$it.s, [x, "y z"]]}}}
let:
  people: {count_distinct: {over: {type: [a, b], where: {not: {after: [$it, $subject]}}}, value: $it.s}}
  hit: {find: [$subject.sub.w, [xa, yb]]}
  limit: {add: [$subject.at, {duration: 3h}]}
require:
  any:
    - all: [{le: [$people, 1]}, {none: {type: c, where: {present: {find: [$it.s, [z]]}}}}]
    - exists: {type: b, where: [{le: [{add: [$it.at, {duration: 1h}]}, $limit]}, {ge: [$it.at, $subject.at]}]}
    - lt: [{sub: [$now, $subject.at]}, {duration: 2h}]
by: $limit
message: "{subject.id} people={people} hit={hit.phrase}@{hit.position} limit={limit}"
""",
}
CALENDARS = {
    "always": ALWAYS,
    "emea": Calendar(
        "emea", "Europe/Berlin", {day: [(time(9), time(12)), (time(13), time(17))] for day in range(5)}
    ),
    "us": Calendar("us", "America/New_York", {day: [(time(8), time(16))] for day in range(6)}),
}


def synthetic_policies(calendar: str | None = None) -> list[CompiledPolicy]:
    header = "title: t\nseverity: warning\nrationale: r\n"
    return [
        parse_policy(parse_yaml(f"id: {name}\n{header}{body.lstrip()}", f"{name}.yaml")).bind(
            calendar=calendar
        )
        for name, body in SYNTHETIC.items()
    ]


def synthetic_case(rng: random.Random, size: int, opened: bool = False) -> list[Record]:
    """Records of types a, b and c with optional fields of every kind; maybe a case_opened first."""
    zones = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5))]

    def time() -> datetime:
        return (BASE + timedelta(minutes=rng.randrange(0, 12 * 60, 15))).astimezone(rng.choice(zones))

    specs = []
    for index in range(size):
        spec: dict[str, Any] = {"id": f"r{index}", "type": rng.choice("abc"), "at": time()}
        optional = {
            "s": lambda: rng.choice(["x", "y", "z"]),
            "x": lambda: rng.choice([0, 1, 2, 3, 2.0, 5]),
            "y": lambda: rng.choice([1, 3, 4]),
            "t": time,
            "tags": lambda: rng.sample(["red", "blue", "green", "rose"], rng.randint(0, 3)),
            "items": lambda: [
                {"p": rng.randint(0, 4), "q": rng.choice("xy")} for _ in range(rng.randint(0, 3))
            ],
            "sub": lambda: {
                "w": rng.choice(["xa", "yb", "zc"]),
                "tags": rng.sample(["red", "blue"], rng.randint(0, 2)),
            },
            "ref": lambda: f"r{rng.randrange(size)}",
        }
        for name, make in optional.items():
            if rng.random() < 0.55:
                spec[name] = make()
        specs.append(spec)
    specs.sort(key=lambda spec: spec["at"])
    if opened:
        calendar = rng.choice(["emea", "us", "always"])
        specs.insert(
            0, {"id": "o", "type": "case_opened", "at": BASE - timedelta(hours=1), "calendar": calendar}
        )
    return case(*specs, case_id="k")


@pytest.mark.parametrize(
    ("calendar", "cases"),
    [(None, 250), ("emea", 120), ("case", 120)],
    ids=["elapsed", "business", "per-case"],
)
def test_every_node_of_the_language_gives_the_native_findings(calendar: str | None, cases: int) -> None:
    policies = synthetic_policies(calendar)
    native, durable = NativeEvaluator(policies, CALENDARS), DurableEvaluator(policies, CALENDARS)
    rng = random.Random(7)
    seen: set[tuple[str, bool]] = set()
    try:
        for _ in range(cases):
            records = synthetic_case(
                rng, rng.randint(1, 12), opened=calendar == "case" and rng.random() < 0.7
            )
            now = BASE + timedelta(minutes=rng.randrange(0, 14 * 60, 15))
            findings = same_findings((native, durable), records, now)
            seen.update((f.policy, len(f.evidence) > 1) for f in findings)
    finally:
        durable.close()
    assert {policy for policy, _ in seen} == set(SYNTHETIC)
    assert sum(1 for _, more in seen if more) >= 4  # evidence beyond the subject is exercised


# --- named conditions -----------------------------------------------------------------------------

NAMED = {
    "named-in-selection-lets-and-not": """
for_each: {type: a, where: {condition: {name: small, args: {value: $it.x}}}}
let:
  partner: {latest: {type: b, where: {condition: {name: same, args: {a: $it, b: $subject}}}}}
  agreed: {condition: {name: same, args: {a: $subject, b: {earliest: {type: c, where: {present: $it.s}}}}}}
require:
  any:
    - eq: [$agreed, true]
    - all: [{present: $partner}, {not: {condition: {name: tagged, args: {record: $partner, tag: red}}}}]
message: "{subject.id} partner={partner} agreed={agreed}"
""",
    "named-in-query-wheres-and-folds": """
for_each: {type: b}
let:
  n: {count: {type: [a, c], where: {condition: {name: small, args: {value: {coalesce: [$it.x, 0]}}}}}}
  blue:
    fold:
      over: {type: c, as: cc}
      initial: 0
      when: {condition: {name: tagged, args: {record: $cc, tag: blue}}}
      value: {add: [$acc, 1]}
when: {condition: {name: enough, args: {n: $n, kind: a}}}
require:
  all:
    - none:
        type: c
        where:
          - eq: [$it.s, $subject.s]
          - condition: {name: recent, args: {at: $it.at, within: {duration: 2h}}}
    - not: {exists: {type: a, where: {condition: {name: same, args: {a: $it, b: $subject}}}}}
by: {add: [$subject.at, {duration: 4h}]}
message: "{subject.id} n={n} blue={blue}"
pending_message: "{subject.id} by {deadline}"
""",
    "named-in-quantifiers-and-computed-arguments": """
for_each: {type: [a, c]}
when:
  some: {in: [red, blue, rose], as: k, where: {condition: {name: tagged, args: {record: $subject, tag: $k}}}}
require:
  any:
    - every: {in: $subject.items, as: i, where: {condition: {name: item-ok, args: {item: $i}}}}
    - condition: {name: gap-ok, args: {gap: {sub: [$now, $subject.at]}}}
    - condition: {name: same, args: {a: {latest: {type: b, where: {before: [$it, $subject]}}}, b: $subject}}
message: "{subject.id} tags={subject.tags}"
""",
}


def named_conditions(calls: list[tuple[Any, ...]]) -> dict[str, NamedCondition]:
    """Deterministic predicates, some of which raise or answer a non-boolean for some arguments.

    Every call is logged in ``calls`` (name, policy and arguments), so a test can check that both
    evaluators call each predicate as often, with the same arguments.
    """

    def logged(name: str, function: Any) -> Any:
        def call(context: ConditionContext, **args: Any) -> Any:
            shown = tuple(sorted((k, v.id if isinstance(v, Record) else repr(v)) for k, v in args.items()))
            calls.append((name, context.policy_id, context.case_id, shown))
            return function(context, **args)

        return call

    def small(context: ConditionContext, value: Any) -> bool:
        if value == 5:
            raise RuntimeError("five is not small or large")
        return value is not None and value < 3

    def same(context: ConditionContext, a: Record | None, b: Record | None) -> bool:
        return a is not None and b is not None and a.get("s") == b.get("s")

    def tagged(context: ConditionContext, record: Record | None, tag: str) -> Any:
        tags = record.get("tags") if record is not None else None
        if tags is None and tag == "rose" and record is not None and record.get("s") == "z":
            return "maybe"
        return bool(tags) and tag in tags

    def recent(context: ConditionContext, at: datetime | None, within: timedelta) -> bool:
        return at is not None and context.now - at <= within

    def enough(context: ConditionContext, n: int, kind: str) -> bool:
        return n >= len(context.of_type(kind)) // 2

    def item_ok(context: ConditionContext, item: Any) -> bool:
        if item.get("q") == "y" and item.get("p") == 4:
            raise KeyError("p")
        return bool(item.get("p", 0) > 1)

    def gap_ok(context: ConditionContext, gap: timedelta | None) -> bool:
        return gap is not None and gap < timedelta(hours=3)

    declared: dict[str, tuple[Any, dict[str, str]]] = {
        "small": (small, {"value": "number"}),
        "same": (same, {"a": "record", "b": "record"}),
        "tagged": (tagged, {"record": "record", "tag": "string"}),
        "recent": (recent, {"at": "datetime", "within": "duration"}),
        "enough": (enough, {"n": "integer", "kind": "string"}),
        "item-ok": (item_ok, {"item": "any"}),
        "gap-ok": (gap_ok, {"gap": "duration"}),
    }
    return {
        name: NamedCondition(name, logged(name, function), params, plugin="test-plugin")
        for name, (function, params) in declared.items()
    }


@pytest.mark.parametrize(("calendar", "cases"), [(None, 200), ("emea", 80)], ids=["elapsed", "business"])
def test_named_conditions_anywhere_give_the_native_findings_and_engine_errors(
    calendar: str | None, cases: int
) -> None:
    calls: list[tuple[Any, ...]] = []
    conditions = named_conditions(calls)
    header = "title: t\nseverity: warning\nrationale: r\n"
    policies = [
        parse_policy(parse_yaml(f"id: {name}\n{header}{body.lstrip()}", f"{name}.yaml"), conditions).bind(
            calendar=calendar
        )
        for name, body in NAMED.items()
    ]
    native, durable = NativeEvaluator(policies, CALENDARS), DurableEvaluator(policies, CALENDARS)
    rng = random.Random(11)
    seen: set[tuple[str, str, bool]] = set()
    try:
        for number in range(cases):
            records = synthetic_case(rng, rng.randint(1, 12))
            now = BASE + timedelta(minutes=rng.randrange(0, 14 * 60, 15))
            calls.clear()
            expected = native.evaluate_case("k", records, now).findings
            native_calls = sorted(calls)
            calls.clear()
            actual = durable.evaluate_case("k", records, now).findings
            assert actual == expected, f"case {number}"
            assert [f.message for f in actual] == [f.message for f in expected]
            assert sorted(calls) == native_calls, f"case {number}: the predicates were called differently"
            seen.update((f.policy, f.status.value, len(f.evidence) > 1) for f in actual)
    finally:
        durable.close()
    assert {(policy, status) for policy, status, _ in seen} >= {
        (policy, status) for policy in NAMED for status in ("violation", "error")
    }
    assert any(more for _, status, more in seen if status == "violation")  # evidence from queries in args


# --- errors and lifecycle -----------------------------------------------------------------------


def test_a_naive_now_is_refused_like_the_native_evaluator(evaluators) -> None:
    with pytest.raises(EvaluatorError):
        evaluators[1].evaluate_case("c1", case(FLAGGED), datetime(2024, 5, 6, 12, 0))


def test_a_deadline_that_is_not_a_time_is_an_engine_error_on_both_evaluators() -> None:
    """Bad values fail the one record loudly (an engine error naming the policy), not the whole run."""
    text = "id: bad-by\ntitle: t\nseverity: error\nrationale: r\nfor_each: {type: a}\n"
    text += "require: {exists: {type: b}}\nby: $subject.x\nmessage: m\n"
    policy = parse_policy(parse_yaml(text, "bad-by.yaml")).bind()
    records = case(
        {"id": "r1", "type": "a", "at": t("10:00"), "x": 3},
        {"id": "r2", "type": "a", "at": t("10:00"), "x": t("10:30")},
    )
    durable = DurableEvaluator([policy])
    try:
        for evaluator in (NativeEvaluator([policy]), durable):
            findings = evaluator.evaluate_case("c1", records, t("11:00")).findings
            assert [(f.record_id, f.status) for f in findings] == [
                ("r1", Status.ERROR),
                ("r2", Status.VIOLATION),
            ], evaluator.name
            assert "policy 'bad-by' could not decide" in findings[0].message
            assert "bad-by.yaml" in findings[0].message
        fixed = case({"id": "r1", "type": "a", "at": t("10:00"), "x": t("12:00")})
        assert len(durable.evaluate_case("c1", fixed, t("11:00")).findings) == 1  # usable after an error
    finally:
        durable.close()


def test_a_closed_evaluator_refuses_to_evaluate_and_closes_once() -> None:
    durable = DurableEvaluator(BUNDLED)
    assert durable.name == "durable"
    durable.close()
    durable.close()
    with pytest.raises(EvaluatorError, match="closed"):
        durable.evaluate_case("c1", case(FLAGGED), t("12:00"))


def test_an_empty_case_and_records_after_now_give_nothing(evaluators) -> None:
    _, durable = evaluators
    assert durable.evaluate_case("c1", [], t("12:00")).findings == []
    assert durable.evaluate_case("c1", case(FLAGGED), t("09:00")).findings == []


def test_lone_surrogates_in_ids_and_text_are_facts_like_any_other(evaluators) -> None:
    """Found by fuzzing: durable-rules' C core takes UTF-8 only, and a JSON escape such as "\\ud800"
    gives a string that is not; the whole case failed. Equality must stay exact (same id, same case)."""
    contact = {
        **FLAGGED,
        "id": "c\ud800",
        "summary": "bad \udcff text",
        "actor": {"role": "agent", "id": "a\ud800"},
    }
    escalation = {"id": "e\ud801", "type": "escalation", "at": t("11:00"), "reason": "r\ud800", "to": "boss"}
    findings = same_findings(evaluators, case(contact), t("15:00"))
    assert outcome(findings, ESCALATE) == [(ESCALATE, "c\ud800", "violation", ("c\ud800",))]
    assert outcome(same_findings(evaluators, case(contact, escalation), t("15:00")), ESCALATE) == []
