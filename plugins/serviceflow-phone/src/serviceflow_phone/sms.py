"""The ``sms`` action: a text message about a finding, sent through Twilio's REST API.

Options (``[actions.sms]`` in serviceflow.toml; every one checked by :func:`create`):

* ``account-sid`` and ``auth-token`` (or ``auth-token-env``, the environment variable holding it);
* ``from`` (a Twilio number) or ``messaging-service-sid``: who sends;
* ``to``: the numbers to notify (the on-call supervisor's phone);
* ``template``: the text, with ``{policy}``, ``{severity}``, ``{status}``, ``{case_id}``,
  ``{record_id}``, ``{message}`` and ``{reason}``;
* ``base-url`` (default ``https://api.twilio.com``; plain http only to this machine, for tests),
  ``timeout`` (seconds, default 10), ``dedupe-lookback`` (default ``2d``), ``default-region``.

**Idempotency.** Twilio's Messages API takes no idempotency key, so a retry is made recognisable in
the message itself: every text ends with ``[ref sf-XXXXXXXXXX]``, ten hex digits of the SHA-256 of
the idempotency key (``case/policy/record/status`` for lint's findings; the outbox's key in live
mode). Before sending, the action lists the messages Twilio sent to the same number since
``dedupe-lookback`` before ``now`` and sends nothing if one carries the reference. A retry after a
lost response, a second ``lint --action sms`` run or a second process therefore sends once; the
supervisor also sees the reference and can quote it. Within one process a sent key is remembered
and not even looked up again.
"""

from __future__ import annotations

import hashlib
import logging
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from requests import RequestException
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from serviceflow.plugin import ActionContext, ActionSpec, Finding, ServiceflowError
from serviceflow_phone.contacts import clean_text
from serviceflow_phone.numbers import PhoneNumbers, mask, mask_in_text
from serviceflow_phone.options import Options

__all__ = ["NAME", "SPEC", "SmsAction", "SmsError", "SmsSettings", "create", "reference"]

NAME = "sms"
LOGGER = logging.getLogger("serviceflow_phone.sms")
FIELDS = ("policy", "severity", "status", "case_id", "record_id", "message", "reason")
DEFAULT_TEMPLATE = "serviceflow {severity}: {policy} on case {case_id} ({record_id}): {message}"
DEFAULT_BASE_URL = "https://api.twilio.com"
#: Twilio's longest message body, in characters.
MAX_BODY = 1600
#: Messages to one number looked at for an earlier copy (newest first).
DEDUPE_LIMIT = 200
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class SmsError(ServiceflowError):
    """Twilio refused the message or could not be reached; numbers in the message are masked."""


def reference(idempotency_key: str) -> str:
    """The reference a message carries: the same for every retry of one key, and only for it."""
    return "sf-" + hashlib.sha256(idempotency_key.encode("utf-8", "surrogateescape")).hexdigest()[:10]


@dataclass(frozen=True)
class SmsSettings:
    """The checked options of one ``sms`` action (secrets left out of ``repr``)."""

    account_sid: str
    auth_token: str = field(repr=False)
    to: tuple[str, ...]
    sender: str | None = None
    messaging_service_sid: str | None = None
    template: str = DEFAULT_TEMPLATE
    base_url: str = DEFAULT_BASE_URL
    timeout: float = 10.0
    dedupe_lookback: timedelta = timedelta(days=2)


def create(options: Mapping[str, Any]) -> SmsAction:
    """The ``sms`` action for the ``[actions.sms]`` options; ConfigError names what is wrong."""
    return SmsAction(settings_from(options))


