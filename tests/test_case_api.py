"""One case at a time: evaluate_case and next_change, check (the gate's what-if), and transitions.

Every test runs on both evaluators; the properties hold each to the native evaluator and to the
meaning of ``next_change``: nothing about a case changes before it with no new record.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from serviceflow import Engine
from serviceflow.calendars import calendars_from_config
from serviceflow.config import Config, PolicySettings
from serviceflow.errors import EvaluatorError, Location, RecordError
from serviceflow.findings import Finding, Severity, Status
from serviceflow.plugins import PluginHost
from serviceflow.policy import parse_policy
from serviceflow.policy.yamlsource import parse_yaml
from serviceflow.records import Record, RecordValidator
from serviceflow.transitions import ACTIONABLE, TransitionKind, idempotency_key, transitions
from strategies import EMEA, case_histories, nows
from support import DURABLE_SKIP_REASON, durable_available, with_defaults

T0 = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
EVALUATORS = ["native", pytest.param("durable", marks=pytest.mark.durable)]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def at(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).isoformat()


def admitted(items: list[dict[str, Any]], case_id: str = "c1") -> list[Record]:
    validator = RecordValidator()
    return [
        validator.to_record(item, Location("case.jsonl", seq + 1), seq)
        for seq, item in enumerate(with_defaults(items, case_id))
    ]


def engine_for(evaluator: str, config: Config | None = None) -> Engine:
    if evaluator == "durable" and not durable_available():
        pytest.skip(DURABLE_SKIP_REASON)
    return Engine.from_config(config=config or Config(), evaluator=evaluator, plugins=PluginHost())


@pytest.fixture(params=EVALUATORS)
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    with engine_for(request.param) as built:
        yield built


COMMITMENT = {
    "id": "k",
    "type": "commitment",
    "at": at(0),
    "commitment_id": "k1",
    "promise": "A visit",
    "due": at(2),
}
CAPACITY = {
    "id": "cap",
    "type": "capacity_check",
    "at": at(-1),
    "resource": "tech",
    "window": {"start": at(1), "end": at(3)},
    "confirmed": True,
}


# --- evaluate_case -----------------------------------------------------------------------------------


def test_evaluate_case_puts_the_records_in_case_order_itself(engine: Engine) -> None:
    records = admitted([CAPACITY, COMMITMENT])
    shuffled = list(reversed(records))
    assert engine.evaluate_case("c1", shuffled, T0 + timedelta(hours=1)) == engine.evaluate_case(
        "c1", records, T0 + timedelta(hours=1)
    )


def test_records_at_the_same_instant_are_ordered_by_seq(engine: Engine) -> None:
    # A reopen and a close at the same second. When the reopen came first (lower seq), the earlier
    # confirmation no longer counts for the close; when the close came first, it does.
    confirm = {"id": "y", "type": "confirmation", "at": at(0), "resolved": True}
    reopen = {"id": "r", "type": "status_change", "at": at(1), "to": "reopened"}
    close = {"id": "x", "type": "status_change", "at": at(1), "to": "closed"}
    now = T0 + timedelta(hours=2)

    def closes_unconfirmed(items: list[dict[str, Any]]) -> bool:
        result = engine.evaluate_case("c1", list(reversed(admitted(items))), now)
        return "no-close-without-confirmation" in {f.policy for f in result.violations}

    assert closes_unconfirmed([confirm, reopen, close])
    assert not closes_unconfirmed([confirm, close, reopen])


def test_a_record_of_another_case_is_refused(engine: Engine) -> None:
    with pytest.raises(EvaluatorError, match="belongs to case 'c2'"):
        engine.evaluate_case("c1", admitted([COMMITMENT], "c2"), T0)


def test_next_change_is_the_pending_deadline(engine: Engine) -> None:
    contact = {
        "id": "q",
        "type": "contact",
        "at": at(0),
        "channel": "phone",
        "direction": "inbound",
        "flags": ["values_in_question"],
    }
    result = engine.evaluate_case("c1", admitted([contact]), T0 + timedelta(hours=1))
    (pending,) = [f for f in result.pending if f.policy == "escalate-values-in-question"]
    assert pending.deadline == T0 + timedelta(hours=4)
    assert result.next_change is not None and result.next_change <= pending.deadline


def test_next_change_is_when_a_now_comparison_turns(engine: Engine) -> None:
    # concession-after-missed-commitment applies once the due passes ('le: [$due, $now]'): before
    # then nothing is owed, and the case must be woken at the due.
    records = admitted([CAPACITY, COMMITMENT])
    before = engine.evaluate_case("c1", records, T0 + timedelta(hours=1))
    assert not [f for f in before.findings if f.policy == "concession-after-missed-commitment"]
    assert before.next_change == T0 + timedelta(hours=2)
    at_due = engine.evaluate_case("c1", records, before.next_change)
    (owed,) = [f for f in at_due.pending if f.policy == "concession-after-missed-commitment"]
    assert owed.deadline == T0 + timedelta(hours=50)


def test_next_change_is_a_future_record_becoming_visible(engine: Engine) -> None:
    later = {"id": "n", "type": "note", "at": at(10), "text": "later"}
    result = engine.evaluate_case("c1", admitted([later]), T0)
    assert result.next_change == T0 + timedelta(hours=10)


def test_a_case_time_cannot_change_has_no_next_change(engine: Engine) -> None:
    note = {"id": "n", "type": "note", "at": at(0), "text": "nothing owed"}
    assert engine.evaluate_case("c1", admitted([note]), T0 + timedelta(hours=1)).next_change is None


UNBOUNDED = """
id: recent-notes
title: t
severity: warning
rationale: r
for_each: {type: case_opened}
require:
  exists:
    type: note
    where:
      - ge: [{add: [$it.at, {duration: 1d}]}, $now]
