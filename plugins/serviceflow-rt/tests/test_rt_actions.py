"""Findings out: a comment on the ticket, written once per idempotency key, against the real RT."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from serviceflow_rt import actions
from serviceflow_rt.actions import NotAnRtCase, comment_on_ticket, marker
from serviceflow_rt.client import RtClient, RtError
from serviceflow_rt.config import RtConfig
from serviceflow_rt.source import RtSource
from serviceflow_rt.testing import RtInstance

from serviceflow.plugin import ActionContext, Evaluation, Finding, Severity, Status

pytestmark = pytest.mark.rt


def finding_for(ticket: int, **changes: Any) -> dict[str, Any]:
    return {
        "policy": "no-close-without-confirmation",
        "severity": "error",
        "status": "violation",
        "case_id": f"rt-{ticket}",
        "record_id": f"rt-{ticket}-99",
        "message": "Case closed by rt-99 without the customer confirming the problem is resolved",
        "reason": "none of /require held: no confirmation after the last reopen",
        **changes,
    }


def comments_of(rt_client: RtClient, ticket: int) -> list[dict[str, Any]]:
    return rt_client.transactions(
        f"ObjectType = 'RT::Ticket' AND ObjectId = {ticket} AND Type = 'Comment'", per_page=100
    )


def test_the_comment_names_policy_message_and_reason_and_is_written_once(
    rt_client: RtClient, rt_config: RtConfig, start_cursor: str
) -> None:
    ticket = rt_client.create_ticket("General", "Closed too soon", "Help.", Requestor="lee@example.com")
    finding = finding_for(ticket)

    first = comment_on_ticket(rt_client, finding, "outbox-17/attempt")
    again = comment_on_ticket(rt_client, finding, "outbox-17/attempt")

    assert (first.written, again.written) == (True, False)
    assert "already commented" in again.detail
    comments = comments_of(rt_client, ticket)
    assert len(comments) == 1
    text = rt_client.attachment_texts(
        [
            int(part["id"])
            for part in rt_client.attachments_of([int(comments[0]["id"])])
            if part["ContentType"] == "text/plain"
        ]
    )
    body = next(iter(text.values()))
    assert "no-close-without-confirmation (error, violation)" in body
    assert finding["message"] in body and f"Why: {finding['reason']}" in body
    assert marker("outbox-17/attempt") in body


def test_another_key_on_the_same_ticket_writes_another_comment(rt_client: RtClient) -> None:
    ticket = rt_client.create_ticket("General", "Two findings", "Hi.", Requestor="max@example.com")
    comment_on_ticket(rt_client, finding_for(ticket), "key-a")
    comment_on_ticket(rt_client, finding_for(ticket, policy="respond-promptly"), "key-b")
    comment_on_ticket(rt_client, finding_for(ticket), "key-a")
    assert len(comments_of(rt_client, ticket)) == 2


def test_a_reply_quoting_the_comment_is_not_taken_for_it(rt_client: RtClient) -> None:
    ticket = rt_client.create_ticket("General", "Quoted", "Hi.", Requestor="ned@example.com")
    rt_client.correspond(ticket, f"Our checker said:\n{marker('key-q')}")
    outcome = comment_on_ticket(rt_client, finding_for(ticket), "key-q")
    assert outcome.written and len(comments_of(rt_client, ticket)) == 1


def test_the_action_can_set_a_custom_field_and_move_the_ticket_once(rt_client: RtClient) -> None:
    ticket = rt_client.create_ticket("General", "Escalate me", "Angry.", Requestor="oz@example.com")
    options: dict[str, Any] = {
        "custom_field": ("Policy flag", "no-close-without-confirmation"),
        "escalation_queue": "Escalations",
    }

    first = comment_on_ticket(rt_client, finding_for(ticket), "key-e", **options)
    rt_client.update_ticket(
        ticket, {"Queue": "General"}
    )  # a person moves it back: a retry must not undo that
    again = comment_on_ticket(rt_client, finding_for(ticket), "key-e", **options)

    assert first.written and "moved to Escalations" in first.detail and not again.written
    data = rt_client.ticket(ticket)
    assert data["Queue"]["Name"] == "General"
    flags = next(field["values"] for field in data["CustomFields"] if field["name"] == "Policy flag")
    assert flags == ["no-close-without-confirmation"]
    assert len(comments_of(rt_client, ticket)) == 1


def test_a_change_rt_refuses_is_an_error_and_no_comment_is_written(rt_client: RtClient) -> None:
    ticket = rt_client.create_ticket("General", "No such queue", "Hi.", Requestor="pia@example.com")
    with pytest.raises(RtError, match="did not apply"):
        comment_on_ticket(rt_client, finding_for(ticket), "key-r", escalation_queue="Nowhere")
    assert comments_of(rt_client, ticket) == []


def test_a_case_that_is_not_an_rt_ticket_is_refused(rt_client: RtClient) -> None:
    with pytest.raises(NotAnRtCase):
        comment_on_ticket(rt_client, finding_for(1, case_id="milkyway-leak"), "key-x")


def test_the_source_does_not_read_the_actions_comment_back_as_a_note(
    rt_client: RtClient, rt_config: RtConfig, start_cursor: str
) -> None:
    ticket = rt_client.create_ticket("General", "Feedback loop", "Hi.", Requestor="ria@example.com")
    rt_client.comment(ticket, "A person's note.")
    comment_on_ticket(rt_client, finding_for(ticket, message="no root-cause note followed"), "key-loop")
    notes = [
        r["text"]
        for r in RtSource(rt_config).poll(start_cursor)[0]
        if r["type"] == "note" and r["case_id"] == f"rt-{ticket}"
    ]
    assert notes == ["A person's note."]


def test_the_registered_rt_comment_action_uses_the_finding_key(
    rt_instance: RtInstance, rt_client: RtClient, desk_config_for: Callable[..., RtConfig]
) -> None:
    ticket = rt_client.create_ticket("General", "Via lint --action", "Hi.", Requestor="sam@example.com")
    act = actions.create(
        {
            "url": rt_instance.url,
            "token": rt_instance.token,
            "custom-field": "Policy flag",
            "custom-field-value": "checked",
        }
    )
    finding = Finding(
        policy="no-close-without-confirmation",
        severity=Severity.ERROR,
        status=Status.VIOLATION,
        case_id=f"rt-{ticket}",
        record_id=f"rt-{ticket}-5",
        message="closed without confirmation",
    )
    context = ActionContext(
        now=datetime(2030, 1, 1, tzinfo=UTC), evaluation=Evaluation(now=datetime(2030, 1, 1, tzinfo=UTC))
    )

    details = [act(finding, context), act(finding, context)]
    skipped = act(dataclasses.replace(finding, case_id="elsewhere-1"), context)

    assert details[0].endswith("commented, set Policy flag") and "already commented" in details[1]
    assert skipped.startswith("skipped")
    assert len(comments_of(rt_client, ticket)) == 1


def test_lint_action_rt_comment_writes_a_resolved_tickets_violation_on_it_once(
    rt_instance: RtInstance, rt_client: RtClient, rt_config: RtConfig, start_cursor: str, tmp_path: Path
) -> None:
    ticket = rt_client.create_ticket(
        "General", "Resolved unconfirmed", "Broken.", Requestor="tia@example.com"
    )
    rt_client.correspond(ticket, "Fixed it.")
    rt_client.update_ticket(ticket, {"Status": "resolved"})
    records = [r for r in RtSource(rt_config).poll(start_cursor)[0] if r["case_id"] == f"rt-{ticket}"]
    export = tmp_path / "rt.jsonl"
    export.write_text("".join(json.dumps(record) + "\n" for record in records))
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "rt.py").write_text("from serviceflow_rt.plugin import serviceflow_actions  # noqa: F401\n")
    config = tmp_path / "serviceflow.toml"
    config.write_text(f'[actions.rt-comment]\nurl = "{rt_instance.url}"\ntoken = "{rt_instance.token}"\n')
    arguments = [
        *("lint", str(export), "--now", records[-1]["at"], "--fail-on", "never", "--format", "json"),
        *("--action", "rt-comment", "--config", str(config), "--plugins-dir", str(plugins)),
    ]

    from serviceflow.cli import main

    runs = [CliRunner().invoke(main, arguments, env={"SERVICEFLOW_LOAD_PLUGINS": ""}) for _ in range(2)]

    assert [run.exit_code for run in runs] == [0, 0], runs[0].output
    report = json.loads(runs[0].stdout)
    assert "no-close-without-confirmation" in {v["policy"] for v in report["violations"]}
    bodies = [
        text
        for comment in comments_of(rt_client, ticket)
        for text in rt_client.attachment_texts(
            [
                int(p["id"])
                for p in rt_client.attachments_of([int(comment["id"])])
                if p["ContentType"] == "text/plain"
            ]
        ).values()
    ]
    assert len(bodies) == len(report["violations"])
    assert sum("serviceflow: no-close-without-confirmation" in body for body in bodies) == 1
