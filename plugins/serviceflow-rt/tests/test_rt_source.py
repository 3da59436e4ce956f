"""RT history in: real tickets in a real RT 5 become serviceflow records, once, valid, with RT's ids."""

from __future__ import annotations

import json
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from serviceflow_rt.client import RtClient
from serviceflow_rt.config import RtConfig
from serviceflow_rt.source import RtSource, sync_once
from serviceflow_rt.testing import RtInstance

pytestmark = pytest.mark.rt

Validate = Callable[[list[dict[str, Any]]], None]


def mail(sender: str, subject: str, text: str) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "rt@test.local"
    message["Subject"] = subject
    message.set_content(text)
    return bytes(message)


def case_records(records: list[dict[str, Any]], ticket: int) -> list[dict[str, Any]]:
    return [record for record in records if record["case_id"] == f"rt-{ticket}"]


def summary(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(r["type"], r.get("direction"), r["actor"]["role"], r.get("channel")) for r in records]


def test_a_ticket_history_becomes_the_records_of_one_case(
    rt_instance: RtInstance,
    rt_client: RtClient,
    rt_config: RtConfig,
    start_cursor: str,
    assert_valid_records: Validate,
) -> None:
    ticket = rt_client.create_ticket("General", "Printer on fire", "It burns.", Requestor="alice@example.com")
    rt_client.correspond(ticket, "We are sending an extinguisher.")
    rt_instance.mailgate(
        mail(
            "Alice <alice@example.com>",
            f"[rt.test.local #{ticket}] Re: Printer on fire",
            "It is out, thanks.",
        )
    )
    rt_client.comment(ticket, "Check the toner vendor.")
    rt_client.update_ticket(ticket, {"Status": "resolved"})

    records, cursor = RtSource(rt_config).poll(start_cursor)

    mine = case_records(records, ticket)
    assert summary(mine) == [
        ("case_opened", None, "agent", "web"),
        ("contact", "inbound", "customer", "web"),
        ("contact", "outbound", "agent", "email"),
        ("contact", "inbound", "customer", "email"),
        ("note", None, "agent", None),
        ("status_change", None, "agent", None),
    ]
    opened, first, reply, answer, note, closed = mine
    assert opened["subject"] == "Printer on fire"
    assert (first["text"], reply["text"], answer["text"], note["text"]) == (
        "It burns.",
        "We are sending an extinguisher.",
        "It is out, thanks.",
        "Check the toner vendor.",
    )
    assert first["actor"] == {"role": "customer", "id": "alice@example.com"}
    assert answer["actor"]["id"] == "alice@example.com"
    assert (closed["from"], closed["to"], closed["meta"]["rt"]["to"]) == ("open", "closed", "resolved")
    assert {record["customer_id"] for record in mine} == {"alice@example.com"}
    for record in mine:
        transaction = record["source"]["ref"]
        assert record["source"] == {"system": "rt", "ref": transaction}
        assert record["id"].startswith(f"rt-{ticket}-{transaction}")
        assert int(transaction) > int(start_cursor)
        assert record["at"].endswith("Z")
    assert int(cursor) >= max(int(record["source"]["ref"]) for record in mine)
    assert_valid_records(mine)


def test_a_second_poll_from_the_returned_cursor_adds_nothing(
    rt_client: RtClient, rt_config: RtConfig, start_cursor: str
) -> None:
    ticket = rt_client.create_ticket(
        "General", "Cold radiator", "Nothing works.", Requestor="bob@example.com"
    )
    rt_client.correspond(ticket, "A technician comes tomorrow.")
    source = RtSource(rt_config)
    records, cursor = source.poll(start_cursor)
    assert case_records(records, ticket)

    assert source.poll(cursor) == ([], cursor)
    assert RtSource(rt_config).poll(cursor) == ([], cursor)


def test_reading_the_same_history_again_gives_the_same_records(
    rt_client: RtClient, rt_config: RtConfig, start_cursor: str
) -> None:
    ticket = rt_client.create_ticket("Support", "Leak", "Water everywhere.", Requestor="carol@example.com")
    rt_client.comment(ticket, "Plumber needed.")
    first = RtSource(rt_config).poll(start_cursor)
    again = RtSource(rt_config).poll(start_cursor)
    assert first == again
    assert len({record["id"] for record in first[0]}) == len(first[0])


