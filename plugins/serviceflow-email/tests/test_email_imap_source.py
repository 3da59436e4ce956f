"""The IMAP source against a real Dovecot: threads become cases, machine mail and damage are reported.

Dovecot runs over a pipe (``imaplib.IMAP4_stream``), as Debian's ``dovecot-imapd`` installs it; see
``serviceflow_email.testing``. Without it these tests skip, naming ``.ci/install-dovecot.sh``, unless
``SERVICEFLOW_REQUIRE_DOVECOT=1`` (CI), where a missing server is a failure.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from serviceflow_email.source import Cursor, ImapSource, MailboxError
from serviceflow_email.testing import DovecotDaemon, DovecotMailbox, daemon_missing, dovecot_missing

from serviceflow.cli import main

EDT = timezone(timedelta(hours=-4))
OPTIONS = {"agent-domains": ["acme.example"], "max-message-bytes": "256 KiB"}


def skip_or_fail(missing: str | None) -> None:
    if missing is not None:
        if os.environ.get("SERVICEFLOW_REQUIRE_DOVECOT") == "1":
            pytest.fail(f"SERVICEFLOW_REQUIRE_DOVECOT=1 but {missing}")
        pytest.skip(missing)


@pytest.fixture
def dovecot() -> Iterator[DovecotMailbox]:
    skip_or_fail(dovecot_missing())
    with DovecotMailbox() as mailbox:
        yield mailbox


@pytest.fixture
def daemon(dovecot: DovecotMailbox) -> Iterator[DovecotDaemon]:
    """The same mail store served by a Dovecot daemon on 127.0.0.1, with TLS and a password."""
    skip_or_fail(daemon_missing())
    with dovecot.serve() as running:
        yield running


def mail(body: str | bytes = "", **headers: str) -> bytes:
    """A message: headers given as Message_ID="<...>" (underscores become hyphens), CRLF line ends."""
    lines = [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    if isinstance(body, str):
        body = body.encode("utf-8")
    body = body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body


CUSTOMER_ASKS = mail(
    "Hi,\n\nthe pipe under my sink is leaking again. Why haven't you sent anyone?\n\nDana\n",
    From="Dana Park <dana@customer.example>",
    To="Acme Support <support@acme.example>",
    Subject="Leaking pipe under the sink",
    Date="Mon, 06 May 2024 09:00:00 -0400",
    Message_ID="<c1.dana@customer.example>",
    Content_Type="text/plain; charset=utf-8",
)
AGENT_REPLIES = mail(
    "Hello Dana,\n\nI am sorry about the leak. A plumber will come tomorrow at 10:00.\n\nKind regards,\n"
    "Jake Rivera\nL2 Support | Acme Plumbing\n\n"
    "On Mon, 6 May 2024 at 09:00, Dana Park <dana@customer.example> wrote:\n"
    "> the pipe under my sink is leaking again. Why haven't you sent anyone?\n",
    From="Jake Rivera <jake@acme.example>",
    To="Dana Park <dana@customer.example>",
    Subject="Re: Leaking pipe under the sink",
    Date="Mon, 06 May 2024 09:40:00 -0400",
    Message_ID="<a1.jake@acme.example>",
    In_Reply_To="<c1.dana@customer.example>",
    References="<c1.dana@customer.example>",
)
CUSTOMER_FOLLOWS_UP = mail(
    "--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    "Thanks, but 10:00 is too late, the kitchen is flooding. Can someone come today?\r\n\r\n"
    "Sent from my iPhone\r\n\r\n"
    "> On 6 May 2024, at 09:40, Jake Rivera <jake@acme.example> wrote:\r\n> A plumber will come tomorrow\r\n"
    "--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    "<p>Thanks, but 10:00 is too late, the kitchen is flooding.</p><blockquote>A plumber</blockquote>\r\n"
    "--alt--\r\n",
    From="Dana Park <dana@customer.example>",
    To="Jake Rivera <jake@acme.example>",
    Subject="Re: Leaking pipe under the sink",
    Date="Mon, 06 May 2024 10:15:00 -0400",
    Message_ID="<c2.dana@customer.example>",
    In_Reply_To="<a1.jake@acme.example>",
    References="<c1.dana@customer.example> <a1.jake@acme.example>",
    MIME_Version="1.0",
    Content_Type='multipart/alternative; boundary="alt"',
)
AUTO_REPLY = mail(
    "I am out of the office until Wednesday.\n",
    From="Dana Park <dana@customer.example>",
    To="Jake Rivera <jake@acme.example>",
    Subject="Automatic reply: Re: Leaking pipe under the sink",
    Date="Mon, 06 May 2024 09:41:00 -0400",
    Message_ID="<ooo.dana@customer.example>",
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
NO_MESSAGE_ID = mail(
    "Hello, my invoice shows the visit twice.\n",
    From="Lee Chan <lee@example.org>",
    To="billing@acme.example",
    Subject="[#CASE-77] Invoice question",
    Date="Tue, 07 May 2024 08:30:00 +0200",
)
BROKEN_MIME = mail(
    "This body never had the boundary the header promised.\r\n",
    From="Kim Ode <kim@example.net>",
    To="support@acme.example",
    Subject="Photos of the damage",
    Date="Tue, 07 May 2024 11:00:00 +0000",
    Message_ID="<broken.kim@example.net>",
    MIME_Version="1.0",
    Content_Type='multipart/mixed; boundary="never-used"',
)
UNKNOWN_CHARSET = mail(
    b"The water heater makes a noise \xe0 night.\r\n",
    From="Ana Silva <ana@example.pt>",
    To="support@acme.example",
    Subject="Water heater",
    Date="Tue, 07 May 2024 12:00:00 +0100",
    Message_ID="<charset.ana@example.pt>",
    Content_Type="text/plain; charset=x-klingon",
    Content_Transfer_Encoding="8bit",
)
WRONG_CHARSET_LABEL = mail(
    "The café's boiler: you should know it is 20 years old.\n".encode(),
    From="Remy Blanc <remy@example.fr>",
    To="support@acme.example",
    Subject="Boiler",
    Date="Tue, 07 May 2024 13:00:00 +0200",
    Message_ID="<label.remy@example.fr>",
    Content_Type="text/plain; charset=iso-8859-1",
    Content_Transfer_Encoding="8bit",
)
HUGE_ATTACHMENT = mail(
    "--mix\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe video of the leak is attached.\r\n"
    "--mix\r\nContent-Type: video/mp4\r\nContent-Disposition: attachment; filename=leak.mp4\r\n"
    "Content-Transfer-Encoding: base64\r\n\r\n" + ("A" * 76 + "\r\n") * 14_000 + "--mix--\r\n",
    From="Omar Haddad <omar@example.com>",
    To="support@acme.example",
    Subject="Video of the leak",
    Date="Tue, 07 May 2024 14:00:00 +0000",
    Message_ID="<video.omar@example.com>",
    MIME_Version="1.0",
    Content_Type='multipart/mixed; boundary="mix"',
)
NO_SENDER = b"This is not an email at all, just bytes someone dropped into the mailbox.\r\n"
INTERNAL = mail(
    "Can you take the Park case tomorrow?\n",
    From="Jake Rivera <jake@acme.example>",
    To="Mo Supervisor <mo@ops.acme.example>",
    Subject="Park case",
    Date="Mon, 06 May 2024 09:45:00 -0400",
    Message_ID="<internal.jake@acme.example>",
)

MAILBOX = [
    CUSTOMER_ASKS,
    AGENT_REPLIES,
    AUTO_REPLY,
    CUSTOMER_FOLLOWS_UP,
    NEWSLETTER,
    NO_MESSAGE_ID,
    BROKEN_MIME,
    UNKNOWN_CHARSET,
    WRONG_CHARSET_LABEL,
    HUGE_ATTACHMENT,
    NO_SENDER,
    INTERNAL,
    CUSTOMER_ASKS,  # delivered twice
]


def fill(dovecot: DovecotMailbox, messages: list[bytes], mailbox: str = "INBOX") -> list[int]:
    start = datetime(2024, 5, 6, 13, 0, tzinfo=UTC)
    return [
        dovecot.append(raw, mailbox=mailbox, internaldate=start + timedelta(minutes=index))
        for index, raw in enumerate(messages)
    ]


def by_ref(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {record["source"]["ref"]: record for record in records}


def test_a_mailbox_becomes_contacts_grouped_by_thread_tag_and_new_case(dovecot: DovecotMailbox) -> None:
    uids = fill(dovecot, MAILBOX)
    records, cursor, report = ImapSource(OPTIONS, connect=dovecot.connect).poll(None)

    assert cursor == Cursor(dovecot.uidvalidity(), uids[-1])
    refs = by_ref(records)
    asks, replies, follows = (
        refs["<c1.dana@customer.example>"],
        refs["<a1.jake@acme.example>"],
        refs["<c2.dana@customer.example>"],
    )
    assert asks["case_id"] == replies["case_id"] == follows["case_id"]
    assert [record["meta"]["email"]["case_assigned_by"] for record in (asks, replies, follows)] == [
        "new",
        "thread",
        "thread",
    ]
    assert asks == {
        "id": asks["id"],
        "case_id": asks["case_id"],
        "type": "contact",
        "at": "2024-05-06T09:00:00-04:00",
        "actor": {"role": "customer", "id": "dana@customer.example", "name": "Dana Park"},
        "customer_id": "dana@customer.example",
        "channel": "email",
        "direction": "inbound",
        "text": "Hi,\n\nthe pipe under my sink is leaking again. Why haven't you sent anyone?\n\nDana",
        "source": {"system": "imap", "ref": "<c1.dana@customer.example>"},
        "meta": {
            "email": {
                "subject": "Leaking pipe under the sink",
                "from": "dana@customer.example",
                "to": ["support@acme.example"],
                "case_assigned_by": "new",
            }
        },
    }
    assert asks["id"].startswith("email-") and asks["case_id"].startswith("email-")
    # The agent's words only: not the customer's quoted "Why haven't you", not the "L2 Support" signature.
    assert (replies["direction"], replies["actor"]["role"], replies["customer_id"]) == (
        "outbound",
        "agent",
        "dana@customer.example",
    )
    assert replies["text"] == (
        "Hello Dana,\n\nI am sorry about the leak. A plumber will come tomorrow at 10:00.\n\nKind regards,"
    )
    assert (
        follows["text"] == "Thanks, but 10:00 is too late, the kitchen is flooding. Can someone come today?"
    )

    lee = next(record for record in records if record["actor"]["id"] == "lee@example.org")
    assert lee["case_id"] == "CASE-77"
    assert lee["source"]["ref"].startswith("headers-sha256:")
    assert lee["at"] == "2024-05-07T08:30:00+02:00"

    # Machine mail, the internal note, the bytes without a sender and the second delivery are skipped.
    assert dict(report.skipped) == {"machine": 2, "internal": 1, "malformed": 1, "duplicate": 1}
    assert (report.read, report.mapped, len(records)) == (13, 8, 8)
    assert "<ooo.dana@customer.example>" not in refs and "<news-1@plumbing-weekly.example>" not in refs
    machine = {note.message_id: note.detail for note in report.notes if note.kind == "machine"}
    assert machine == {
        "<ooo.dana@customer.example>": "Auto-Submitted: auto-replied",
        "<news-1@plumbing-weekly.example>": "Precedence: bulk",
    }
    (malformed,) = [note for note in report.notes if note.kind == "malformed"]
    assert malformed.uid == uids[MAILBOX.index(NO_SENDER)] and "no sender address" in malformed.detail
    assert len({record["id"] for record in records}) == len(records)


def test_damaged_messages_are_still_contacts_with_the_damage_reported(dovecot: DovecotMailbox) -> None:
    fill(dovecot, [BROKEN_MIME, UNKNOWN_CHARSET, WRONG_CHARSET_LABEL, HUGE_ATTACHMENT])
    records, _, report = ImapSource(OPTIONS, connect=dovecot.connect).poll(None)
    refs = by_ref(records)
    problems = {(note.message_id, note.kind) for note in report.problems}
    assert not report.skipped

    broken = refs["<broken.kim@example.net>"]
    assert "text" not in broken and broken["direction"] == "inbound"
    assert ("<broken.kim@example.net>", "mime") in problems
    assert broken["meta"]["email"]["problems"][0]["kind"] == "mime"

    # An unknown charset: the bytes that are not UTF-8 become U+FFFD, the words around them stay.
    assert refs["<charset.ana@example.pt>"]["text"] == "The water heater makes a noise \ufffd night."
    assert ("<charset.ana@example.pt>", "charset") in problems
    # Labelled Latin-1 but written in UTF-8: read as UTF-8, so "café" is not "cafÃ©".
    assert refs["<label.remy@example.fr>"]["text"] == "The café's boiler: you should know it is 20 years old."
    assert ("<label.remy@example.fr>", "charset") in problems

    huge = refs["<video.omar@example.com>"]
    assert huge["text"] == "The video of the leak is attached."
    assert huge["meta"]["email"]["attachments"] == [{"filename": "leak.mp4", "content_type": "video/mp4"}]
    assert ("<video.omar@example.com>", "size") in problems
    # Only the first max-message-bytes of the 1 MB message were fetched.
    assert len(HUGE_ATTACHMENT) > 1_000_000
    small = len(BROKEN_MIME) + len(UNKNOWN_CHARSET) + len(WRONG_CHARSET_LABEL)
    assert report.bytes_read == 256 * 1024 + small


def test_the_records_are_valid_serviceflow_records(
    dovecot: DovecotMailbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(dovecot, MAILBOX)
    records, _, _ = ImapSource(OPTIONS, connect=dovecot.connect).poll(None)
    export = tmp_path / "mailbox.jsonl"
    export.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    monkeypatch.setenv("SERVICEFLOW_LOAD_PLUGINS", "")
    result = CliRunner().invoke(main, ["validate", str(export)])
    assert result.exit_code == 0, result.output
    assert "8 records valid" in result.output


def test_policies_judge_what_the_agent_wrote_not_what_it_quoted(
    dovecot: DovecotMailbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(dovecot, [CUSTOMER_ASKS, AGENT_REPLIES, CUSTOMER_FOLLOWS_UP])
    records, _, _ = ImapSource(OPTIONS, connect=dovecot.connect).poll(None)
    export = tmp_path / "thread.jsonl"
    export.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    monkeypatch.setenv("SERVICEFLOW_LOAD_PLUGINS", "")
    result = CliRunner().invoke(
        main,
        ["lint", str(export), "--now", "2024-05-06T17:00:00-04:00", "--format", "json", "--fail-on", "never"],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    # The list of violations is "findings" in serviceflow 0.1.0's report and "violations" after it.
    listed = report["violations"] if "violations" in report else report["findings"]
    found = {(finding["policy"], finding["record_id"]) for finding in listed}
    follows = by_ref(records)["<c2.dana@customer.example>"]["id"]
    # The follow-up at 10:15 had no answer by 14:15; the agent's quoted "Why haven't you" and its
    # "L2 Support" signature are not held against it by tone-judgmental or tone-jargon.
    assert found == {("respond-promptly", follows)}
    assert not [item for item in report["pending"] if item["policy"].startswith("tone-")]
    assert report["summary"]["cases"] == 1


def test_a_second_poll_from_the_cursor_adds_nothing_and_a_new_reply_joins_its_thread(
    dovecot: DovecotMailbox,
) -> None:
    fill(dovecot, MAILBOX)
    source = ImapSource(OPTIONS, connect=dovecot.connect)
    first, cursor, _ = source.poll(None)

    again, same_cursor, report = source.poll(cursor)
    assert (again, same_cursor, report.read, dict(report.skipped)) == ([], cursor, 0, {})

    answer = mail(
        "Yes, Sam will be there at 13:00 today.\n",
        From="Jake Rivera <jake@acme.example>",
        To="dana@customer.example",
        Subject="Re: Leaking pipe under the sink",
        Date="Mon, 06 May 2024 10:30:00 -0400",
        Message_ID="<a2.jake@acme.example>",
        In_Reply_To="<c2.dana@customer.example>",
    )
    uid = dovecot.append(answer)
    (record,), next_cursor, _ = source.poll(str(cursor))  # as a store keeps it
    assert next_cursor == Cursor(cursor.uidvalidity, uid)
    assert record["case_id"] == by_ref(first)["<c1.dana@customer.example>"]["case_id"]
    assert record["meta"]["email"]["case_assigned_by"] == "thread"


def test_the_injected_lookup_places_a_reply_in_a_case_this_source_never_saw(dovecot: DovecotMailbox) -> None:
    """A restarted service: the store, not the source's memory, knows which case a Message-ID is in."""
    tagged = mail(
        "The tap drips.\n",
        From="dana@customer.example",
        To="support@acme.example",
        Subject="[#CASE-88] Dripping tap",
        Date="Wed, 08 May 2024 09:00:00 -0400",
        Message_ID="<t1.dana@customer.example>",
    )
    untagged_reply = mail(
        "We will replace the washer on Friday.\n",
        From="jake@acme.example",
        To="dana@customer.example",
        Subject="Re: Dripping tap",
        Date="Wed, 08 May 2024 09:30:00 -0400",
        Message_ID="<t2.jake@acme.example>",
        In_Reply_To="<t1.dana@customer.example>",
    )
    fill(dovecot, [tagged])
    (first,), cursor, _ = ImapSource(OPTIONS, connect=dovecot.connect).poll(None)
    assert first["case_id"] == "CASE-88"

    dovecot.append(untagged_reply)
    store = {first["source"]["ref"]: first["case_id"]}
    (reply,), _, _ = ImapSource(OPTIONS, connect=dovecot.connect, known_messages=store.get).poll(cursor)
    assert (reply["case_id"], reply["meta"]["email"]["case_assigned_by"]) == ("CASE-88", "thread")

    (alone,), _, _ = ImapSource(OPTIONS, connect=dovecot.connect).poll(cursor)
    assert alone["case_id"] != "CASE-88"  # without the store's answer it is a new case


