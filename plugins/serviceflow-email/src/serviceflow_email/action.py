"""The ``email`` action: a notification about a finding, sent over SMTP.

It tells a person what serviceflow found: a supervisor that a case broke a policy, the case owner
that an obligation is due, or (with a template written for them) the customer, as the written
confirmation of next steps. Configured in ``[actions.email]``::

    [actions.email]
    host = "smtp.acme.example"          # port 587 and STARTTLS unless port/security say otherwise
    username = "serviceflow"
    password-env = "SERVICEFLOW_SMTP_PASSWORD"
    from = "serviceflow <serviceflow@acme.example>"
    to = ["supervisors@acme.example"]

**Idempotency.** Every notification is sent for an *idempotency key*: ``send(finding, key)`` from
the live service's outbox, or ``email/<case>/<policy>/<record>/<status>`` when ``lint --action email``
calls it. The ``Message-ID`` is derived from the key, ``<serviceflow.<32 hex>@<domain>>``, so a retry
(after a timeout whose message did arrive) carries the same Message-ID: mail clients and archives
show it once, and anyone can tell the two apart from a second notification. The key itself is in
the ``X-Serviceflow-Key`` header. The action remembers nothing between runs: not sending twice is
the outbox's job (its key is unique), and ``lint --action email`` run twice notifies twice.

**Headers.** ``Auto-Submitted: auto-generated`` (RFC 3834): vacation responders do not answer it and
serviceflow's own IMAP source skips it, should it land in a mailbox being read. ``X-Serviceflow-Case``
and ``X-Serviceflow-Policy`` let a mail rule sort notifications. ``Date`` is the time of sending
(the wall clock: it is transport metadata, not event time; the evaluation's ``now`` is in the body).

**Failures** raise :class:`EmailDeliveryError`, whose ``transient`` says whether trying again later
may help (connection errors, timeouts, 4xx replies) or not (5xx replies: a refused login or
recipient); the outbox schedules a retry or gives up on that basis.
"""

from __future__ import annotations

import hashlib
import smtplib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate
from string import Template
from typing import Any

from serviceflow.plugin import ActionContext, ActionFunction, Finding, ServiceflowError, format_datetime
from serviceflow_email.settings import Options, Server, parse_address, read_server

NAME = "email"
SMTP_PORTS = {"ssl": 465, "starttls": 587, "none": 25}
DEFAULT_SUBJECT = "[serviceflow] $policy in case $case_id: $message"
DEFAULT_BODY = """\
serviceflow found a $status of the policy $policy ($severity) in case $case_id.

$message

Why: $reason
Record: $record_id
Evidence: $evidence
Deadline: $deadline

Evaluated at $evaluated_at. Notification key: $key
(a message with the same Message-ID is a retry of this notification, not a new finding)
"""
#: What templates may use, as ``$name`` or ``${name}``.
TEMPLATE_FIELDS = (
    "policy",
    "severity",
    "status",
    "case_id",
    "record_id",
    "message",
    "reason",
    "evidence",
    "deadline",
    "evaluated_at",
    "key",
)
NONE = "(none)"
MAX_SUBJECT = 180

#: ``transport(message, settings)``: delivers a composed message (SMTP by default).
Transport = Callable[[EmailMessage, "EmailSettings"], None]