def test_a_poll_stops_at_max_transactions_and_the_next_goes_on(
    rt_client: RtClient, desk_config_for: Callable[..., RtConfig], rt_instance: RtInstance, start_cursor: str
) -> None:
    ticket = rt_client.create_ticket("General", "Many replies", "Hello.", Requestor="dan@example.com")
    for number in range(3):
        rt_client.comment(ticket, f"Comment {number}.")
    source = RtSource(desk_config_for(rt_instance.url, rt_instance.token, max_transactions=2, page_size=1))
    seen: list[dict[str, Any]] = []
    cursor = start_cursor
    for _ in range(10):
        records, cursor = source.poll(cursor)
        if not records:
            break
        seen.extend(records)
    assert [record["type"] for record in case_records(seen, ticket)] == [
        "case_opened",
        "contact",
        "note",
        "note",
        "note",
    ]
    assert seen == RtSource(desk_config_for(rt_instance.url, rt_instance.token)).poll(start_cursor)[0]


def test_moves_to_an_escalation_queue_and_owner_are_escalations(
    rt_client: RtClient, rt_config: RtConfig, start_cursor: str, assert_valid_records: Validate
) -> None:
    ticket = rt_client.create_ticket(
        "General", "Refund dispute", "I want my money back.", Requestor="erin@example.com"
    )
    rt_client.update_ticket(ticket, {"Owner": "root"})  # not configured as an escalation
    rt_client.update_ticket(ticket, {"Queue": "Escalations"})
    rt_client.update_ticket(ticket, {"Owner": "jane"})

    mine = case_records(RtSource(rt_config).poll(start_cursor)[0], ticket)

    escalations = [(r["to"], r["reason"]) for r in mine if r["type"] == "escalation"]
    assert escalations == [
        ("Escalations", "moved from queue General to Escalations"),
        ("jane", "owner changed from root to jane"),
    ]
    assert_valid_records(mine)


def test_the_due_date_is_a_commitment_rescheduled_and_fulfilled(
    rt_client: RtClient, rt_config: RtConfig, start_cursor: str, assert_valid_records: Validate
) -> None:
    ticket = rt_client.create_ticket(
        "General",
        "Boiler service",
        "Please service it.",
        Requestor="fay@example.com",
        Due="2030-01-02 10:00:00",
    )
    rt_client.update_ticket(ticket, {"Due": "2030-01-03 16:00:00"})
    rt_client.update_ticket(ticket, {"Status": "resolved"})
    later = rt_client.create_ticket("General", "No due at first", "Hi.", Requestor="fay@example.com")
    rt_client.update_ticket(later, {"Due": "2030-02-01 09:00:00"})

    records = RtSource(rt_config).poll(start_cursor)[0]

    mine = case_records(records, ticket)
    commitment = next(r for r in mine if r["type"] == "commitment")
    assert (commitment["commitment_id"], commitment["due"]) == (f"rt-{ticket}-due", "2030-01-02T10:00:00Z")
    reschedule = next(r for r in mine if r["type"] == "reschedule")
    assert (reschedule["new_due"], reschedule["customer_agreed"]) == ("2030-01-03T16:00:00Z", False)
    fulfillment = next(r for r in mine if r["type"] == "fulfillment")
    assert fulfillment["commitment_id"] == f"rt-{ticket}-due"
    late = next(r for r in case_records(records, later) if r["type"] == "commitment")
    assert late["due"] == "2030-02-01T09:00:00Z"
    assert_valid_records(mine + case_records(records, later))