message: no recent note
"""


@pytest.mark.parametrize("evaluator", EVALUATORS)
def test_a_policy_whose_use_of_now_is_unbounded_is_rechecked(evaluator: str) -> None:
    policy = parse_policy(parse_yaml(UNBOUNDED, "recent.yaml")).bind()
    assert policy.timing.unbounded == "$now is used inside a query or quantifier"
    if evaluator == "durable" and not durable_available():
        pytest.skip(DURABLE_SKIP_REASON)
    with Engine([policy], evaluator=evaluator, recheck=timedelta(minutes=30)) as engine:
        opened = {"id": "o", "type": "case_opened", "at": at(0)}
        note = {"id": "n", "type": "note", "at": at(0), "text": "x"}
        result = engine.evaluate_case("c1", admitted([opened, note]), T0 + timedelta(hours=2))
        assert result.violations == ()
        assert result.next_change == T0 + timedelta(hours=2, minutes=30)
        # No subject of the policy in the case: nothing to recheck.
        assert engine.evaluate_case("c1", admitted([note]), T0 + timedelta(hours=2)).next_change is None


# --- check ------------------------------------------------------------------------------------------


def test_closing_without_a_confirmation_is_refused_with_the_policy_and_its_message(engine: Engine) -> None:
    opened = {"id": "o", "type": "case_opened", "at": at(0), "channel": "email"}
    proposal = with_defaults([{"id": "p", "type": "status_change", "at": at(1), "to": "closed"}])[0]
    answer = engine.check("c1", admitted([opened]), proposal, T0 + timedelta(hours=1))
    assert not answer.allowed()
    (broken,) = [f for f in answer.violations if f.severity is Severity.ERROR]
    assert broken.policy == "no-close-without-confirmation"
    assert broken.record_id == "p"
    assert "without the customer confirming" in broken.message
    assert answer.allowed(gate=Severity.ERROR) is False


def test_closing_after_a_confirmation_is_allowed(engine: Engine) -> None:
    confirm = {"id": "y", "type": "confirmation", "at": at(0), "resolved": True}
    proposal = with_defaults([{"id": "p", "type": "status_change", "at": at(1), "to": "closed"}])[0]
    answer = engine.check("c1", admitted([confirm]), proposal, T0 + timedelta(hours=1))
    assert [f for f in answer.violations if f.policy == "no-close-without-confirmation"] == []
    assert answer.allowed()


def test_a_record_that_meets_a_pending_obligation_fulfils_it(engine: Engine) -> None:
    contact = {
        "id": "q",
        "type": "contact",
        "at": at(0),
        "channel": "phone",
        "direction": "inbound",
        "flags": ["values_in_question"],
    }
    escalation = with_defaults(
        [{"id": "e", "type": "escalation", "at": at(1), "to": "supervisor", "reason": "price in question"}]
    )[0]
    answer = engine.check("c1", admitted([contact]), escalation, T0 + timedelta(hours=1))
    assert ("c1", "escalate-values-in-question", "q") in {f.obligation for f in answer.fulfils}
    assert TransitionKind.FULFILLED in {change.kind for change in answer.transitions}


def test_an_invalid_proposal_names_its_pointer_and_nothing_is_kept(engine: Engine) -> None:
    proposal = with_defaults([{"id": "p", "type": "status_change", "at": at(1), "to": "shut"}])[0]
    records = admitted([COMMITMENT])
    with pytest.raises(RecordError) as raised:
        engine.check("c1", records, proposal, T0)
    assert raised.value.location.pointer == "/to"
    assert [record.id for record in records] == ["k"]


def test_a_proposal_for_another_case_or_with_a_taken_id_is_refused(engine: Engine) -> None:
    records = admitted([COMMITMENT])
    other = with_defaults([{"id": "p", "type": "note", "at": at(1), "text": "x"}], "c2")[0]
    with pytest.raises(RecordError, match="for case 'c2'"):
        engine.check("c1", records, other, T0)
    taken = with_defaults([{"id": "k", "type": "note", "at": at(1), "text": "x"}])[0]
    with pytest.raises(RecordError, match="already has a record 'k'"):
        engine.check("c1", records, taken, T0)


# --- transitions ------------------------------------------------------------------------------------


def finding(status: Status, deadline: datetime | None = None, record: str = "r") -> Finding:
    return Finding("p", Severity.ERROR, status, "c", record, "m", deadline=deadline)


@pytest.mark.parametrize(
    ("before", "after", "kind"),
    [
        (None, Status.PENDING, TransitionKind.OPENED),
        (None, Status.VIOLATION, TransitionKind.VIOLATED),
        (Status.PENDING, Status.VIOLATION, TransitionKind.BREACHED),
        (Status.PENDING, None, TransitionKind.FULFILLED),
        (Status.VIOLATION, None, TransitionKind.CLEARED),
        (Status.VIOLATION, Status.PENDING, TransitionKind.REOPENED),
        (Status.PENDING, Status.ERROR, TransitionKind.ERRORED),
        (Status.ERROR, None, TransitionKind.RECOVERED),
        (Status.ERROR, Status.VIOLATION, TransitionKind.VIOLATED),
        (Status.VIOLATION, Status.VIOLATION, None),
        (Status.ERROR, Status.ERROR, None),
    ],
)
def test_each_change_of_an_obligation_is_one_transition(
    before: Status | None, after: Status | None, kind: TransitionKind | None
) -> None:
    old = [finding(before, T0)] if before else []
    new = [finding(after, T0)] if after else []
    assert [change.kind for change in transitions(old, new)] == ([kind] if kind else [])


def test_a_moved_deadline_is_rescheduled_and_an_unchanged_one_is_nothing() -> None:
    assert [
        c.kind
        for c in transitions([finding(Status.PENDING, T0)], [finding(Status.PENDING, T0 + MICROSECOND)])
    ] == [TransitionKind.RESCHEDULED]
    assert transitions([finding(Status.PENDING, T0)], [finding(Status.PENDING, T0)]) == []


def test_only_breaking_an_obligation_calls_for_action() -> None:
    assert {TransitionKind.VIOLATED, TransitionKind.BREACHED} == ACTIONABLE


def test_idempotency_keys_are_stable_and_distinct_per_obligation_kind_and_action() -> None:
    key = idempotency_key(("c", "p", "r"), "breached", "webhook")
    assert key == idempotency_key(("c", "p", "r"), "breached", "webhook")
    assert len(key) == 32
    assert (
        len(
            {
                key,
                idempotency_key(("c", "p", "r"), "violated", "webhook"),
                idempotency_key(("c", "p", "r"), "breached", "log"),
                idempotency_key(("c", "p", "r2"), "breached", "webhook"),
            }
        )
        == 4
    )


# --- properties over random histories ------------------------------------------------------------


def _config() -> Config:
    calendars = calendars_from_config({"calendars": EMEA}, Path("."))
    settings_ = {
        policy: PolicySettings(calendar="case")
        for policy in ("escalate-values-in-question", "respond-promptly")
    }
    return Config(calendars=calendars, policies=settings_)


@pytest.fixture(scope="module")
def native() -> Iterator[Engine]:
    with Engine.from_config(config=_config(), plugins=PluginHost()) as built:
        yield built


def _single(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The random history as one case (the strategy interleaves two)."""
    return [{**record, "case_id": "c1"} for record in with_defaults(records)]