def test_a_changed_uidvalidity_rereads_the_mailbox_without_new_record_ids(dovecot: DovecotMailbox) -> None:
    dovecot.run("CREATE", "Support")
    fill(dovecot, [CUSTOMER_ASKS, AGENT_REPLIES], mailbox="Support")
    options = {**OPTIONS, "mailbox": "Support"}
    before, cursor, _ = ImapSource(options, connect=dovecot.connect).poll(None)

    # The mailbox is recreated (a restore, a migration): its UIDs start again under a new UIDVALIDITY.
    dovecot.run("DELETE", "Support")
    dovecot.run("CREATE", "Support")
    fill(dovecot, [CUSTOMER_ASKS, AGENT_REPLIES, CUSTOMER_FOLLOWS_UP], mailbox="Support")
    after, new_cursor, report = ImapSource(options, connect=dovecot.connect).poll(cursor)

    assert report.reset and new_cursor.uidvalidity != cursor.uidvalidity
    assert [record["id"] for record in after[:2]] == [record["id"] for record in before]
    assert after[:2] == before
    assert len(after) == 3 and new_cursor.uid == 3


def test_a_large_backlog_is_read_in_batches(dovecot: DovecotMailbox) -> None:
    fill(dovecot, [CUSTOMER_ASKS, AGENT_REPLIES, CUSTOMER_FOLLOWS_UP])
    source = ImapSource({**OPTIONS, "batch-size": 2}, connect=dovecot.connect)
    first, cursor, report = source.poll(None)
    assert (len(first), cursor.uid, report.more) == (2, 2, True)
    rest, cursor, report = source.poll(cursor)
    assert (len(rest), cursor.uid, report.more) == (1, 3, False)
    assert rest[0]["case_id"] == first[0]["case_id"]