def test_custom_fields_become_capacity_checks_confirmations_and_concessions(
    rt_client: RtClient, rt_config: RtConfig, start_cursor: str, assert_valid_records: Validate
) -> None:
    ticket = rt_client.create_ticket(
        "General", "Broken fridge", "It is warm.", Requestor="gus@example.com", Due="2030-03-01 12:00:00"
    )
    rt_client.update_ticket(ticket, {"CustomFields": {"Capacity confirmed": "yes"}})
    rt_client.update_ticket(ticket, {"CustomFields": {"Capacity confirmed": "2030-03-05 18:00:00"}})
    rt_client.update_ticket(ticket, {"CustomFields": {"Concession": "credit 20 EUR"}})
    rt_client.update_ticket(ticket, {"CustomFields": {"Customer confirmed": "no"}})
    rt_client.update_ticket(ticket, {"CustomFields": {"Customer confirmed": "yes"}})
    rt_client.update_ticket(ticket, {"CustomFields": {"Policy flag": "whatever"}})  # not mapped

    mine = case_records(RtSource(rt_config).poll(start_cursor)[0], ticket)

    checks = [r for r in mine if r["type"] == "capacity_check"]
    assert [(c["confirmed"], c["window"]["end"], c["resource"]) for c in checks] == [
        (True, "2030-03-01T12:00:00Z", "unassigned"),
        (True, "2030-03-05T18:00:00Z", "unassigned"),
    ]
    concession = next(r for r in mine if r["type"] == "concession")
    assert {k: concession[k] for k in ("kind", "amount", "currency", "commitment_id")} == {
        "kind": "credit",
        "amount": 20.0,
        "currency": "EUR",
        "commitment_id": f"rt-{ticket}-due",
    }
    confirmations = [r for r in mine if r["type"] == "confirmation"]
    assert [(c["resolved"], c["actor"]["id"], c["meta"]["rt"]["recorded_by"]) for c in confirmations] == [
        (False, "gus@example.com", "root"),
        (True, "gus@example.com", "root"),
    ]
    assert_valid_records(mine)


def test_a_customer_writing_to_a_resolved_ticket_reopens_the_case(
    rt_instance: RtInstance, rt_client: RtClient, rt_config: RtConfig, start_cursor: str
) -> None:
    ticket = rt_client.create_ticket("General", "Door lock", "Stuck.", Requestor="hal@example.com")
    rt_client.update_ticket(ticket, {"Status": "resolved"})
    rt_instance.mailgate(mail("hal@example.com", f"[rt.test.local #{ticket}] Re: Door lock", "Still stuck!"))

    mine = case_records(RtSource(rt_config).poll(start_cursor)[0], ticket)

    changes = [(r.get("from"), r["to"], r["actor"]["role"]) for r in mine if r["type"] == "status_change"]
    assert changes == [("open", "closed", "agent"), ("closed", "reopened", "system")]  # RT reopens it itself


def test_rt_status_resolved_without_confirmation_is_a_violation_and_with_it_is_not(
    rt_client: RtClient, rt_config: RtConfig, start_cursor: str, tmp_path: Path
) -> None:
    unconfirmed = rt_client.create_ticket("General", "Tap drips", "Drip drip.", Requestor="ivy@example.com")
    rt_client.correspond(unconfirmed, "Fixed the washer.")
    rt_client.update_ticket(unconfirmed, {"Status": "resolved"})
    confirmed = rt_client.create_ticket("General", "Tap drips too", "Drip.", Requestor="jo@example.com")
    rt_client.correspond(confirmed, "Fixed the washer.")
    rt_client.update_ticket(confirmed, {"CustomFields": {"Customer confirmed": "yes"}})
    rt_client.update_ticket(confirmed, {"Status": "resolved"})
    records = RtSource(rt_config).poll(start_cursor)[0]
    export = tmp_path / "rt.jsonl"
    export.write_text("".join(json.dumps(record) + "\n" for record in records))
    now = max(record["at"] for record in records)

    from serviceflow.cli import main

    result = CliRunner().invoke(
        main,
        ["lint", str(export), "--now", now, "--format", "json", "--fail-on", "never"],
        env={"SERVICEFLOW_LOAD_PLUGINS": ""},
    )

    assert result.exit_code == 0, result.output
    violations = json.loads(result.output)["violations"]
    closing = {
        (v["case_id"], v["record_id"]) for v in violations if v["policy"] == "no-close-without-confirmation"
    }
    closed_without = next(r["id"] for r in case_records(records, unconfirmed) if r["type"] == "status_change")
    assert closing == {(f"rt-{unconfirmed}", closed_without)}


def test_sync_once_appends_records_and_keeps_the_cursor_in_a_file(
    rt_client: RtClient, rt_config: RtConfig, start_cursor: str, tmp_path: Path
) -> None:
    state, output = tmp_path / "rt.cursor", tmp_path / "rt.jsonl"
    state.write_text(start_cursor + "\n")
    ticket = rt_client.create_ticket("General", "Sync me", "Please.", Requestor="kim@example.com")
    source = RtSource(rt_config)

    first = sync_once(source, state, output)
    second = sync_once(source, state, output)

    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert [r["type"] for r in case_records(lines, ticket)] == ["case_opened", "contact"]
    assert first.records == len(lines) and second.records == 0
    assert state.read_text().strip() == first.cursor == second.cursor