def _one_case(native: Engine, records: list[dict[str, Any]], shuffle_seed: int) -> list[Record]:
    admitted_records = [
        native.admission.admit(item, Location("h.jsonl", seq + 1), seq, [])
        for seq, item in enumerate(_single(records))
    ]
    random.Random(shuffle_seed).shuffle(admitted_records)
    return admitted_records


def _same(result: Any) -> list[tuple[Any, ...]]:
    return [(f.key, f.message, f.evidence, f.deadline) for f in result.findings]


@SETTINGS
@given(records=case_histories(), now=nows, shuffle_seed=st.integers(0, 2**16))
def test_nothing_changes_before_next_change(
    native: Engine, records: list[dict[str, Any]], now: datetime, shuffle_seed: int
) -> None:
    case = _one_case(native, records, shuffle_seed)
    result = native.evaluate_case("c1", case, now)
    later = result.next_change - MICROSECOND if result.next_change is not None else now + timedelta(days=400)
    assert later >= now
    assert _same(native.evaluate_case("c1", case, later)) == _same(result)


@SETTINGS
@given(records=case_histories(), now=nows)
def test_evaluate_case_gives_what_a_batch_gives_for_the_case(
    native: Engine, records: list[dict[str, Any]], now: datetime
) -> None:
    batch = native.evaluate(_single(records), now)
    case = _one_case(native, records, 0)
    result = native.evaluate_case("c1", case, now)
    assert result.violations == batch.violations
    assert result.pending == batch.pending
    assert result.engine_errors == batch.engine_errors


