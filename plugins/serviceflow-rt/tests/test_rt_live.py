"""End to end: a real RT 5, a real ``serviceflow serve`` polling it, the finding written back once.

The service runs as a user runs it (``serviceflow serve`` on 127.0.0.1, SQLite in the test's
directory, the ``rt`` plugin from its entry point): its ``rt`` source polls RT every second in a
background thread, its outbox delivers ``rt-comment``. The test creates and resolves a ticket in RT
without the customer's confirmation and waits (bounded) for what the service does about it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from serviceflow_rt.actions import ACTION_MARKER
from serviceflow_rt.client import RtClient
from serviceflow_rt.testing import RtInstance

from serviceflow.testing.serve import cli, wait_until
from serviceflow.testing.serve import running_serve as running

pytestmark = pytest.mark.rt


def serviceflow_comments(rt_client: RtClient, ticket: int) -> list[str]:
    """The texts of the comments on the ticket that carry serviceflow's marker."""
    comments = rt_client.transactions(
        f"ObjectType = 'RT::Ticket' AND ObjectId = {ticket} AND Type = 'Comment'", per_page=100
    )
    texts = []
    for comment in comments:
        parts = rt_client.attachments_of([int(comment["id"])])
        bodies = [int(part["id"]) for part in parts if part.get("ContentType") == "text/plain"]
        texts.extend(text for text in rt_client.attachment_texts(bodies).values() if ACTION_MARKER in text)
    return texts


def outbox_item(serve: Any, case_id: str) -> dict[str, Any] | None:
    status, page = serve.request("GET", "/v1/outbox?limit=1000")
    assert status == 200, page
    items = [item for item in page["items"] if item["case_id"] == case_id and item["action"] == "rt-comment"]
    assert len(items) <= 1, items
    return items[0] if items else None


def test_a_ticket_resolved_without_confirmation_is_a_violation_and_one_comment_on_the_ticket(
    rt_instance: RtInstance, rt_client: RtClient, tmp_path: Path
) -> None:
    (tmp_path / "serviceflow.toml").write_text(
        f"""
[live]
actions = ["rt-comment"]

[live.outbox]
backoff = "1s"

[sources.rt]
url = "{rt_instance.url}"
queues = ["General"]
interval = "1s"
start = "now"

[actions.rt-comment]
url = "{rt_instance.url}"
""",
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "SERVICEFLOW_LOAD_PLUGINS": "rt",
        "SERVICEFLOW_RT_TOKEN": rt_instance.token,
        "SERVICEFLOW_DB": str(tmp_path / "serviceflow.db"),
    }
    # start = "now": the first sync takes RT's newest transaction as the cursor, reading no history.
    first = cli("sync", "rt", "--once", env=env, cwd=tmp_path)
    assert first.stdout.startswith("rt: 1 poll, 0 records stored"), first.stdout

    with running(tmp_path, env) as serve:
        ticket = rt_client.create_ticket(
            "General", "Boiler still cold", "The boiler is cold again.", Requestor="maria@example.com"
        )
        rt_client.correspond(ticket, "A technician reset it, it should be fine now.")
        rt_client.update_ticket(ticket, {"Status": "resolved"})
        case_id = f"rt-{ticket}"

        def violated() -> dict[str, Any] | None:
            status, case = serve.request("GET", f"/v1/cases/{case_id}")
            if status != 200 or len(case["records"]) < 4:
                return None
            return (
                case
                if any(v["policy"] == "no-close-without-confirmation" for v in case["violations"])
                else None
            )

        case = wait_until(violated, 90, f"the source thread to sync {case_id} and find the violation")
        assert [(r["type"], r["source"]["system"]) for r in case["records"]] == [
            ("case_opened", "rt"),
            ("contact", "rt"),
            ("contact", "rt"),
            ("status_change", "rt"),
        ]
        (violation,) = [v for v in case["violations"] if v["policy"] == "no-close-without-confirmation"]
        assert violation["message"].startswith(f"Case closed by {case_id}-")
        assert violation["reason"]

        delivered = wait_until(
            lambda: (
                (item := outbox_item(serve, case_id)) is not None and item["state"] == "delivered" and item
            ),
            60,
            "the rt-comment action to be delivered",
        )
        wait_until(lambda: serviceflow_comments(rt_client, ticket), 30, "the comment to be on the ticket")
        (comment,) = serviceflow_comments(rt_client, ticket)
        assert comment.startswith("serviceflow: no-close-without-confirmation (error, violation)")
        assert violation["message"] in comment and f"Key: {delivered['idempotency_key']}" in comment
        assert f"Why: {violation['reason']}" in comment  # the reason the service gives, on the ticket too

        # A second sync and a sweep add nothing: the comment the action wrote is not read back as a
        # record, and no deadline is due.
        again = cli("sync", "rt", "--once", env=env, cwd=tmp_path)
        assert " 0 records stored" in again.stdout, again.stdout
        swept = cli("sweep", "--once", "--deliver", env=env, cwd=tmp_path)
        assert swept.stdout.startswith("swept 0 cases"), swept.stdout
        # Re-reading the ticket's whole history stores nothing twice.
        status, before = serve.request("GET", f"/v1/cases/{case_id}")
        reread = cli(
            "sync",
            "rt",
            "--once",
            "--from",
            str(int(case["records"][0]["source"]["ref"]) - 1),
            env=env,
            cwd=tmp_path,
        )
        assert " 0 records stored, 4 already held" in reread.stdout, reread.stdout
        status, after = serve.request("GET", f"/v1/cases/{case_id}")
        assert after["version"] == before["version"] == 4

        # The outbox retried by hand (as after a lost answer): the action finds its marker, writes nothing.
        status, retried = serve.request("POST", f"/v1/outbox/{delivered['id']}/retry")
        assert (status, retried["state"]) == (200, "pending")
        redelivered = wait_until(
            lambda: (
                (item := outbox_item(serve, case_id)) is not None
                and item["state"] == "delivered"
                and item["delivered_at"] != delivered["delivered_at"]
                and item
            ),
            60,
            "the retried action to be delivered again",
        )
        assert redelivered["idempotency_key"] == delivered["idempotency_key"]
        assert len(serviceflow_comments(rt_client, ticket)) == 1

    status, metrics = 0, (tmp_path / "serve.log").read_text()
    assert "Traceback" not in metrics
