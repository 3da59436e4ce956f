"""What a verified Twilio webhook says, and the serviceflow record it becomes.

Three kinds of request reach the phone hooks:

* a **voice status callback** (``CallSid`` + ``CallStatus``): Twilio reports a call's progress
  (``initiated``, ``ringing``, ``in-progress``) and, once, its end (``completed``, ``busy``,
  ``no-answer``, ``canceled``, ``failed``). Only the end makes a record: one ``contact`` per call,
  keyed by ``CallSid``. The README ("One call, one record") explains why progress makes none;
* an **incoming message** (``MessageSid`` with status ``received``): one ``contact`` per message,
  channel ``sms`` (``chat`` for WhatsApp and other ``scheme:`` addresses), the body in ``text``;
* a **message status callback** for a message this organisation sent: acknowledged, no record.

:func:`read_event` turns the parameters into a :class:`CallEvent` or :class:`MessageEvent` (or raises
:class:`UnusableRequest`, a 400: the request is Twilio's but lacks what a record needs), and
:func:`call_record` / :func:`message_record` build the records. Numbers in messages are masked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from serviceflow.plugin import format_datetime
from serviceflow_phone.contacts import Party, case_for, clean_text

__all__ = [
    "FINAL_CALL_STATUSES",
    "CallEvent",
    "MessageEvent",
    "UnusableRequest",
    "call_record",
    "message_record",
    "read_event",
]

#: Twilio's final call statuses and the status serviceflow records (shared with Asterisk's).
FINAL_CALL_STATUSES = {
    "completed": "answered",
    "busy": "busy",
    "no-answer": "no_answer",
    "canceled": "canceled",
    "failed": "failed",
}
PROGRESS_CALL_STATUSES = frozenset({"queued", "initiated", "ringing", "in-progress"})
#: ``Direction`` values: calls from a customer, and calls the organisation placed.
INBOUND_DIRECTIONS = frozenset({"inbound", "trunking-originating"})
OUTBOUND_DIRECTIONS = frozenset({"outbound-api", "outbound-dial", "trunking-terminating"})
SYSTEM = "twilio"
#: Twilio SIDs are two letters and 32 hex digits; the check keeps record ids clean, not strict.
_SID = re.compile(r"^[A-Z]{2}[0-9A-Za-z]{1,62}$")
_STATUS = re.compile(r"^[a-z][a-z_-]{0,29}$")
MAX_CALL_SECONDS = 7 * 24 * 3600


class UnusableRequest(ValueError):
    """A verified request this package cannot make a record of (answered with 400)."""


@dataclass(frozen=True)
class CallEvent:
    """A voice status callback: the call, its status and, for a final status, what a record needs."""

    sid: str
    status: str
    final: bool
    inbound: bool
    customer_address: str
    our_address: str
    duration_seconds: int
    event_at: datetime | None
    parent_sid: str | None
    account_sid: str | None
    twilio_direction: str

    @property
    def replay_status(self) -> str:
        return self.status


@dataclass(frozen=True)
class MessageEvent:
    """A message webhook: an incoming message (``received``) or a status callback for a sent one."""

    sid: str
    status: str
    incoming: bool
    customer_address: str
    our_address: str
    body: str
    media_count: int
    segments: int | None
    account_sid: str | None

    @property
    def replay_status(self) -> str:
        return self.status


def read_event(params: Mapping[str, str]) -> CallEvent | MessageEvent:
    """The event a verified request reports; :class:`UnusableRequest` when it is neither kind."""
    if "CallSid" in params and "CallStatus" in params and "MessageSid" not in params:
        return _call_event(params)
    message_sid = params.get("MessageSid") or params.get("SmsMessageSid") or params.get("SmsSid")
    if message_sid is not None:
        return _message_event(params, message_sid)
    raise UnusableRequest("neither a voice status callback (CallSid, CallStatus) nor a message (MessageSid)")


def _sid(value: str | None, name: str) -> str:
    if value is None or not _SID.match(value):
        raise UnusableRequest(f"{name} is missing or not a Twilio SID")
    return value


def _call_event(params: Mapping[str, str]) -> CallEvent:
    sid = _sid(params.get("CallSid"), "CallSid")
    status = params["CallStatus"].strip().lower()
    if status not in FINAL_CALL_STATUSES and status not in PROGRESS_CALL_STATUSES:
        raise UnusableRequest(f"unknown CallStatus {status[:30]!r}")
    direction = params.get("Direction", "").strip().lower()
    if direction in INBOUND_DIRECTIONS:
        inbound = True
    elif direction in OUTBOUND_DIRECTIONS:
        inbound = False
    else:
        raise UnusableRequest(f"unknown Direction {direction[:30]!r} (inbound, outbound-api, outbound-dial)")
    caller, called = params.get("From", ""), params.get("To", "")
    duration = _integer(params.get("CallDuration"), "CallDuration", MAX_CALL_SECONDS)
    return CallEvent(
        sid=sid,
        status=status,
        final=status in FINAL_CALL_STATUSES,
        inbound=inbound,
        customer_address=caller if inbound else called,
        our_address=called if inbound else caller,
        duration_seconds=duration,
        event_at=_timestamp(params.get("Timestamp")),
        parent_sid=_sid(params["ParentCallSid"], "ParentCallSid") if params.get("ParentCallSid") else None,
        account_sid=params.get("AccountSid"),
        twilio_direction=direction,
    )


def _message_event(params: Mapping[str, str], message_sid: str) -> MessageEvent:
    sid = _sid(message_sid, "MessageSid")
    status = (params.get("SmsStatus") or params.get("MessageStatus") or "").strip().lower()
    if not _STATUS.match(status):
        raise UnusableRequest("a message webhook without a valid SmsStatus or MessageStatus")
    incoming = status == "received"
    caller, called = params.get("From", ""), params.get("To", "")
    return MessageEvent(
        sid=sid,
        status=status,
        incoming=incoming,
        customer_address=caller if incoming else called,
        our_address=called if incoming else caller,
        body=params.get("Body", ""),
        media_count=_integer(params.get("NumMedia"), "NumMedia", 100),
        segments=_integer(params["NumSegments"], "NumSegments", 1000) if params.get("NumSegments") else None,
        account_sid=params.get("AccountSid"),
    )


def _integer(text: str | None, name: str, maximum: int) -> int:
    if text is None or text == "":
        return 0
    if not text.isascii() or not text.isdigit() or int(text) > maximum:
        raise UnusableRequest(f"{name} is not a whole number from 0 to {maximum}")
    return int(text)


def _timestamp(text: str | None) -> datetime | None:
    """Twilio's ``Timestamp`` (RFC 2822, ``Mon, 16 Aug 2010 03:45:01 +0000``), as an aware datetime."""
    if text is None or not text.strip():
        return None
    try:
        moment = parsedate_to_datetime(text.strip()[:64])
    except (TypeError, ValueError, IndexError):
        raise UnusableRequest("Timestamp is not an RFC 2822 date") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def call_record(event: CallEvent, party: Party, case_by: str, received_at: datetime) -> dict[str, Any]:
    """The one ``contact`` of a finished call. ``at`` is when talking started (the end minus
    ``CallDuration``); the end is ``meta.ended_at``, Twilio's ``Timestamp`` or else ``received_at``."""
    ended_at = event.event_at or received_at
    status = FINAL_CALL_STATUSES[event.status]
    answered = status == "answered"
    started_at = ended_at - timedelta(seconds=event.duration_seconds if answered else 0)
    record_id = f"{SYSTEM}-{event.sid}"
    actor = party.customer_actor() if event.inbound else {"role": "agent", "id": event.our_address or SYSTEM}
    meta = {
        "status": status,
        "answered": answered,
        "duration_seconds": event.duration_seconds if answered else 0,
        "ended_at": format_datetime(ended_at.replace(microsecond=0)),
        "twilio_status": event.status,
        "twilio_direction": event.twilio_direction,
        "customer_number": party.number,
        "our_number": event.our_address or None,
        "account_sid": event.account_sid,
    }
    record: dict[str, Any] = {
        "id": record_id,
        "case_id": case_for(party, record_id, case_by),
        "type": "contact",
        "at": format_datetime(started_at.replace(microsecond=0)),
        "actor": actor,
        "channel": "phone",
        "direction": "inbound" if event.inbound else "outbound",
        "summary": f"{'Inbound' if event.inbound else 'Outbound'} call, {status.replace('_', ' ')}"
        + (f", {_duration_words(event.duration_seconds)}" if answered else ""),
        "source": {"system": SYSTEM, "ref": event.sid},
        "meta": {key: value for key, value in meta.items() if value is not None},
    }
    if party.match is not None:
        record["customer_id"] = party.match.customer_id
    return record