def test_the_source_never_marks_messages_read(dovecot: DovecotMailbox) -> None:
    fill(dovecot, [CUSTOMER_ASKS])
    ImapSource(OPTIONS, connect=dovecot.connect).poll(None)
    connection = dovecot.connect()
    try:
        connection.select("INBOX", readonly=True)
        status, data = connection.uid("SEARCH", None, "UNSEEN")
    finally:
        connection.logout()
    assert (status, data) == ("OK", [b"1"])


def test_the_tunnel_option_reaches_the_server_through_a_command(dovecot: DovecotMailbox) -> None:
    fill(dovecot, [CUSTOMER_ASKS])
    records, _, _ = ImapSource({**OPTIONS, "tunnel": dovecot.command()}).poll(None)
    assert [record["source"]["ref"] for record in records] == ["<c1.dana@customer.example>"]


def test_a_mailbox_that_does_not_exist_is_a_mailbox_error(dovecot: DovecotMailbox) -> None:
    source = ImapSource({**OPTIONS, "mailbox": "No Such Box"}, connect=dovecot.connect)
    with pytest.raises(MailboxError, match="No Such Box") as raised:
        source.poll(Cursor(1, 5))
    assert raised.value.mailbox == "No Such Box"


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_the_source_logs_in_over_tls_to_a_dovecot_daemon(
    security: str, dovecot: DovecotMailbox, daemon: DovecotDaemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(dovecot, [CUSTOMER_ASKS, AGENT_REPLIES])
    monkeypatch.setenv("TEST_IMAP_PASSWORD", daemon.password)
    options = {
        **OPTIONS,
        "host": "127.0.0.1",
        "port": daemon.imaps_port if security == "ssl" else daemon.imap_port,
        "security": security,
        "ca-file": str(daemon.certificate),
        "username": "support",
        "password-env": "TEST_IMAP_PASSWORD",
        "timeout": 10,
    }
    records, cursor, _ = ImapSource(options).poll(None)
    assert [record["source"]["ref"] for record in records] == [
        "<c1.dana@customer.example>",
        "<a1.jake@acme.example>",
    ]
    assert cursor.uid == 2


def test_a_refused_login_or_an_untrusted_certificate_is_a_mailbox_error(
    dovecot: DovecotMailbox, daemon: DovecotDaemon
) -> None:
    options = {
        **OPTIONS,
        "host": "127.0.0.1",
        "port": daemon.imaps_port,
        "username": "support",
        "timeout": 10,
    }
    trusted = {**options, "ca-file": str(daemon.certificate)}
    with pytest.raises(MailboxError, match="AUTHENTICATIONFAILED"):
        ImapSource({**trusted, "password": "wrong"}).poll(None)
    with pytest.raises(MailboxError, match="CERTIFICATE_VERIFY_FAILED"):
        ImapSource({**options, "password": daemon.password}).poll(None)