def settings_from(options: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> SmsSettings:
    reader = Options(f"action '{NAME}'", options, environ)
    account_sid = reader.string("account-sid", required=True)
    auth_token = reader.secret("auth-token")
    numbers = PhoneNumbers(reader.string("default-region"))
    sender = reader.string("from")
    service = reader.string("messaging-service-sid")
    recipients = reader.strings("to")
    template = reader.string("template", DEFAULT_TEMPLATE)
    base_url = reader.string("base-url", DEFAULT_BASE_URL)
    timeout = reader.number("timeout", 10.0)
    lookback = reader.duration("dedupe-lookback", timedelta(days=2))
    reader.finish()
    if not (
        account_sid and account_sid.startswith("AC") and len(account_sid) == 34 and account_sid[2:].isalnum()
    ):
        raise reader.error("account-sid", "must be a Twilio account SID: AC followed by 32 hex digits")
    if (sender is None) == (service is None):
        raise reader.error("from", "or 'messaging-service-sid' must be given, and not both")
    if service is not None and not service.startswith("MG"):
        raise reader.error("messaging-service-sid", "must be a Messaging Service SID (MG...)")
    if sender is not None and numbers.e164(sender) is None and not sender.replace(" ", "").isalnum():
        raise reader.error(
            "from", f"must be a phone number or an alphanumeric sender id, got {mask(sender)!r}"
        )
    if not recipients:
        raise reader.error("to", "must list at least one number to notify")
    normalised = []
    for number in recipients:
        e164 = numbers.e164(number)
        if e164 is None:
            raise reader.error(
                "to",
                f"has {mask(number)!r}, which is not a complete phone number "
                "(write it with its country code, or set 'default-region')",
            )
        normalised.append(e164)
    _check_template(reader, str(template))
    _check_base_url(reader, str(base_url))
    return SmsSettings(
        account_sid=account_sid,
        auth_token=str(auth_token),
        to=tuple(dict.fromkeys(normalised)),
        sender=(numbers.e164(sender) or sender) if sender is not None else None,
        messaging_service_sid=service,
        template=str(template),
        base_url=str(base_url).rstrip("/"),
        timeout=timeout,
        dedupe_lookback=lookback,
    )


def _check_template(reader: Options, template: str) -> None:
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise reader.error("template", f"is not a valid template: {exc}") from None
    for _text, name, spec, conversion in parts:
        if name is None:
            continue
        # Only bare names: an attribute, index, format spec or conversion is refused, so a template
        # can neither reach into Python objects nor pad a field to a gigabyte.
        if name not in FIELDS or spec or conversion:
            raise reader.error(
                "template", f"may use only {{{'}, {'.join(FIELDS)}}} without formats, found {{{name}}}"
            )


def _check_base_url(reader: Options, base_url: str) -> None:
    parts = urlsplit(base_url)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment:
        raise reader.error("base-url", f"must be an absolute URL such as {DEFAULT_BASE_URL}")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        raise reader.error("base-url", "may use plain http only to this machine (the auth token is sent)")


@dataclass(frozen=True)
class Sent:
    """One recipient's outcome: the message's SID, and whether it was sent now or found sent before."""

    to: str
    sid: str
    already: bool


class SmsAction:
    """Sends the SMS for a finding; ``action(finding, context)`` is the serviceflow action function,
    :meth:`send` the same for the outbox, which holds findings as dicts with its own keys."""

    def __init__(self, settings: SmsSettings, client: Client | None = None) -> None:
        self.settings = settings
        if client is None:
            client = Client(
                settings.account_sid,
                settings.auth_token,
                http_client=TwilioHttpClient(timeout=settings.timeout),
            )
            client.api.base_url = settings.base_url
        self.client = client
        self._sent: dict[tuple[str, str], str] = {}

    def __call__(self, finding: Finding, context: ActionContext) -> str:
        # Live mode hands over its outbox's key; lint (and serviceflow before live mode) only the
        # finding, whose key (case, policy, record, status) is the same on every run.
        key = getattr(context, "idempotency_key", "") or "/".join(finding.key)
        return self.describe(self.send(finding.to_dict(), key, context.now))

    def body(self, finding: Mapping[str, Any], idempotency_key: str) -> str:
        """The text: the template filled with the finding's fields, then the reference."""
        values = {name: _one_line(finding.get(name)) for name in FIELDS}
        suffix = f" [ref {reference(idempotency_key)}]"
        text = self.settings.template.format_map(values).strip()
        room = MAX_BODY - len(suffix)
        return (text if len(text) <= room else text[: room - 1] + "\u2026") + suffix

    def send(self, finding: Mapping[str, Any], idempotency_key: str, now: datetime) -> list[Sent]:
        """Send (or find already sent) the finding's message to every recipient.

        Raises :class:`SmsError` after trying every recipient when any failed; a retry with the
        same key skips those that got it.
        """
        if not idempotency_key:
            raise ValueError("an idempotency key is required")
        text = self.body(finding, idempotency_key)
        marker = reference(idempotency_key)
        outcomes: list[Sent] = []
        failures: list[str] = []
        for to in self.settings.to:
            try:
                outcomes.append(self._send_one(to, text, marker, idempotency_key, now))
            except SmsError as error:
                failures.append(error.message)
        if failures:
            raise SmsError(f"{'; '.join(failures)} ({self.describe(outcomes) or 'nothing sent'})")
        return outcomes

    def _send_one(self, to: str, text: str, marker: str, key: str, now: datetime) -> Sent:
        remembered = self._sent.get((key, to))
        if remembered is not None:
            return Sent(to, remembered, already=True)
        try:
            earlier = self._earlier(to, marker, now)
            if earlier is not None:
                self._sent[(key, to)] = earlier
                return Sent(to, earlier, already=True)
            message = self.client.messages.create(
                to=to,
                body=text,
                **({"from_": self.settings.sender} if self.settings.sender else {}),
                **(
                    {"messaging_service_sid": self.settings.messaging_service_sid}
                    if self.settings.messaging_service_sid
                    else {}
                ),
            )
        except TwilioRestException as exc:
            raise SmsError(
                f"Twilio refused the message to {mask(to)}: HTTP {exc.status}"
                + (f", error {exc.code}" if exc.code else "")
                + f": {mask_in_text(str(exc.msg))[:300]}"
            ) from None
        except (TwilioException, RequestException, OSError) as exc:
            raise SmsError(
                f"cannot reach Twilio at {self.settings.base_url}: {mask_in_text(str(exc))[:300]}"
            ) from None
        sid = str(message.sid)
        self._sent[(key, to)] = sid
        LOGGER.info("sms %s sent to %s (%s)", sid, mask(to), marker)
        return Sent(to, sid, already=False)

    def _earlier(self, to: str, marker: str, now: datetime) -> str | None:
        """The SID of a message to ``to`` sent since the lookback that carries ``marker``, if any."""
        # The twilio client writes the time as given with a Z: hand it UTC.
        since = (now - self.settings.dedupe_lookback).astimezone(UTC)
        for message in self.client.messages.list(
            to=to,
            **({"from_": self.settings.sender} if self.settings.sender else {}),
            date_sent_after=since,
            limit=DEDUPE_LIMIT,
        ):
            if marker in (message.body or ""):
                return str(message.sid)
        return None

    @staticmethod
    def describe(outcomes: list[Sent]) -> str:
        return "; ".join(
            f"{'already sent' if sent.already else 'sent'} {sent.sid} to {mask(sent.to)}" for sent in outcomes
        )


def _one_line(value: object) -> str:
    if value is None:
        return ""
    return " ".join(clean_text(str(value)).split())


SPEC = ActionSpec(
    NAME, create, "an SMS about each violation, through Twilio's REST API, sent once per finding"
)
