"""Odd content and a misbehaving RT: the poll goes on, says what it could not read, or fails clearly.

The messages are real mail through RT's own mail gateway; the failures are RT's real answers passed
through a proxy on 127.0.0.1 that replaces some with errors or removes fields.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import pytest
from serviceflow_rt.client import RtClient, RtError
from serviceflow_rt.config import RtConfig
from serviceflow_rt.source import RtSource
from serviceflow_rt.testing import RtInstance, free_port

pytestmark = pytest.mark.rt

Validate = Callable[[list[dict[str, Any]]], None]


def mine(records: list[dict[str, Any]], ticket: int) -> list[dict[str, Any]]:
    return [record for record in records if record["case_id"] == f"rt-{ticket}"]


def new_ticket_by_mail(rt_instance: RtInstance, rt_client: RtClient, message: EmailMessage) -> int:
    before = rt_client.last_transaction_id()
    rt_instance.mailgate(bytes(message))
    created = rt_client.transactions(
        f"ObjectType = 'RT::Ticket' AND Type = 'Create' AND id > {before}", per_page=1
    )
    return int(created[0]["ObjectId"])


def customer_mail(subject: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Olga <olga@example.com>"
    message["To"] = "rt@test.local"
    message["Subject"] = subject
    return message


def test_binary_attachments_html_only_and_odd_charsets_are_read_without_stopping(
    rt_instance: RtInstance,
    rt_client: RtClient,
    rt_config: RtConfig,
    start_cursor: str,
    assert_valid_records: Validate,
) -> None:
    with_binary = customer_mail("Photo of the leak")
    with_binary.set_content("The photo is attached.")
    with_binary.add_attachment(
        os.urandom(4096) + b"\x00\x00\xff",
        maintype="application",
        subtype="octet-stream",
        filename="leak.bin",
    )
    binary_only = customer_mail("Only a file")
    binary_only.set_content(
        b"\x00\x01\x02 not text \xff\xfe", maintype="application", subtype="octet-stream", filename="dump.bin"
    )
    html_only = customer_mail("HTML mail")
    html_only.set_content(
        "<html><head><style>p{}</style></head>"
        "<body><p>Hot water <b>gone</b></p><p>since Monday</p></body></html>",
        subtype="html",
    )
    latin = customer_mail("Chauffage")
    latin.set_content("Le chauffage ne marche plus, ça fait une semaine.", charset="iso-8859-1")
    tickets = [
        new_ticket_by_mail(rt_instance, rt_client, message)
        for message in (with_binary, binary_only, html_only, latin)
    ]

    source = RtSource(rt_config)
    records, _ = source.poll(start_cursor)

    contacts = [next(r for r in mine(records, ticket) if r["type"] == "contact") for ticket in tickets]
    assert contacts[0]["text"] == "The photo is attached."
    assert [(a["filename"], a["content_type"]) for a in contacts[0]["meta"]["rt"]["attachments"]] == [
        ("leak.bin", "application/octet-stream")
    ]
    assert "text" not in contacts[1]
    assert [a["filename"] for a in contacts[1]["meta"]["rt"]["attachments"]] == ["dump.bin"]
    assert contacts[2]["text"] == "Hot water gone\nsince Monday"
    assert contacts[3]["text"] == "Le chauffage ne marche plus, ça fait une semaine."
    assert all(contact["channel"] == "email" and contact["direction"] == "inbound" for contact in contacts)
    assert source.problems == []
    assert_valid_records([r for ticket in tickets for r in mine(records, ticket)])


def test_a_huge_text_is_cut_and_a_part_too_big_to_fetch_is_left_out(
    rt_client: RtClient, desk_config_for: Callable[..., RtConfig], rt_instance: RtInstance, start_cursor: str
) -> None:
    huge = "All the details. " * 20_000  # 340,000 characters
    ticket = rt_client.create_ticket("General", "Long story", huge, Requestor="pat@example.com")
    rt_client.comment(ticket, "short")

    cut = RtSource(desk_config_for(rt_instance.url, rt_instance.token, max_text=1000))
    contact = next(r for r in mine(cut.poll(start_cursor)[0], ticket) if r["type"] == "contact")
    assert len(contact["text"]) == 1000
    assert contact["meta"]["rt"]["text_cut_from"] == len(huge.strip())

    unfetched = RtSource(desk_config_for(rt_instance.url, rt_instance.token, max_fetch_bytes=100_000))
    records = mine(unfetched.poll(start_cursor)[0], ticket)
    contact = next(r for r in records if r["type"] == "contact")
    assert "text" not in contact and "larger than max_fetch_bytes" in contact["meta"]["rt"]["problem"]
    assert next(r for r in records if r["type"] == "note")["text"] == "short"
    assert [problem.transaction for problem in unfetched.problems] == [int(contact["source"]["ref"])]


def test_rt_answering_500_for_one_message_costs_only_that_message_its_text(
    faulty_proxy: Any,
    rt_client: RtClient,
    desk_config_for: Callable[..., RtConfig],
    rt_instance: RtInstance,
    start_cursor: str,
) -> None:
    ticket = rt_client.create_ticket("General", "Flaky", "First words.", Requestor="quinn@example.com")
    rt_client.correspond(ticket, "A reply RT will fail to show.")
    rt_client.comment(ticket, "A comment.")
    reply = rt_client.transactions(f"Type = 'Correspond' AND ObjectId = {ticket}", per_page=1)[0]
    bad = int(reply["id"])

    def fail(method: str, path: str, body: bytes) -> int | None:
        if path.startswith("/REST/2.0/attachments") and body:
            query = json.loads(body)
            if any(item.get("field") == "TransactionId" and bad in item.get("value", []) for item in query):
                return 500
        return None

    faulty_proxy.fail = fail
    source = RtSource(desk_config_for(faulty_proxy.url, rt_instance.token))
    records = mine(source.poll(start_cursor)[0], ticket)

    texts = {r["type"] + ("-" + r["direction"] if "direction" in r else ""): r.get("text") for r in records}
    assert texts == {
        "case_opened": None,
        "contact-inbound": "First words.",
        "contact-outbound": None,
        "note": "A comment.",
    }
    failed = next(r for r in records if r["source"]["ref"] == str(bad))
    assert "500" in failed["meta"]["rt"]["problem"]
    assert [problem.transaction for problem in source.problems if problem.transaction == bad] == [bad]


def test_missing_and_odd_fields_in_rt_answers_skip_or_degrade_one_transaction(
    faulty_proxy: Any,
    rt_client: RtClient,
    desk_config_for: Callable[..., RtConfig],
    rt_instance: RtInstance,
    start_cursor: str,
    assert_valid_records: Validate,
) -> None:
    ticket = rt_client.create_ticket("General", "Odd", "Hello.", Requestor="rae@example.com")
    rt_client.comment(ticket, "No time on this one.")
    rt_client.comment(ticket, "No creator on this one.")
    rt_client.update_ticket(ticket, {"Status": "stalled"})
    comments = rt_client.transactions(f"Type = 'Comment' AND ObjectId = {ticket}", per_page=10)
    timeless, nameless = (int(item["id"]) for item in comments)

    def rewrite(path: str, body: Any) -> Any:
        if path.startswith("/REST/2.0/transactions") and isinstance(body, dict):
            for item in body.get("items", []):
                if int(item["id"]) == timeless:
                    del item["Created"]
                if int(item["id"]) == nameless:
                    item["Creator"] = None
                if item.get("Type") == "Status":
                    item["NewValue"] = "on-the-moon"
        return body

    faulty_proxy.rewrite = rewrite
    source = RtSource(desk_config_for(faulty_proxy.url, rt_instance.token))
    records = mine(source.poll(start_cursor)[0], ticket)

    assert [r["type"] for r in records] == ["case_opened", "contact", "note"]
    assert records[-1]["actor"] == {"role": "system", "id": "unknown"}
    messages = sorted(problem.message for problem in source.problems)
    assert any("no ticket, time or type" in message for message in messages)
    assert any("names no creator" in message for message in messages)
    assert any("'on-the-moon' is not in the status map" in message for message in messages)
    assert_valid_records(records)


@pytest.mark.parametrize("status", [500, 502, 401])
def test_rt_failing_to_list_transactions_is_an_error_and_the_cursor_stays(
    faulty_proxy: Any, desk_config_for: Callable[..., RtConfig], rt_instance: RtInstance, status: int
) -> None:
    faulty_proxy.fail = lambda method, path, body: (
        status if path.startswith("/REST/2.0/transactions") else None
    )
    source = RtSource(desk_config_for(faulty_proxy.url, rt_instance.token))
    with pytest.raises(RtError) as raised:
        source.poll("0")
    assert raised.value.status == status and not raised.value.unreachable
    assert f"RT answered {status}" in str(raised.value)


def test_rt_answering_something_that_is_not_json_is_an_error(
    faulty_proxy: Any, desk_config_for: Callable[..., RtConfig], rt_instance: RtInstance
) -> None:
    faulty_proxy.rewrite = lambda path, body: (
        b"<html>maintenance</html>" if path.startswith("/REST/2.0/transactions") else body
    )
    with pytest.raises(RtError, match="not JSON"):
        RtSource(desk_config_for(faulty_proxy.url, rt_instance.token)).poll("0")


def test_rt_not_running_is_an_unreachable_error(
    desk_config_for: Callable[..., RtConfig], rt_instance: RtInstance
) -> None:
    source = RtSource(desk_config_for(f"http://127.0.0.1:{free_port()}", rt_instance.token, timeout=5))
    with pytest.raises(RtError) as raised:
        source.poll(None)
    assert raised.value.unreachable and raised.value.status is None


def test_a_bad_token_is_an_error_naming_the_status(
    desk_config_for: Callable[..., RtConfig], rt_instance: RtInstance
) -> None:
    with pytest.raises(RtError) as raised:
        RtSource(desk_config_for(rt_instance.url, "1-14-0000000000000000000000000000")).poll(None)
    assert raised.value.status == 401
