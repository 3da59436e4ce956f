"""The mapping alone (no RT): edge cases of statuses, dates, custom fields, actors and text."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from serviceflow_rt.config import CustomFieldRule, RtConfig
from serviceflow_rt.mapping import (
    RtMessage,
    RtTicket,
    RtTransaction,
    RtUser,
    html_to_text,
    parse_rt_date,
    records_for,
)

Validate = Callable[[list[dict[str, Any]]], None]
AT = datetime(2024, 5, 6, 9, 30, tzinfo=UTC)
CONFIG = RtConfig(
    url="http://rt.invalid",
    token="t",
    custom_fields=(
        CustomFieldRule("Customer confirmed", "confirmation"),
        CustomFieldRule("Capacity", "capacity_check"),
        CustomFieldRule("Concession", "concession"),
    ),
    escalation_owners=("*",),
)
TICKET = RtTicket(
    7, queue="General", subject="Leak", requestors=("ann@example.com",), owner="jane", due=AT.replace(day=9)
)
STAFF = RtUser("jane", "jane@desk.test", "Jane Agent", privileged=True)


def transaction(kind: str, **fields: Any) -> RtTransaction:
    values: dict[str, Any] = {
        "id": 100,
        "ticket": TICKET,
        "type": kind,
        "created": AT,
        "creator": STAFF,
        **fields,
    }
    return RtTransaction(**values)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2030-01-02 10:00:00", datetime(2030, 1, 2, 10, tzinfo=UTC)),
        ("2030-01-02T10:00:00Z", datetime(2030, 1, 2, 10, tzinfo=UTC)),
        ("2030-01-02T10:00:00", datetime(2030, 1, 2, 10, tzinfo=UTC)),
        ("2030-01-02T12:00:00+0200", datetime(2030, 1, 2, 10, tzinfo=UTC)),
        ("1970-01-01 00:00:00", None),
        ("1970-01-01T00:00:00Z", None),
        ("", None),
        ("next tuesday", None),
        ("2030-13-45 99:00:00", None),
        (None, None),
    ],
)
def test_rt_dates_in_both_forms_rt_writes_and_unset_ones(text: str | None, expected: datetime | None) -> None:
    assert parse_rt_date(text) == expected


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("new", "open", None),  # both serviceflow's open: no change to record
        ("open", "stalled", ("on_hold", "open")),
        ("stalled", "open", ("open", "on_hold")),
        ("open", "resolved", ("closed", "open")),
        ("resolved", "rejected", None),  # closed -> closed
        ("resolved", "open", ("reopened", "closed")),
        ("rejected", "stalled", ("reopened", "closed")),
        ("Open", "RESOLVED", ("closed", "open")),
    ],
)
def test_rt_statuses_map_to_serviceflows_and_leaving_a_closed_one_is_a_reopen(
    old: str, new: str, expected: tuple[str, str] | None
) -> None:
    records = [
        r
        for r in records_for(transaction("Status", old_value=old, new_value=new), CONFIG)
        if r["type"] == "status_change"
    ]
    assert [(r["to"], r["from"]) for r in records] == ([expected] if expected else [])


def test_an_unknown_rt_status_makes_no_record_and_says_so() -> None:
    odd = transaction("Status", old_value="open", new_value="awaiting-parts")
    assert records_for(odd, CONFIG) == []
    assert odd.problems == ["RT status 'awaiting-parts' is not in the status map; no record"]


def test_closing_with_a_due_date_fulfils_the_due_commitment_and_reopening_does_not() -> None:
    closing = records_for(transaction("Status", old_value="open", new_value="resolved"), CONFIG)
    assert [(r["type"], r.get("commitment_id")) for r in closing] == [
        ("status_change", None),
        ("fulfillment", "rt-7-due"),
    ]
    reopening = records_for(transaction("Status", old_value="resolved", new_value="open"), CONFIG)
    assert [r["type"] for r in reopening] == ["status_change"]


def test_a_ticket_created_without_requestor_or_text_is_only_opened() -> None:
    bare = RtTicket(8)
    records = records_for(transaction("Create", ticket=bare, message=RtMessage()), CONFIG)
    assert [r["type"] for r in records] == ["case_opened"]
    assert "customer_id" not in records[0]


def test_a_queues_default_due_on_a_customers_mail_is_the_desks_promise() -> None:
    customer = RtUser("ann@example.com")
    records = records_for(
        transaction(
            "Create", creator=customer, message=RtMessage("Help", interface="Email"), due_at_create=AT
        ),
        CONFIG,
    )
    commitment = next(r for r in records if r["type"] == "commitment")
    assert commitment["actor"] == {"role": "system", "id": "RT_System"}
    assert [r["channel"] for r in records if "channel" in r] == ["email", "email"]


@pytest.mark.parametrize(
    ("user", "role"),
    [
        (RtUser("jane", privileged=True), "agent"),
        (RtUser("ann@example.com", privileged=True), "customer"),  # a requestor, even if staff
        (RtUser("cc@example.com", privileged=False), "customer"),
        (RtUser("who", privileged=None), "agent"),  # RT could not say: taken for staff
        (RtUser("RT_System"), "system"),
        (RtUser(""), "system"),
        (RtUser("Ann", email="ANN@example.com"), "customer"),
    ],
)
def test_who_wrote_decides_the_direction_of_a_correspondence(user: RtUser, role: str) -> None:
    (contact,) = records_for(transaction("Correspond", creator=user, message=RtMessage("Hi")), CONFIG)
    assert contact["actor"]["role"] == role
    assert contact["direction"] == ("inbound" if role == "customer" else "outbound")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("", "2030-01-02 10:00:00", ("commitment", "2030-01-02T10:00:00Z")),
        ("1970-01-01 00:00:00", "2030-01-02 10:00:00", ("commitment", "2030-01-02T10:00:00Z")),
        ("2030-01-02 10:00:00", "2030-01-05 10:00:00", ("reschedule", "2030-01-05T10:00:00Z")),
        ("2030-01-02 10:00:00", "2030-01-02T10:00:00Z", None),  # the same instant written differently
        ("2030-01-02 10:00:00", "1970-01-01 00:00:00", None),  # cleared: the promise stands
    ],
)
def test_due_changes(old: str, new: str, expected: tuple[str, str] | None) -> None:
    records = records_for(transaction("Set", field="Due", old_value=old, new_value=new), CONFIG)
    assert [(r["type"], r.get("due") or r.get("new_due")) for r in records] == (
        [expected] if expected else []
    )


def test_an_unreadable_due_makes_no_record_and_says_so() -> None:
    odd = transaction("Set", field="Due", old_value="", new_value="tomorrow-ish")
    assert records_for(odd, CONFIG) == []
    assert "not a date" in odd.problems[0]


def test_owner_changes_to_nobody_are_not_escalations() -> None:
    assert (
        records_for(
            transaction("Set", field="Owner", old_value="14", new_value="6", new_name="Nobody"), CONFIG
        )
        == []
    )
    (escalation,) = records_for(transaction("Set", field="Owner", old_name="Nobody", new_name="jane"), CONFIG)
    assert (escalation["to"], escalation["reason"]) == ("jane", "owner changed from Nobody to jane")


@pytest.mark.parametrize(
    ("value", "terms"),
    [
        ("credit 20 EUR", {"kind": "credit", "amount": 20.0, "currency": "EUR"}),
        ("Refund 12,50 usd", {"kind": "refund", "amount": 12.5}),
        ("discount 10%", {"kind": "discount", "amount": 10.0}),
        ("free-service", {"kind": "free_service"}),
        ("a bottle of wine", {"kind": "gesture"}),
    ],
)
def test_concession_values(value: str, terms: dict[str, Any]) -> None:
    (concession,) = records_for(
        transaction("CustomField", custom_field="concession", new_value=value), CONFIG
    )
    assert {k: concession[k] for k in ("kind", "amount", "currency") if k in concession} == terms
    assert concession["commitment_id"] == "rt-7-due"


def test_custom_field_values_that_mean_nothing_make_no_record() -> None:
    maybe = transaction("CustomField", custom_field="Customer confirmed", new_value="maybe")
    removed = transaction("CustomField", custom_field="Customer confirmed", old_value="yes", new_value="")
    unmapped = transaction("CustomField", custom_field="Colour", new_value="blue")
    capacity = transaction("CustomField", custom_field="Capacity", new_value="soonish")
    assert [records_for(t, CONFIG) for t in (maybe, removed, unmapped, capacity)] == [[], [], [], []]
    assert maybe.problems and capacity.problems and not removed.problems and not unmapped.problems


def test_a_capacity_no_is_a_check_that_is_not_confirmed() -> None:
    (check,) = records_for(transaction("CustomField", custom_field="Capacity", new_value="No"), CONFIG)
    assert (check["confirmed"], check["resource"], check["window"]["end"]) == (
        False,
        "jane",
        "2024-05-09T09:30:00Z",
    )


def test_every_kind_of_record_the_mapping_makes_is_valid(assert_valid_records: Validate) -> None:
    message = RtMessage(
        "Hello",
        interface="Web",
        attachments=({"filename": "a.pdf", "content_type": "application/pdf", "size": 9},),
        cut_from=99,
    )
    transactions = [
        transaction("Create", id=1, message=message, due_at_create=AT),
        transaction("Correspond", id=2, message=message),
        transaction("Comment", id=3, message=RtMessage("")),
        transaction("Status", id=4, old_value="open", new_value="resolved"),
        transaction(
            "Set", id=5, field="Due", old_value="2030-01-01 00:00:00", new_value="2030-01-02 00:00:00"
        ),
        transaction("Set", id=6, field="Queue", old_name="General", new_name="Escalations"),
        transaction("Set", id=7, field="Owner", old_name="Nobody", new_name="jane"),
        transaction("CustomField", id=8, custom_field="Customer confirmed", new_value="yes"),
        transaction("CustomField", id=9, custom_field="Capacity", new_value="2030-01-02 00:00:00"),
        transaction("CustomField", id=10, custom_field="Concession", new_value="refund 5 GBP"),
    ]
    config = RtConfig(
        url=CONFIG.url,
        token="t",
        custom_fields=CONFIG.custom_fields,
        escalation_queues=("Escalations",),
        escalation_owners=("jane",),
    )
    records = [record for t in transactions for record in records_for(t, config)]
    assert {r["type"] for r in records} == {
        "case_opened", "contact", "commitment", "note", "status_change", "fulfillment", "reschedule",
        "escalation", "confirmation", "capacity_check", "concession",
    }  # fmt: skip
    assert len({r["id"] for r in records}) == len(records)
    assert_valid_records(records)


def test_html_becomes_its_visible_text() -> None:
    html = (
        "<html><head><title>x</title><script>alert(1)</script></head>"
        "<body><p>Line  one</p>two<br>three &amp; four</body></html>"
    )
    assert html_to_text(html) == "Line one\ntwo\nthree & four"