class EmailDeliveryError(ServiceflowError):
    """A notification could not be handed to the SMTP server; ``transient`` if a retry may succeed."""

    def __init__(self, message: str, *, transient: bool, key: str | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.key = key


@dataclass(frozen=True)
class SentEmail:
    """What was handed to the SMTP server."""

    message_id: str
    recipients: tuple[str, ...]


@dataclass(frozen=True)
class EmailSettings:
    server: Server
    sender: Address
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    reply_to: Address | None
    subject: Template
    body: Template
    message_id_domain: str
    helo_name: str | None

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> EmailSettings:
        table = Options(f"action '{NAME}'", options)
        server = read_server(table, "starttls", SMTP_PORTS)
        assert server is not None
        sender = table.address("from", table.string("from", required=True) or "")
        to = tuple(table.address("to", value) for value in table.strings("to", required=True))
        cc = tuple(table.address("cc", value) for value in table.strings("cc", []))
        reply_to_text = table.string("reply-to")
        settings = cls(
            server=server,
            sender=sender,
            to=to,
            cc=cc,
            reply_to=table.address("reply-to", reply_to_text) if reply_to_text else None,
            subject=_template(table, "subject", DEFAULT_SUBJECT),
            body=_template(table, "body", DEFAULT_BODY),
            message_id_domain=table.string("message-id-domain", sender.domain) or sender.domain,
            helo_name=table.string("helo-name"),
        )
        table.done()
        return settings


def create(options: Mapping[str, Any]) -> ActionFunction:
    """The email action for the ``[actions.email]`` options; a ConfigError names a wrong one."""
    return EmailAction(EmailSettings.from_options(options))


def message_id_for(key: str, domain: str) -> str:
    """The Message-ID of the notification with idempotency ``key``: the same key, the same id."""
    return f"<serviceflow.{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}@{domain}>"


class EmailAction:
    """Composes and sends notifications; called by ``run_actions`` per finding, or ``send`` by an outbox."""

    name = NAME

    def __init__(self, settings: EmailSettings, *, transport: Transport | None = None) -> None:
        self.settings = settings
        self._transport = transport or smtp_transport

    def __call__(self, finding: Finding, context: ActionContext) -> str:
        # Live mode's outbox gives each transition's key, the same on every retry; lint gives none.
        key = context.idempotency_key or f"{NAME}/{'/'.join(finding.key)}"
        sent = self.send(finding.to_dict(), key, evaluated_at=context.now)
        return f"sent {sent.message_id} to {', '.join(sent.recipients)}"

    def send(
        self,
        finding: Mapping[str, Any],
        key: str,
        *,
        to: Sequence[str] | None = None,
        references: Sequence[str] = (),
        evaluated_at: datetime | None = None,
    ) -> SentEmail:
        """Send the notification about ``finding`` (a finding as ``lint --format json`` writes it).

        ``to`` replaces the configured recipients (the outbox knows the case's owner or customer);
        ``references``, Message-IDs of the conversation, thread the notification into it (the last
        one is ``In-Reply-To``).
        """
        message = self.compose(finding, key, to=to, references=references, evaluated_at=evaluated_at)
        try:
            self._transport(message, self.settings)
        except EmailDeliveryError as error:
            error.key = key
            raise
        recipients = [
            address.addr_spec
            for name in ("To", "Cc")
            for header in message.get_all(name, [])
            for address in header.addresses
        ]
        return SentEmail(str(message["Message-ID"]), tuple(recipients))

    def compose(
        self,
        finding: Mapping[str, Any],
        key: str,
        *,
        to: Sequence[str] | None = None,
        references: Sequence[str] = (),
        evaluated_at: datetime | None = None,
    ) -> EmailMessage:
        """The notification as a message, without sending it."""
        if not isinstance(key, str) or not key.strip():
            raise ValueError("an idempotency key is required")
        fields = template_fields(finding, key, evaluated_at)
        settings = self.settings
        message = EmailMessage()
        message["From"] = settings.sender
        recipients = settings.to if to is None else tuple(parse_address(value) for value in to)
        if not recipients:
            raise ValueError("a notification needs at least one recipient")
        message["To"] = recipients
        if settings.cc:
            message["Cc"] = settings.cc
        if settings.reply_to is not None:
            message["Reply-To"] = settings.reply_to
        message["Subject"] = _one_line(settings.subject.safe_substitute(fields), MAX_SUBJECT)
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = message_id_for(key, settings.message_id_domain)
        if references:
            message["In-Reply-To"] = references[-1]
            message["References"] = " ".join(references)
        message["Auto-Submitted"] = "auto-generated"
        message["X-Serviceflow-Key"] = _one_line(key, 900)
        message["X-Serviceflow-Case"] = _one_line(fields["case_id"], 900)
        message["X-Serviceflow-Policy"] = _one_line(fields["policy"], 900)
        message.set_content(settings.body.safe_substitute(fields))
        return message


def template_fields(finding: Mapping[str, Any], key: str, evaluated_at: datetime | None) -> dict[str, str]:
    """The values templates see; a missing one reads ``(none)``."""
    if not isinstance(finding, Mapping) or not finding.get("policy") or not finding.get("case_id"):
        raise ValueError("a finding needs at least 'policy' and 'case_id' (as lint --format json writes it)")
    fields = {name: _text(finding.get(name)) for name in TEMPLATE_FIELDS}
    evidence = finding.get("evidence")
    if isinstance(evidence, list | tuple):
        fields["evidence"] = ", ".join(map(str, evidence)) or NONE
    fields["evaluated_at"] = format_datetime(evaluated_at) if evaluated_at is not None else NONE
    fields["key"] = key
    return fields


def smtp_transport(message: EmailMessage, settings: EmailSettings) -> None:
    """Deliver ``message`` to the configured SMTP server: TLS, STARTTLS or plain; log in if configured."""
    server = settings.server
    refused: dict[str, tuple[int, bytes]]
    try:
        smtp: smtplib.SMTP
        if server.security == "ssl":
            smtp = smtplib.SMTP_SSL(
                server.host, server.port, local_hostname=settings.helo_name, timeout=server.timeout,
                context=server.ssl_context(),
            )  # fmt: skip
        else:
            smtp = smtplib.SMTP(
                server.host, server.port, local_hostname=settings.helo_name, timeout=server.timeout
            )
        with smtp:
            if server.security == "starttls":
                smtp.starttls(context=server.ssl_context())
            if server.username is not None and server.password is not None:
                _login(smtp, server.username, server.password)
            refused = smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _ in error.recipients.values()]
        raise EmailDeliveryError(
            f"{server.host}: every recipient refused: {_refusals(error.recipients)}",
            transient=all(400 <= code < 500 for code in codes),
        ) from error
    except smtplib.SMTPResponseException as error:
        detail = (
            error.smtp_error.decode("utf-8", "replace")
            if isinstance(error.smtp_error, bytes)
            else error.smtp_error
        )
        raise EmailDeliveryError(
            f"{server.host}:{server.port} answered {error.smtp_code} {detail}",
            transient=400 <= error.smtp_code < 500,
        ) from error
    except (TimeoutError, smtplib.SMTPException, OSError) as error:
        raise EmailDeliveryError(
            f"cannot send through {server.host}:{server.port}: {type(error).__name__}: {error}",
            transient=True,
        ) from error
    if refused:
        raise EmailDeliveryError(
            f"{server.host}: sent, but some recipients were refused: {_refusals(refused)}",
            transient=all(400 <= code < 500 for code, _ in refused.values()),
        )


