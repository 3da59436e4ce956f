"""End to end: a Dovecot mailbox polled by the service's ``imap`` source; a thread becomes one case.

``serviceflow sync support --once`` runs as a user runs it (the installed ``email`` plugin's source,
``[sources.support]`` in serviceflow.toml, a SQLite store), each run a new process-like invocation with
no memory of the last but the store; the case is then read back through the HTTP API.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from serviceflow_email.testing import DovecotMailbox, dovecot_missing
from test_email_imap_source import mail, skip_or_fail

from serviceflow import Engine
from serviceflow.cli import main
from serviceflow.config import load_config
from serviceflow.live import ManualClock, Service
from serviceflow.plugins import discover
from serviceflow.stores import open_store
from serviceflow.timeutil import parse_datetime

CASE = "CASE-310"
OPENING = mail(
    "Hello,\n\nthe radiator in the hall leaks. Can someone come this week?\n\nMaria\n",
    From="Maria Lopez <maria@customer.example>",
    To="Acme Support <support@acme.example>",
    Subject=f"[#{CASE}] Radiator leaking",
    Date="Mon, 06 May 2024 09:00:00 -0400",
    Message_ID="<m1.maria@customer.example>",
)
ANSWER = mail(
    "Hello Maria,\n\nsorry about the leak. Sam will come on Wednesday at 9:00.\n\nKind regards,\nJake\n\n"
    "On Mon, 6 May 2024, Maria Lopez wrote:\n> the radiator in the hall leaks.\n",
    From="Jake Rivera <jake@acme.example>",
    To="Maria Lopez <maria@customer.example>",
    Subject=f"Re: [#{CASE}] Radiator leaking",
    Date="Mon, 06 May 2024 10:10:00 -0400",
    Message_ID="<a1.jake@acme.example>",
    In_Reply_To="<m1.maria@customer.example>",
    References="<m1.maria@customer.example>",
)
# Her mail client dropped the tag and the References chain: only the store knows which case this is.
FOLLOW_UP = mail(
    "Wednesday is fine, thanks. The floor is getting wet though.\n\n> Sam will come on Wednesday at 9:00.\n",
    From="Maria Lopez <maria@customer.example>",
    To="Jake Rivera <jake@acme.example>",
    Subject="Re: Radiator leaking",
    Date="Mon, 06 May 2024 11:30:00 -0400",
    Message_ID="<m2.maria@customer.example>",
    In_Reply_To="<a1.jake@acme.example>",
)
OUT_OF_OFFICE = mail(
    "I am out of the office until Thursday.\n",
    From="Maria Lopez <maria@customer.example>",
    To="Jake Rivera <jake@acme.example>",
    Subject="Automatic reply: Re: [#CASE-310] Radiator leaking",
    Date="Mon, 06 May 2024 10:11:00 -0400",
    Message_ID="<ooo.maria@customer.example>",
    In_Reply_To="<a1.jake@acme.example>",
    Auto_Submitted="auto-replied",
)
NEWSLETTER = mail(
    "Our spring offers!\n",
    From="Plumbing Weekly <news@plumbing-weekly.example>",
    To="support@acme.example",
    Subject="Spring offers",
    Date="Mon, 06 May 2024 06:00:00 +0000",
    Message_ID="<news-1@plumbing-weekly.example>",
    Precedence="bulk",
)


@pytest.fixture
def dovecot() -> Iterator[DovecotMailbox]:
    skip_or_fail(dovecot_missing())
    with DovecotMailbox() as mailbox:
        yield mailbox


def append(dovecot: DovecotMailbox, *messages: bytes) -> None:
    arrived = datetime(2024, 5, 6, 16, 0, tzinfo=UTC)
    for index, raw in enumerate(messages):
        dovecot.append(raw, internaldate=arrived + timedelta(minutes=index))


def sync(directory: Path, *extra: str) -> str:
    result = CliRunner().invoke(
        main,
        ["sync", "support", "--once", "--now", "2024-05-06T16:00:00Z", *extra],
        env={"SERVICEFLOW_LOAD_PLUGINS": "email", "SERVICEFLOW_DB": str(directory / "serviceflow.db")},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def test_an_email_thread_in_dovecot_becomes_the_contacts_of_one_case(
    dovecot: DovecotMailbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    testclient = pytest.importorskip("fastapi.testclient", reason="the HTTP API needs 'serviceflow[serve]'")
    from serviceflow.http import create_app

    (tmp_path / "serviceflow.toml").write_text(
        f"""