def message_record(event: MessageEvent, party: Party, case_by: str, received_at: datetime) -> dict[str, Any]:
    """The ``contact`` of an incoming message, at ``received_at`` (message webhooks carry no time)."""
    scheme = event.customer_address.split(":", 1)[0].lower() if ":" in event.customer_address else "sms"
    channel = "sms" if scheme in {"sms", "tel"} else "chat"
    record_id = f"{SYSTEM}-{event.sid}"
    meta = {
        "messaging_channel": scheme if scheme != "tel" else "sms",
        "media_count": event.media_count,
        "segments": event.segments,
        "customer_number": party.number,
        "our_number": event.our_address or None,
        "account_sid": event.account_sid,
    }
    record: dict[str, Any] = {
        "id": record_id,
        "case_id": case_for(party, record_id, case_by),
        "type": "contact",
        "at": format_datetime(received_at.replace(microsecond=0)),
        "actor": party.customer_actor(),
        "channel": channel,
        "direction": "inbound",
        "source": {"system": SYSTEM, "ref": event.sid},
        "meta": {key: value for key, value in meta.items() if value is not None},
    }
    text = clean_text(event.body)
    if text.strip():
        record["text"] = text
    if party.match is not None:
        record["customer_id"] = party.match.customer_id
    return record


def _duration_words(seconds: int) -> str:
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"