@SETTINGS
@given(records=case_histories(max_records=10), now=nows, last=st.integers(0, 9))
def test_check_is_the_difference_the_record_makes(
    native: Engine, records: list[dict[str, Any]], now: datetime, last: int
) -> None:
    # Checking a record against the others gives the transitions from evaluating without it to
    # evaluating with it.
    if not records:
        return
    case = _one_case(native, records, 0)
    case.sort(key=lambda record: record.seq)
    proposed = case.pop(min(last, len(case) - 1))
    answer = native.check("c1", case, proposed, now)
    without = native.evaluate_case("c1", case, now)
    moved = Record.from_values(
        proposed.shape,
        proposed.values,
        proposed.origin,
        max((r.seq for r in case), default=-1) + 1,
        (proposed.id, proposed.case_id, proposed.type, proposed.at),
    )
    with_it = native.evaluate_case("c1", [*case, moved], now)
    assert list(answer.transitions) == transitions(without.findings, with_it.findings)


@pytest.fixture(scope="module")
def durable() -> Iterator[Engine]:
    if not durable_available():
        pytest.skip(DURABLE_SKIP_REASON)
    with Engine.from_config(config=_config(), evaluator="durable", plugins=PluginHost()) as built:
        yield built


@pytest.mark.durable
@pytest.mark.skipif(not durable_available(), reason=DURABLE_SKIP_REASON)
@SETTINGS
@given(records=case_histories(), now=nows, shuffle_seed=st.integers(0, 2**16))
def test_durable_gives_the_native_case_result_next_change_included(
    native: Engine, durable: Engine, records: list[dict[str, Any]], now: datetime, shuffle_seed: int
) -> None:
    case = _one_case(native, records, shuffle_seed)
    expected = native.evaluate_case("c1", case, now)
    actual = durable.evaluate_case("c1", case, now)
    assert _same(actual) == _same(expected)
    assert actual.next_change == expected.next_change


@pytest.mark.durable
@pytest.mark.skipif(not durable_available(), reason=DURABLE_SKIP_REASON)
@SETTINGS
@given(records=case_histories(max_records=10), now=nows, last=st.integers(0, 9))
def test_durable_gives_the_native_check(
    native: Engine, durable: Engine, records: list[dict[str, Any]], now: datetime, last: int
) -> None:
    if not records:
        return
    case = _one_case(native, records, 0)
    case.sort(key=lambda record: record.seq)
    proposed = case.pop(min(last, len(case) - 1))
    expected = native.check("c1", case, proposed, now)
    actual = durable.check("c1", case, proposed, now)
    assert actual.transitions == expected.transitions
    assert actual.allowed() == expected.allowed()
