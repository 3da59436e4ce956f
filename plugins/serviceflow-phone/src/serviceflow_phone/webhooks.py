"""Twilio's webhooks as pure functions: a request in, an HTTP status and serviceflow records out.

:func:`handle_twilio_request` is what the ``twilio`` route (:mod:`.routes`) calls for each request to
``/v1/hooks/phone/twilio/...``; it does no I/O of its own (the seen store and the customer lookup are
injected, ``now`` is passed in), so it is tested without a server and the route only stores::

    result = handle_twilio_request(request.url, request.headers, request.body, config, seen, now)
    # 200: store result.records (with the seen claim, in one transaction), answer result.body
    # 400 / 403 / 413 / 415: answer a problem document with result.detail; nothing is stored

The steps, in order, each able to stop the request:

1. **Size**: a body over ``max-body-bytes`` is refused (413) unread.
2. **Signature** (:mod:`.twilio_requests`): unsigned, tampered, signed for another URL, or not
   decodable as what Twilio signs: 403.
3. **Meaning** (:mod:`.twilio_events`): verified but missing what a record needs: 400.
4. **Freshness** (:mod:`.replay`): an event older than ``replay-window`` or from the future: 403;
   a request already claimed in the seen store: 403.
5. **Records**: the finished call's or the incoming message's ``contact``; progress callbacks,
   ``<Dial>`` legs and delivery reports of sent messages are acknowledged (200) with no record.

Log lines and ``detail`` never contain a full phone number.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from serviceflow.plugin import ConfigError
from serviceflow_phone.contacts import CASE_BY, find_party
from serviceflow_phone.customers import CustomerLookup, load_customer_csv
from serviceflow_phone.numbers import PhoneNumbers, mask
from serviceflow_phone.options import Options
from serviceflow_phone.replay import SeenStore, replay_key
from serviceflow_phone.twilio_events import (
    CallEvent,
    MessageEvent,
    UnusableRequest,
    call_record,
    message_record,
    read_event,
)
from serviceflow_phone.twilio_requests import Refused, signed_url, verify

__all__ = ["EMPTY_TWIML", "TwilioWebhookConfig", "WebhookResult", "handle_twilio_request"]

LOGGER = logging.getLogger("serviceflow_phone.webhooks")
#: What Twilio gets back on success: "do nothing more" for a message, ignored for a status callback.
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
#: How far in the future an event's Timestamp may be before the request is refused: clocks drift.
MAX_CLOCK_SKEW = timedelta(minutes=5)
DEFAULT_MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class TwilioWebhookConfig:
    """How to verify and map Twilio's requests (options: see :meth:`from_options` and the README).

    Secrets are left out of ``repr`` so that a logged configuration leaks nothing.
    """

    auth_tokens: tuple[str, ...] = field(repr=False)
    public_url: str
    numbers: PhoneNumbers = field(default_factory=PhoneNumbers)
    customers: CustomerLookup | None = None
    case_by: str = "lookup"
    replay_window: timedelta = timedelta(hours=24)
    max_body_bytes: int = DEFAULT_MAX_BODY
    shared_key_secret: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.auth_tokens or not all(isinstance(token, str) and token for token in self.auth_tokens):
            raise ConfigError("twilio: at least one auth token is required")
        check_public_url(self.public_url)
        if self.case_by not in CASE_BY:
            raise ConfigError(f"twilio: 'case-by' must be one of {', '.join(CASE_BY)}")

    @classmethod
    def from_options(
        cls,
        options: Mapping[str, Any],
        *,
        customers: CustomerLookup | None = None,
        base: Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> TwilioWebhookConfig:
        """The configuration a ``[routes.twilio]`` table of serviceflow.toml describes.

        ``customers`` (a lookup callable, e.g. backed by the service's store) replaces the table's
        ``customers`` CSV path; relative paths are resolved against ``base``.
        """
        reader = Options("twilio", options, environ if environ is not None else os.environ)
        tokens = [reader.secret("auth-token")]
        previous = reader.secret("previous-auth-token", required=False)
        if previous is not None:
            tokens.append(previous)
        shared = reader.secret("shared-key-secret", required=False)
        public_url = reader.string("public-url", required=True)
        numbers = PhoneNumbers(reader.string("default-region"))
        csv_path = reader.string("customers")
        case_by = reader.choice("case-by", CASE_BY, "lookup")
        window = reader.duration("replay-window", timedelta(hours=24))
        max_body = reader.integer("max-body-bytes", DEFAULT_MAX_BODY, minimum=1024, maximum=10 * 1024 * 1024)
        reader.finish()
        if customers is None and csv_path is not None:
            customers = load_customer_csv((base or Path.cwd()) / csv_path, numbers)
        return cls(
            auth_tokens=tuple(token for token in tokens if token),
            public_url=str(public_url),
            numbers=numbers,
            customers=customers,
            case_by=case_by,
            replay_window=window,
            max_body_bytes=max_body,
            shared_key_secret=shared,
        )


def check_public_url(url: object) -> str:
    """An absolute http(s) URL with a host and no query or fragment (Twilio's URLs are built on it)."""
    parts = urlsplit(url) if isinstance(url, str) else None
    if (
        parts is None
        or parts.scheme not in ("https", "http")
        or not parts.hostname
        or parts.query
        or parts.fragment
    ):
        raise ConfigError(
            "twilio: 'public-url' must be the absolute URL Twilio calls, such as https://desk.example.com "
            f"(scheme, host and any path prefix; no query), got {url!r:.80}"
        )
    return str(url)


@dataclass(frozen=True)
class WebhookResult:
    """What the route answers: ``status``, and on 200 the records to store and the TwiML to send."""

    status: int
    records: tuple[dict[str, Any], ...] = ()
    detail: str = ""
    replay_key: str | None = None

    @property
    def body(self) -> str:
        return EMPTY_TWIML if self.status == 200 else self.detail

    @property
    def content_type(self) -> str:
        return "text/xml" if self.status == 200 else "text/plain; charset=utf-8"


def handle_twilio_request(
    url: str,
    headers: Mapping[str, str],
    body: bytes | Mapping[str, str | Sequence[str]],
    config: TwilioWebhookConfig,
    seen: SeenStore,
    now: datetime,
) -> WebhookResult:
    """Verify one webhook request and map it; see the module documentation for each status.

    ``url`` is the request URL as the route received it (only its path and query are used: the
    scheme and host are ``config.public_url``'s); ``body`` the raw bytes, or the form fields when a
    framework has parsed them already; ``now`` the time the request arrived. An exception from the
    customer lookup propagates before anything is claimed: the route answers 500 and Twilio's retry
    is not taken for a replay.
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    path = urlsplit(url).path[:200]
    if isinstance(body, bytearray | memoryview):
        body = bytes(body)
    if _size(body) > config.max_body_bytes:
        return _refuse(413, f"the body is larger than {config.max_body_bytes} bytes", path)
    target = signed_url(config.public_url, url)
    try:
        request = verify(target, headers, body, config.auth_tokens, config.shared_key_secret)
        event = read_event(request.params)
    except Refused as refused:
        return _refuse(refused.status, refused.reason, path)
    except UnusableRequest as unusable:
        return _refuse(400, str(unusable), path)

    makes_record = _makes_record(event)
    party = find_party(event.customer_address, config.numbers, config.customers) if makes_record else None

    event_at = event.event_at if isinstance(event, CallEvent) else None
    if event_at is not None and now - event_at > config.replay_window:
        return _refuse(403, f"the event is older than the replay window ({config.replay_window})", path)
    if event_at is not None and event_at - now > MAX_CLOCK_SKEW:
        return _refuse(403, "the event is dated in the future", path)
    kind = "call" if isinstance(event, CallEvent) else "message"
    key = replay_key(kind, event.sid, event.replay_status, request.signature)
    if not seen.claim(key, now, now + config.replay_window):
        return _refuse(403, f"replayed: this {kind} {event.status} request was accepted before", path)

    records: tuple[dict[str, Any], ...] = ()
    if party is not None and isinstance(event, CallEvent):
        records = (call_record(event, party, config.case_by, now),)
    elif party is not None and isinstance(event, MessageEvent):
        records = (message_record(event, party, config.case_by, now),)
    LOGGER.info(
        "twilio %s %s %s from %s: %d record(s)",
        kind,
        event.sid,
        event.status,
        mask(event.customer_address),
        len(records),
    )
    return WebhookResult(200, records, _acknowledged(event, records), key)


def _makes_record(event: CallEvent | MessageEvent) -> bool:
    if isinstance(event, CallEvent):
        return event.final and event.parent_sid is None
    return event.incoming


def _acknowledged(event: CallEvent | MessageEvent, records: tuple[dict[str, Any], ...]) -> str:
    if records:
        return f"recorded as {records[0]['id']}"
    if isinstance(event, CallEvent) and event.parent_sid is not None:
        return f"a leg of call {event.parent_sid}: the parent call is the contact"
    if isinstance(event, CallEvent):
        return f"call {event.status}: a record is made when the call ends"
    return f"status of a sent message ({event.status}): not a contact"


def _size(body: bytes | Mapping[str, str | Sequence[str]]) -> int:
    if isinstance(body, bytes | bytearray | memoryview):
        return len(body)
    total = 0
    for name, value in body.items():
        values = [value] if isinstance(value, str) else value
        total += len(str(name)) + sum(len(str(item)) + 2 for item in values)
    return total


def _refuse(status: int, reason: str, path: str) -> WebhookResult:
    LOGGER.warning("twilio request to %r refused (%d): %s", path, status, reason)
    return WebhookResult(status, (), reason)