def _login(smtp: smtplib.SMTP, username: str, password: str) -> None:
    """Log in with one mechanism, once: PLAIN, else LOGIN, else CRAM-MD5, as the server offers.

    ``SMTP.login`` tries every mechanism in turn after a refusal; a wrong password is wrong under
    every name, and each try counts towards the server's lockout of the account.
    """
    smtp.ehlo_or_helo_if_needed()
    if not smtp.has_extn("auth"):
        raise smtplib.SMTPNotSupportedError("the server offers no AUTH (is 'security' right?)")
    offered = smtp.esmtp_features["auth"].upper().split()
    smtp.user, smtp.password = username, password
    for mechanism, respond in (("PLAIN", smtp.auth_plain), ("LOGIN", smtp.auth_login)):
        if mechanism in offered:
            smtp.auth(mechanism, respond)
            return
    if "CRAM-MD5" in offered:
        smtp.auth("CRAM-MD5", smtp.auth_cram_md5)
        return
    raise smtplib.SMTPNotSupportedError(
        f"no AUTH mechanism both sides know (the server offers {' '.join(offered)})"
    )


def _refusals(refused: Mapping[str, tuple[int, bytes | str]]) -> str:
    parts = []
    for address, (code, reply) in sorted(refused.items()):
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
        parts.append(f"{address} ({code} {text})")
    return "; ".join(parts)


def _template(options: Options, name: str, default: str) -> Template:
    text = options.take(name, default)
    if not isinstance(text, str) or not text.strip():
        raise options.error(name, "must be a non-empty template string")
    template = Template(text)
    if not template.is_valid():
        raise options.error(name, "is not a valid template: write $name or ${name}, and $$ for a dollar sign")
    unknown = sorted(set(template.get_identifiers()) - set(TEMPLATE_FIELDS))
    if unknown:
        raise options.error(
            name,
            f"uses {', '.join('$' + field for field in unknown)}; "
            f"templates know {', '.join(TEMPLATE_FIELDS)}",
        )
    return template


def _text(value: object) -> str:
    if value is None or value == "" or value == []:
        return NONE
    return str(value)


def _one_line(text: str, limit: int) -> str:
    """Header-safe: no line breaks (a finding's message may quote a customer's), and not too long."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
