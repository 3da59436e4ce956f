"""The live service over a store: one suite, run on SQLite and on PostgreSQL (``store_url``)."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest

from live_support import (
    T0,
    at,
    close,
    confirmation,
    contact,
    example_records,
    lint_findings,
    make_service,
    note,
    opened,
    stored_findings,
)
from serviceflow import Engine
from serviceflow.config import Config, PolicySettings
from serviceflow.errors import ActionError, RecordError
from serviceflow.live import (
    BadRequest,
    Forbidden,
    IdempotencyMismatch,
    ManualClock,
    NotFound,
    OutboxState,
    Service,
    StoreError,
    Unauthorized,
)
from serviceflow.live.settings import LiveSettings, OutboxSettings, SweeperSettings
from serviceflow.live.store import Store
from serviceflow.stores import open_store
from serviceflow.stores.schema import latest_version
from serviceflow.timeutil import parse_datetime

NOW = parse_datetime("2024-05-09T14:00:00Z")


def test_ingested_examples_have_the_findings_lint_gives(
    service: Service, clock: ManualClock, engine: Engine
) -> None:
    records = example_records()
    clock.set(NOW)
    result = service.ingest(records)
    assert (result.accepted, result.duplicates, result.rejected) == (len(records), 0, ())
    assert set(result.cases) == {"milkyway-leak", "refund-7731", "acme-boiler"}
    assert stored_findings(service) == lint_findings(records, NOW, engine)


def test_records_ingested_one_by_one_in_any_order_give_the_same_findings(
    service: Service, clock: ManualClock, engine: Engine
) -> None:
    records = example_records()
    clock.set(NOW)
    for record in random.Random(7).sample(records, len(records)):
        assert service.ingest([record]).accepted == 1
    assert stored_findings(service) == lint_findings(records, NOW, engine)


def test_the_same_record_again_is_a_duplicate_and_changes_nothing(service: Service) -> None:
    record = opened("c1", "r1", at())
    service.ingest([record])
    again = service.ingest([dict(reversed(list(record.items())))])  # key order does not matter
    assert (again.accepted, again.duplicates, again.rejected, again.cases) == (0, 1, (), ())
    assert service.case("c1").version == 1


def test_a_record_id_again_with_other_content_is_a_conflict_naming_both(service: Service) -> None:
    service.ingest([opened("c1", "r1", at())])
    changed = {**opened("c1", "r1", at()), "subject": "Something else"}
    result = service.ingest([note("c1", "r2", at(5)), changed])
    assert result.accepted == 1
    [rejected] = result.rejected
    assert (rejected.index, rejected.pointer) == (1, "/id")
    assert "already stored with different content" in rejected.message
    assert rejected.stored is not None and rejected.stored["subject"] == "Leaking pipe"
    state = service.case("c1")
    assert state.version == 2 and state.records[0]["subject"] == "Leaking pipe"


def test_duplicates_and_conflicts_within_one_request(service: Service) -> None:
    record = opened("c1", "r1", at())
    result = service.ingest([record, record, {**record, "subject": "other"}])
    assert (result.accepted, result.duplicates) == (1, 1)
    assert [(item.index, item.pointer) for item in result.rejected] == [(2, "/id")]


def test_an_invalid_record_is_rejected_with_its_pointer_and_the_others_stored(service: Service) -> None:
    bad = {**note("c1", "r2", at(1)), "at": "yesterday"}
    result = service.ingest([opened("c1", "r1", at()), bad, "not an object"])
    assert result.accepted == 1
    assert [(item.index, item.pointer) for item in result.rejected] == [(1, "/at"), (2, "")]
    assert service.case("c1").version == 1


def test_a_late_record_takes_its_place_and_clears_a_violation(service: Service, clock: ManualClock) -> None:
    clock.set(T0 + timedelta(days=1))
    service.ingest([opened("c1", "r1", at()), close("c1", "x", at(hours=5))])
    before = {(f.policy, f.status.value) for f in service.case("c1").violations}
    assert ("no-close-without-confirmation", "violation") in before
    late = service.ingest([confirmation("c1", "f", at(hours=4))])  # it happened before the close
    assert late.accepted == 1
    after = {(f.policy, f.status.value) for f in service.case("c1").violations}
    assert ("no-close-without-confirmation", "violation") not in after
    kinds = {(t.kind.value, t.obligation[1]) for t in late.evaluated[0].transitions}
    assert ("cleared", "no-close-without-confirmation") in kinds


def test_unknown_case_is_not_found(service: Service) -> None:
    with pytest.raises(NotFound):
        service.case("nope")


def test_pending_obligation_has_its_deadline_and_next_change(service: Service, clock: ManualClock) -> None:
    clock.set(T0 + timedelta(hours=1))
    service.ingest([opened("c1", "r1", at()), contact("c1", "k1", at(10), flags=["values_in_question"])])
    state = service.case("c1")
    pending = {f.policy: f for f in state.pending}
    deadline = pending["escalate-values-in-question"].deadline
    assert deadline == T0 + timedelta(minutes=10, hours=4)
    assert state.next_change is not None and state.next_change <= deadline
    obligations = service.obligations().items
    assert [item["deadline"] for item in obligations] == sorted(item["deadline"] for item in obligations)


def _escalation_case(service: Service, clock: ManualClock) -> None:
    clock.set(T0 + timedelta(hours=1))
    service.ingest([opened("c1", "r1", at()), contact("c1", "k1", at(10), flags=["values_in_question"])])


def test_the_sweeper_breaches_a_passed_deadline_once_and_enqueues_its_action_once(
    store: Store, engine: Engine, clock: ManualClock
) -> None:
    service = make_service(store, engine, clock, actions={"notify": lambda finding, context: "ok"})
    _escalation_case(service, clock)
    assert service.sweep().cases == 0  # nothing due yet
    clock.set(T0 + timedelta(minutes=10, hours=4, seconds=1))
    swept = service.sweep()
    breached = [t for e in swept.evaluated for t in e.transitions if t.kind.value == "breached"]
    assert "escalate-values-in-question" in {t.obligation[1] for t in breached}
    assert swept.enqueued == len(breached)
    assert service.sweep().enqueued == 0  # swept again: nothing new
    items = service.outbox().items
    assert len(items) == len(breached)
    assert {item["state"] for item in items} == {"pending"}
    kinds = [d.kind for d in store.decisions("c1")]
    assert kinds.count("sweep") == 1 and kinds[0] == "ingest"


def test_an_ingest_that_sees_a_passed_deadline_first_acts_on_it(
    store: Store, engine: Engine, clock: ManualClock
) -> None:
    service = make_service(store, engine, clock, actions={"notify": lambda finding, context: "ok"})
    _escalation_case(service, clock)
    clock.set(T0 + timedelta(hours=6))
    result = service.ingest([note("c1", "n1", at(hours=6))])
    assert result.evaluated[0].enqueued >= 1
    assert service.sweep().enqueued == 0


def test_decisions_carry_the_revision_and_the_case_version(
    service: Service, store: Store, clock: ManualClock
) -> None:
    clock.set(T0 + timedelta(hours=1))
    service.ingest([opened("c1", "r1", at())])
    service.ingest([note("c1", "n1", at(1))])
    service.check("c1", close("c1", "x", at(2)))
    decisions = store.decisions("c1")
    assert [(d.kind, d.case_version) for d in decisions] == [("ingest", 1), ("ingest", 2), ("check", 2)]
    assert {d.revision for d in decisions} == {service.revision}
    assert decisions[2].result["allowed"] is False


def test_idempotency_key_replays_the_first_answer_and_refuses_another_request(service: Service) -> None:
    first = service.ingest([opened("c1", "r1", at())], idempotency=("token:1", "key-1", "hash-a"))
    again = service.ingest([opened("c1", "r1", at())], idempotency=("token:1", "key-1", "hash-a"))
    assert again.replayed and again.to_dict() == first.to_dict() and again.accepted == 1
    with pytest.raises(IdempotencyMismatch):
        service.ingest([note("c1", "n", at(1))], idempotency=("token:1", "key-1", "hash-b"))
    other_token = service.ingest([note("c1", "n", at(1))], idempotency=("token:2", "key-1", "hash-b"))
    assert other_token.accepted == 1 and not other_token.replayed


# --- the gate -------------------------------------------------------------------------------------------


def test_closing_without_confirmation_is_refused_with_the_reason_and_nothing_is_stored(
    service: Service, clock: ManualClock
) -> None:
    clock.set(T0 + timedelta(hours=2))
    service.ingest([opened("c1", "r1", at())])
    answer = service.check("c1", close("c1", "x", at(hours=2)))
    assert answer.allowed is False
    [violation] = [f for f in answer.violations if f.policy == "no-close-without-confirmation"]
    assert violation.reason and "require" in violation.reason
    assert answer.policy_revision == service.revision and answer.decision_id
    assert service.case("c1").version == 1


def test_closing_after_confirmation_is_allowed_and_fulfils(service: Service, clock: ManualClock) -> None:
    clock.set(T0 + timedelta(hours=2))
    service.ingest([opened("c1", "r1", at()), confirmation("c1", "f", at(60))])
    answer = service.check("c1", close("c1", "x", at(hours=2)))
    assert answer.allowed is True
    assert not [f for f in answer.violations if f.severity.value == "error"]


def test_an_unknown_case_is_checked_as_a_new_one(service: Service, clock: ManualClock) -> None:
    clock.set(T0 + timedelta(hours=1))
    answer = service.check("new-case", close("new-case", "x", at()))
    assert answer.allowed is False
    with pytest.raises(NotFound):
        service.case("new-case")


def test_an_invalid_proposed_record_raises_with_its_pointer(service: Service) -> None:
    with pytest.raises(RecordError) as raised:
        service.check("c1", {**close("c1", "x", at()), "at": "soon"})
    assert raised.value.location.pointer == "/at"


def test_the_gate_sees_the_customer_scope_of_a_new_case(
    service: Service, clock: ManualClock, engine: Engine
) -> None:
    clock.set(T0 + timedelta(days=3))
    service.ingest(
        [opened("a", "a1", at(), customer="acme"), confirmation("a", "af", at(30)), close("a", "ax", at(60))]
    )
    answer = service.check("b", opened("b", "b1", at(days=2), customer="acme"))
    opened_now = {f.policy for f in answer.pending} | {f.policy for f in answer.violations}
    records = [
        opened("a", "a1", at(), customer="acme"),
        confirmation("a", "af", at(30)),
        close("a", "ax", at(60)),
        opened("b", "b1", at(days=2), customer="acme"),
    ]
    expected = {key[1] for key in lint_findings(records, clock.now(), engine) if key[0] == "b"}
    assert "circle-back-returning-customer" in expected
    assert expected <= opened_now


# --- the customer scope ---------------------------------------------------------------------------------


def test_a_close_arriving_later_makes_the_customers_later_case_a_returning_one(
    service: Service, clock: ManualClock, engine: Engine
) -> None:
    clock.set(T0 + timedelta(days=5))
    first_case = [opened("a", "a1", at(), customer="acme"), confirmation("a", "af", at(30))]
    second_case = [opened("b", "b1", at(days=2), customer="acme")]
    service.ingest(first_case)
    service.ingest(second_case)
    assert "circle-back-returning-customer" not in {
        f.policy for f in (*service.case("b").pending, *service.case("b").violations)
    }
    result = service.ingest([close("a", "ax", at(hours=3))])
    assert result.cases == ("a",)
    assert {e.case.case_id for e in result.evaluated} == {"a", "b"}
    b_state = service.case("b")
    assert b_state.records[0]["previous_case"] == {"case_id": "a", "closed_at": "2024-05-06T12:00:00Z"}
    assert "circle-back-returning-customer" in {f.policy for f in (*b_state.pending, *b_state.violations)}
    everything = [*first_case, *second_case, close("a", "ax", at(hours=3))]
    assert stored_findings(service) == lint_findings(everything, clock.now(), engine)


def test_a_customer_named_late_and_a_late_opening_follow_lint(
    service: Service, clock: ManualClock, engine: Engine
) -> None:
    clock.set(T0 + timedelta(days=6))
    records = [
        opened("a", "a1", at(), customer="acme"),
        confirmation("a", "af", at(30)),
        close("a", "ax", at(60)),
        opened("b", "b1", at(days=3)),
        note("b", "b2", at(days=3, minutes=5)),
        close("b", "bx", at(days=4)),
        opened("c", "c1", at(days=1), customer="acme"),
    ]
    for record in records:
        service.ingest([record])
    # Case b names its customer only now, on a late record (the envelope allows customer_id on any
    # record): it becomes a returning case of a, and its close now counts for acme's later cases.
    late = {**note("b", "b0", at(days=2, hours=23)), "customer_id": "acme"}
    result = service.ingest([late])
    assert {e.case.case_id for e in result.evaluated} >= {"b"}
    [opening] = [record for record in service.case("b").records if record["type"] == "case_opened"]
    assert opening["previous_case"]["case_id"] == "a"
    assert stored_findings(service) == lint_findings([*records, late], clock.now(), engine)


# --- listings -------------------------------------------------------------------------------------------


def test_findings_are_paginated_with_an_opaque_cursor(service: Service, clock: ManualClock) -> None:
    clock.set(NOW)
    service.ingest(example_records())
    everything = service.findings(limit=1000).items
    pages, cursor = [], None
    while True:
        page = service.findings(limit=3, cursor=cursor)
        pages.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == list(everything) and len(everything) > 3
    violations = service.findings(status="violation", limit=1000).items
    assert violations and {item["status"] for item in violations} == {"violation"}
    case_id = everything[-1]["case_id"]
    one_case = service.findings(case_id=case_id, limit=1000).items
    assert one_case and {item["case_id"] for item in one_case} == {case_id}
    with pytest.raises(BadRequest):
        service.findings(cursor="not-a-cursor")
    with pytest.raises(BadRequest):
        service.findings(status="bogus")


def test_obligations_come_soonest_first_and_page_by_deadline(service: Service, clock: ManualClock) -> None:
    clock.set(T0 + timedelta(hours=1))
    for case in ("c1", "c2", "c3"):
        minute = {"c1": 30, "c2": 10, "c3": 20}[case]
        service.ingest(
            [
                opened(case, f"{case}-o", at()),
                contact(case, f"{case}-k", at(minute), flags=["values_in_question"]),
            ]
        )
    all_items = service.obligations(limit=1000).items
    deadlines = [item["deadline"] for item in all_items]
    assert deadlines == sorted(deadlines)
    paged, cursor = [], None
    while True:
        page = service.obligations(limit=2, cursor=cursor)
        paged.extend(page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert paged == list(all_items)
    cutoff = parse_datetime(all_items[1]["deadline"])
    assert [i["deadline"] for i in service.obligations(due_before=cutoff).items] == deadlines[:1]


# --- the outbox -----------------------------------------------------------------------------------------


def _breach(service: Service, clock: ManualClock) -> None:
    _escalation_case(service, clock)
    clock.set(T0 + timedelta(hours=5))
    assert service.sweep().enqueued >= 1


def test_a_failing_action_backs_off_then_is_dead_lettered_and_can_be_retried(
    store: Store, engine: Engine, clock: ManualClock
) -> None:
    calls: list[str] = []

    def failing(finding: Any, context: Any) -> str:
        calls.append(context.idempotency_key)
        raise RuntimeError("CRM is down")

    settings = LiveSettings(
        outbox=OutboxSettings(
            max_attempts=3, backoff=timedelta(seconds=10), max_backoff=timedelta(seconds=60)
        )
    )
    service = make_service(
        store, engine, clock, actions={"crm": failing}, settings=settings, rng=random.Random(1)
    )
    _breach(service, clock)
    first = service.deliver()
    assert first and {d.state for d in first} == {OutboxState.PENDING}
    item = service.outbox().items[0]
    waited = parse_datetime(item["next_attempt_at"]) - clock.now()
    assert timedelta(seconds=5) <= waited <= timedelta(seconds=10)
    assert service.deliver() == []  # not due yet
    clock.set(parse_datetime(item["next_attempt_at"]))
    service.deliver()
    item = service.outbox().items[0]
    waited = parse_datetime(item["next_attempt_at"]) - clock.now()
    assert timedelta(seconds=10) <= waited <= timedelta(seconds=20)  # doubled
    clock.set(parse_datetime(item["next_attempt_at"]))
    [last] = [d for d in service.deliver() if d.item_id == item["id"]]
    assert last.state is OutboxState.DEAD
    dead = service.outbox(state="dead").items
    assert dead and "CRM is down" in dead[0]["last_error"] and dead[0]["attempts"] == 3
    assert len(set(calls)) == len({i["idempotency_key"] for i in service.outbox().items})
    retried = service.retry(dead[0]["id"])
    assert retried.state is OutboxState.PENDING and retried.attempts == 0
    with pytest.raises(NotFound):
        service.retry(999_999)


def test_a_refusal_that_retrying_cannot_fix_is_dead_at_once(
    store: Store, engine: Engine, clock: ManualClock
) -> None:
    def refusing(finding: Any, context: Any) -> str:
        raise ActionError("400 Bad Request", retry=False)

    service = make_service(store, engine, clock, actions={"crm": refusing})
    _breach(service, clock)
    assert {d.state for d in service.deliver()} == {OutboxState.DEAD}


def test_a_failing_action_does_not_hold_back_another(
    store: Store, engine: Engine, clock: ManualClock
) -> None:
    delivered: list[str] = []

    def failing(finding: Any, context: Any) -> str:
        raise RuntimeError("down")

    def working(finding: Any, context: Any) -> str:
        delivered.append(context.idempotency_key)
        return "ok"

    service = make_service(store, engine, clock, actions={"broken": failing, "good": working})
    _breach(service, clock)
    results = service.deliver()
    by_action = {(d.action, d.state) for d in results}
    assert ("good", OutboxState.DELIVERED) in by_action and ("broken", OutboxState.PENDING) in by_action
    assert delivered and service.outbox(state="delivered").items


def test_a_delivery_whose_worker_died_is_taken_again_after_its_lease_with_the_same_key(
    store: Store, engine: Engine, clock: ManualClock
) -> None:
    keys: list[str] = []
    service = make_service(store, engine, clock, actions={"crm": lambda f, c: keys.append(c.idempotency_key)})
    _breach(service, clock)
    claimed = store.claim_outbox("crm", clock.now(), clock.now() + timedelta(minutes=2), 10)
    assert claimed  # a worker took them ... and died before finishing
    assert service.deliver() == []  # still leased
    clock.set(clock.now() + timedelta(minutes=2))
    redelivered = service.deliver()
    assert {d.state for d in redelivered} == {OutboxState.DELIVERED}
    assert sorted(keys) == sorted(item.idempotency_key for item in claimed)
    assert {i["attempts"] for i in service.outbox().items} == {2}


# --- tokens, revisions, migrations ------------------------------------------------------------------------


def test_tokens_are_stored_hashed_and_grant_their_scopes(service: Service, store: Store) -> None:
    token, row = service.create_token("crm", ["ingest"])
    assert token.startswith("sf_") and row.scopes == ("ingest",)
    assert service.authenticate(f"Bearer {token}", "ingest").name == "crm"
    with pytest.raises(Forbidden):
        service.authenticate(f"Bearer {token}", "read")
    with pytest.raises(Unauthorized):
        service.authenticate("Bearer sf_wrong", "ingest")
    with pytest.raises(Unauthorized):
        service.authenticate(None, "ingest")
    admin, _ = service.create_token("ops", ["admin"])
    assert service.authenticate(f"Bearer {admin}", "read").name == "ops"
    with pytest.raises(BadRequest):
        service.create_token("crm", ["read"])  # a live token already has the name
    assert store.revoke_token("crm", T0)
    with pytest.raises(Unauthorized):
        service.authenticate(f"Bearer {token}", "ingest")
    assert all(token not in repr(row) for row in store.list_tokens())


def test_a_new_policy_revision_re_evaluates_the_open_cases(
    store: Store, engine: Engine, clock: ManualClock
) -> None:
    old = make_service(store, engine, clock)
    clock.set(T0 + timedelta(days=1))
    old.ingest(
        [
            opened("open-case", "o1", at()),
            opened("closed-case", "c1", at()),
            confirmation("closed-case", "cf", at(5)),
            close("closed-case", "cx", at(10)),
        ]
    )
    stricter = Config(policies={"no-close-without-confirmation": PolicySettings(severity="warning")})
    new_engine = Engine.from_config(config=stricter)
    new = make_service(store, new_engine, clock, config=stricter)
    assert new.revision != old.revision
    assert new.stale_cases() == 1  # only the open one
    assert new.reevaluate_stale() == 1 and new.stale_cases() == 0
    assert new.case("open-case").revision == new.revision
    assert new.case("closed-case").revision == old.revision


def test_upgrade_is_idempotent_and_a_newer_store_is_refused(store_url: str) -> None:
    store = open_store(store_url)
    assert store.upgrade().current == latest_version()
    assert store.upgrade().up_to_date
    store.transact(
        lambda unit: unit.db.run(  # type: ignore[attr-defined]
            "INSERT INTO schema_migrations (version, applied_us) VALUES (?, ?)", (latest_version() + 1, 0)
        )
    )
    with pytest.raises(StoreError, match="newer than this serviceflow"):
        store.upgrade()
    store.close()


def test_rejected_token_names_do_not_touch_the_store(service: Service) -> None:
    with pytest.raises(Exception, match="scope"):
        service.create_token("x", ["superuser"])
    with pytest.raises(Exception, match="scope"):
        service.create_token("x", [])


def test_serve_re_evaluates_stale_cases_in_the_background_and_says_so(
    store: Store, engine: Engine, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    from serviceflow.live import Background

    make_service(store, engine, clock).ingest([opened(f"c{n}", f"r{n}", at()) for n in range(5)])
    stricter = Config(policies={"one-human": PolicySettings(severity="error")})
    service = make_service(
        store,
        Engine.from_config(config=stricter),
        clock,
        config=stricter,
        settings=LiveSettings(sweeper=SweeperSettings(batch=2)),
    )
    background = Background(service, sweeper=False, delivery=False)
    with caplog.at_level("INFO", logger="serviceflow.live"):
        background._reevaluate()
    assert background.stale_left == 0 and service.stale_cases() == 0
    assert "re-evaluating 5 open cases in the background" in caplog.text
    assert "1 left" in caplog.text  # it says how far it got, batch by batch


def test_a_nul_character_is_rejected_alike_on_every_store(service: Service) -> None:
    """Regression: PostgreSQL text cannot hold U+0000; such a record failed the whole request there."""
    result = service.ingest([opened("c1", "r1", at()), note("c1", "r2", at(1), text="a\x00b")])
    assert result.accepted == 1 and [(r.index, r.pointer) for r in result.rejected] == [(1, "")]
    with pytest.raises(BadRequest):
        service.findings(case_id="c\x00")
    with pytest.raises(NotFound):
        service.case("c\x00")
    with pytest.raises(BadRequest):
        service.check("c\x00", close("c\x00", "x", at()))
    with pytest.raises(BadRequest):
        service.obligations(
            cursor="WyJub3QtYS10aW1lIiwiYSIsImIiLCJjIl0"
        )  # a cursor whose deadline is no time