[sources.support]
type = "imap"
tunnel = "{dovecot.command()}"
agent-domains = ["acme.example"]
""",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    append(dovecot, OPENING, NEWSLETTER, ANSWER, OUT_OF_OFFICE)

    first = sync(tmp_path)
    append(dovecot, FOLLOW_UP)
    second = sync(tmp_path)
    third = sync(tmp_path)
    # Read again from the start, as after a mailbox restore: nothing is stored twice.
    reread = sync(tmp_path, "--from", f"{dovecot.uidvalidity()}:0")

    uidvalidity = dovecot.uidvalidity()
    assert first == (
        f"support: 1 poll, 2 records stored, 0 already held, 0 rejected, 0 problems; cursor {uidvalidity}:4\n"
    )
    assert "1 poll, 1 records stored, 0 already held" in second
    assert "1 poll, 0 records stored, 0 already held" in third
    assert "1 poll, 0 records stored, 3 already held" in reread

    config = load_config(tmp_path / "serviceflow.toml")
    store = open_store(str(tmp_path / "serviceflow.db"))
    clock = ManualClock(parse_datetime("2024-05-06T16:00:00Z"))
    with Engine.from_config(
        config=config, plugins=discover(environ={"SERVICEFLOW_LOAD_PLUGINS": "email"})
    ) as engine:
        service = Service(store, engine, clock=clock, config=config)
        token, _row = service.create_token("reader", ["read"])
        with testclient.TestClient(create_app(service)) as client:
            response = client.get(f"/v1/cases/{CASE}", headers={"Authorization": f"Bearer {token}"})
        cases = store.case_count()
    store.close()

    assert cases == 1  # the newsletter and the out-of-office reply were machine mail: no record, no case
    assert response.status_code == 200, response.text
    records: list[dict[str, Any]] = response.json()["records"]
    assert [
        (
            r["type"],
            r["direction"],
            r["actor"]["id"],
            r["meta"]["email"]["case_assigned_by"],
            r["source"]["ref"],
        )
        for r in records
    ] == [
        ("contact", "inbound", "maria@customer.example", "tag", "<m1.maria@customer.example>"),
        ("contact", "outbound", "jake@acme.example", "tag", "<a1.jake@acme.example>"),
        ("contact", "inbound", "maria@customer.example", "thread", "<m2.maria@customer.example>"),
    ]
    # What the agent wrote, without the quoted message and the signature: what the policies judge.
    assert (
        records[1]["text"]
        == "Hello Maria,\n\nsorry about the leak. Sam will come on Wednesday at 9:00.\n\nKind regards,"
    )
    assert {r["customer_id"] for r in records} == {"maria@customer.example"}


def test_start_now_reads_only_mail_that_arrives_afterwards(dovecot: DovecotMailbox, tmp_path: Path) -> None:
    (tmp_path / "serviceflow.toml").write_text(
        f'[sources.support]\ntype = "imap"\ntunnel = "{dovecot.command()}"\n'
        'agent-domains = ["acme.example"]\nstart = "now"\n',
        encoding="utf-8",
    )
    append(dovecot, OPENING, ANSWER)
    config = ["--config", str(tmp_path / "serviceflow.toml")]

    before = sync(tmp_path, *config)
    append(dovecot, FOLLOW_UP)
    after = sync(tmp_path, *config)

    assert "0 records stored" in before and f"cursor {dovecot.uidvalidity()}:2" in before
    assert "1 records stored" in after


def test_the_source_reports_damaged_mail_as_problems_and_counts_machine_mail_only(
    dovecot: DovecotMailbox,
) -> None:
    from serviceflow_email.source import create

    class Context:
        name = "support"
        config_dir = None

        def now(self) -> datetime:
            return datetime(2024, 5, 6, 16, 0, tzinfo=UTC)

        def case_of_record(self, record_id: str) -> str | None:
            return None

    append(dovecot, NEWSLETTER, b"not an email at all\r\n")
    source = create({"tunnel": dovecot.command(), "agent-domains": ["acme.example"]}, Context())

    batch = source.poll(None)

    assert batch.records == [] and batch.more is False
    (problem,) = batch.problems
    assert problem.startswith("uid 2 (no Message-ID): skipped: malformed:")
    assert batch.cursor == f"{dovecot.uidvalidity()}:2"
