"""The rules of the mapping, message by message: no server needed (the Dovecot tests run them end to end)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from serviceflow_email import testing
from serviceflow_email.imap import parse_internaldate, quote_mailbox, uid_set
from serviceflow_email.mapping import CaseAssigner, MappingSettings, is_agent, to_contact
from serviceflow_email.messages import Unreadable, decode_text, read_message
from serviceflow_email.settings import DEFAULT_CASE_TAG
from serviceflow_email.source import Cursor, ImapSettings

from serviceflow.plugin import ConfigError

SETTINGS = MappingSettings(agent_domains=("acme.example",), case_tag=re.compile(DEFAULT_CASE_TAG))


def message(*headers: str, body: str = "Hello.\r\n") -> bytes:
    return ("\r\n".join(headers) + "\r\n\r\n" + body).encode("utf-8")


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("Auto-Submitted: auto-replied", "Auto-Submitted: auto-replied"),
        ("Auto-Submitted: auto-generated; owner-email=ops@acme.example", "Auto-Submitted: auto-generated"),
        ("Auto-Submitted: no", None),
        ("Precedence: junk", "Precedence: junk"),
        ("Precedence: list", "Precedence: list"),
        ("Precedence: first-class", None),
        ("X-Autoreply: yes", "X-Autoreply: yes"),
        (
            "Content-Type: multipart/report; report-type=delivery-status; boundary=x",
            "a delivery or read report",
        ),
    ],
)
def test_machine_mail_is_recognised_by_rfc_3834_and_what_responders_set(
    header: str, reason: str | None
) -> None:
    parsed = read_message(message("From: dana@customer.example", header))
    assert parsed.machine == reason or (reason is not None and (parsed.machine or "").startswith(reason))


def test_a_date_in_minus_0000_is_utc_and_a_missing_date_is_a_problem() -> None:
    parsed = read_message(message("From: dana@customer.example", "Date: Mon, 06 May 2024 13:00:00 -0000"))
    assert parsed.date == datetime(2024, 5, 6, 13, 0, tzinfo=UTC)
    undated = read_message(message("From: dana@customer.example", "Date: yesterday-ish"))
    assert undated.date is None and [problem.kind for problem in undated.problems] == ["date"]


def test_message_ids_are_taken_with_their_brackets_and_junk_around_them_is_ignored() -> None:
    parsed = read_message(
        message(
            "From: dana@customer.example",
            "Message-ID: c1@customer.example",
            "In-Reply-To: Your message of Monday <a1@acme.example>",
            "References: <r0@x.example>\r\n <r1@x.example>",
        )
    )
    assert parsed.message_id == "<c1@customer.example>"
    assert (parsed.in_reply_to, parsed.references) == (
        ("<a1@acme.example>",),
        ("<r0@x.example>", "<r1@x.example>"),
    )


def test_without_from_the_sender_header_is_the_sender_and_without_either_the_message_is_unreadable() -> None:
    assert read_message(message("Sender: dana@customer.example")).sender.addr_spec == "dana@customer.example"
    with pytest.raises(Unreadable, match="no sender address"):
        read_message(message("From: undisclosed-recipients:;", "Subject: hi"))


@pytest.mark.parametrize(
    ("payload", "label", "text", "problem"),
    [
        (b"plain", None, "plain", None),
        ("café".encode(), "utf-8", "café", None),
        ("café".encode("latin-1"), "iso-8859-1", "café", None),
        ("café".encode(), "us-ascii", "café", "labelled charset 'us-ascii' but valid UTF-8"),
        ("café".encode(), "windows-1252", "café", "labelled charset 'windows-1252' but valid UTF-8"),
        ("café".encode(), "x-unknown", "café", "labelled an unknown charset 'x-unknown'"),
        ("café".encode("latin-1"), "x-unknown", "caf\ufffd", "unknown charset 'x-unknown'"),
        ("café".encode("latin-1"), "utf-8", "caf\ufffd", "not valid utf-8; 1 undecodable"),
        ("日本".encode("shift_jis"), "shift_jis", "日本", None),
    ],
)
def test_text_is_decoded_under_its_label_repaired_when_the_label_is_wrong(
    payload: bytes, label: str | None, text: str, problem: str | None
) -> None:
    decoded, found = decode_text(payload, label)
    assert decoded == text
    assert found == problem or (problem is not None and found is not None and found.startswith(problem))


def test_damaged_base64_in_the_text_keeps_what_decodes_and_says_so() -> None:
    parsed = read_message(
        message(
            "From: dana@customer.example",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: base64",
            body="SGVsbG8gd29y!!!bGQ\r\n",
        )
    )
    assert parsed.text == "Hello world"
    assert [problem.kind for problem in parsed.problems] == ["date", "mime"]  # no Date header either


def test_an_html_only_message_is_read_as_text() -> None:
    parsed = read_message(
        message(
            "From: dana@customer.example",
            "Content-Type: text/html; charset=utf-8",
            body="<p>Why haven't you called?</p><blockquote>On Monday you said</blockquote>",
        )
    )
    assert parsed.text == "Why haven't you called?"


def test_an_attached_email_is_an_attachment_not_the_writer_s_text() -> None:
    parsed = read_message(
        message(
            "From: dana@customer.example",
            "MIME-Version: 1.0",
            'Content-Type: multipart/mixed; boundary="b"',
            body="--b\r\nContent-Type: text/plain\r\n\r\nSee the mail below.\r\n"
            "--b\r\nContent-Type: message/rfc822\r\n\r\n"
            "From: someone@else.example\r\nSubject: old\r\n\r\nYou should have known.\r\n--b--\r\n",
        )
    )
    assert parsed.text == "See the mail below."
    assert [item.content_type for item in parsed.attachments] == ["message/rfc822"]


def assign(*headers: str, settings: MappingSettings = SETTINGS, known: dict[str, str] | None = None) -> Any:
    return CaseAssigner(settings, known).assign(
        read_message(message("From: dana@customer.example", *headers))
    )


def test_the_case_tag_wins_over_the_thread() -> None:
    known = {"<a1@acme.example>": "CASE-1"}
    assert assign("Subject: Re: [#CASE-2] Leak", "In-Reply-To: <a1@acme.example>", known=known) == (
        "CASE-2",
        "tag",
    )
    assert assign("Subject: Re: Leak", "In-Reply-To: <a1@acme.example>", known=known) == ("CASE-1", "thread")


def test_references_are_searched_from_the_newest() -> None:
    known = {"<r0@x.example>": "OLD", "<r2@x.example>": "NEW"}
    assert assign("References: <r0@x.example> <r1@x.example> <r2@x.example>", known=known) == (
        "NEW",
        "thread",
    )


def test_a_thread_never_seen_is_a_new_case_named_after_its_root() -> None:
    first = assign("References: <root@x.example> <r1@x.example>")
    second = assign(
        "References: <root@x.example> <r1@x.example> <r2@x.example>", "Message-ID: <r3@x.example>"
    )
    assert first[0] == second[0] and first[1] == "new" and first[0].startswith("email-")


def test_a_configured_case_tag_with_one_group() -> None:
    settings = MappingSettings(("acme.example",), re.compile(r"\[Acme #(\d+)\]"))
    assert assign("Subject: Re: [Acme #4711] Boiler", settings=settings) == ("4711", "tag")


def test_agent_domains_include_their_subdomains_only() -> None:
    assert is_agent("jake@acme.example", ("acme.example",))
    assert is_agent("mo@ops.acme.example", ("acme.example",))
    assert not is_agent("eve@notacme.example", ("acme.example",))


def test_an_outbound_message_s_customer_is_its_first_recipient_outside_the_agent_domains() -> None:
    parsed = read_message(
        message(
            "From: Jake <jake@acme.example>",
            "To: mo@acme.example, Dana <DANA@Customer.example>",
            "Date: Mon, 06 May 2024 09:40:00 -0400",
        )
    )
    record = to_contact(parsed, "c1", "new", parsed.date or datetime.now(UTC), SETTINGS)
    assert record is not None
    assert (record["direction"], record["customer_id"]) == ("outbound", "dana@customer.example")


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({}, "'agent-domains' is required"),
        ({"agent-domains": ["acme example"]}, "holds 'acme example', which is not a domain name"),
        (
            {"agent-domains": ["acme.example"], "case-tag": "[#(unclosed"},
            "'case-tag' is not a regular expression",
        ),
        ({"agent-domains": ["acme.example"], "case-tag": r"#\d+"}, "needs a group named 'case'"),
        ({"agent-domains": ["acme.example"], "tunnel": "imap"}, "'tunnel' and 'host' are exclusive"),
        (
            {"agent-domains": ["acme.example"], "max-message-bytes": "lots"},
            "'max-message-bytes' must be a size",
        ),
        ({"agent-domains": ["acme.example"], "batch-size": 0}, "'batch-size' must be a whole number from 1"),
        ({"agent-domains": ["acme.example"], "folder": "INBOX"}, "has no option 'folder'"),
    ],
)
def test_wrong_source_options_are_config_errors(options: dict[str, Any], error: str) -> None:
    with pytest.raises(ConfigError, match=r"^source 'imap'") as raised:
        ImapSettings.from_options({"host": "imap.acme.example", **options})
    assert error in str(raised.value)


def test_sizes_are_read_in_bytes_or_with_units() -> None:
    base = {"host": "imap.acme.example", "agent-domains": ["acme.example"]}
    assert ImapSettings.from_options({**base, "max-message-bytes": "512 KiB"}).max_message_bytes == 524288
    assert ImapSettings.from_options({**base, "max-message-bytes": 5_000_000}).max_message_bytes == 5_000_000


def test_a_cursor_is_stored_as_text_and_read_back() -> None:
    assert str(Cursor(1796549156, 42)) == "1796549156:42"
    assert Cursor.parse("1796549156:42") == Cursor(1796549156, 42)
    with pytest.raises(ValueError, match="UIDVALIDITY:UID"):
        Cursor.parse("42")


def test_imap_wire_helpers() -> None:
    assert uid_set([7, 1, 2, 3, 9, 10]) == "1:3,7,9:10"
    assert quote_mailbox("INBOX") == "INBOX"
    assert quote_mailbox('Sent "Items"') == '"Sent \\"Items\\""'
    assert parse_internaldate(" 6-May-2024 09:30:00 -0400") == datetime(
        2024, 5, 6, 9, 30, tzinfo=timezone(timedelta(hours=-4))
    )
    assert parse_internaldate("garbage") is None


def test_without_dovecot_the_reason_names_the_install_script(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(testing, "IMAP_BINARY", Path("/nonexistent/dovecot/imap"))
    assert ".ci/install-dovecot.sh" in (testing.dovecot_missing() or "")
