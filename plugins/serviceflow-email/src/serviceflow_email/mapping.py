"""From an email to a serviceflow ``contact``: its case, direction, actor, time, identity and text.

**The case**, strongest evidence first:

1. a **case tag** in the subject, by the ``case-tag`` pattern (default ``[#CASE-123]`` → ``CASE-123``):
   the help desk put it there and the customer's client kept it;
2. the **thread**: ``In-Reply-To``, then ``References`` from the newest, matched to a Message-ID
   already mapped. What is known comes from a lookup the caller injects (:data:`CaseLookup`: the live
   service's store answers from the records it holds) and from the messages this mapper has mapped
   itself;
3. a **new case**, ``email-`` and a hash of the thread's root: the first ``References`` entry, else
   ``In-Reply-To``, else the message's own id. Deterministic, so re-reading a mailbox gives the same
   case ids, and a thread whose first message was never seen still stays together.

**Direction**: outbound when the sender's domain is one of ``agent-domains`` (or a subdomain of one),
inbound otherwise. The actor is the sender (role ``agent`` or ``customer``, id the lower-cased address,
name the display name); ``customer_id`` is the customer's address: the sender of an inbound message,
the first recipient outside the agent domains of an outbound one. An outbound message with no such
recipient is internal mail between staff, not a contact, and is skipped.

**Identity**: ``id`` is ``email-`` and 24 hex digits of the SHA-256 of the Message-ID (of the identity
headers when there is none, see :mod:`.messages`), so a message read twice is the same record;
``source`` is ``{system: "imap", ref: <Message-ID>}`` (``ref`` is ``headers-sha256:<hex>`` without one).
Nothing in a record depends on where the message was read (mailbox, UID), so a mailbox read again
after its UIDVALIDITY changed, or a copy of the message in another folder, gives the same record.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from serviceflow.plugin import format_datetime
from serviceflow_email.messages import Message

#: ``lookup(message_id) -> case_id or None``: the case of an already mapped message, by its
#: ``<Message-ID>`` (angle brackets included, as in ``source.ref``).
CaseLookup = Callable[[str], str | None]
SOURCE_SYSTEM = "imap"
RECORD_PREFIX = "email-"


@dataclass(frozen=True)
class MappingSettings:
    agent_domains: tuple[str, ...]
    case_tag: re.Pattern[str]
    case_prefix: str = "email-"


class CaseAssigner:
    """Assigns cases and remembers the Message-IDs it assigned (the last ``memory`` of them)."""

    def __init__(
        self,
        settings: MappingSettings,
        lookup: CaseLookup | Mapping[str, str] | None = None,
        *,
        memory: int = 10_000,
    ) -> None:
        self.settings = settings
        self._lookup: CaseLookup | None = lookup.get if isinstance(lookup, Mapping) else lookup
        self._known: OrderedDict[str, str] = OrderedDict()
        self._memory = memory

    def assign(self, message: Message) -> tuple[str, str]:
        """The case of ``message`` and how it was found: ``tag``, ``thread`` or ``new``."""
        match = self.settings.case_tag.search(message.subject)
        if match is not None:
            case = match["case"] if "case" in self.settings.case_tag.groupindex else match[1]
            if case:
                return case, "tag"
        for parent in (*message.in_reply_to, *reversed(message.references)):
            case = self.known(parent)
            if case is not None:
                return case, "thread"
        root = (
            next(iter(message.references), None) or next(iter(message.in_reply_to), None) or identity(message)
        )
        return self.settings.case_prefix + _hash(root)[:16], "new"

    def known(self, message_id: str) -> str | None:
        case = self._known.get(message_id)
        if case is not None:
            self._known.move_to_end(message_id)
            return case
        return self._lookup(message_id) if self._lookup is not None else None

    def remember(self, message_id: str, case_id: str) -> None:
        self._known[message_id] = case_id
        self._known.move_to_end(message_id)
        while len(self._known) > self._memory:
            self._known.popitem(last=False)


def identity(message: Message) -> str:
    """The message's key in its system: its Message-ID, or the hash of its identity headers."""
    return message.message_id or f"headers-sha256:{message.header_digest}"


def record_id(message: Message) -> str:
    return record_id_of(identity(message))


def record_id_of(message_key: str) -> str:
    """The record id of the message whose Message-ID (or identity hash) is ``message_key``: how a
    store that holds records by id answers "which case holds this Message-ID?"."""
    return RECORD_PREFIX + _hash(message_key)[:24]


def is_agent(address: str, agent_domains: tuple[str, ...]) -> bool:
    domain = address.rpartition("@")[2].lower()
    return any(domain == agent or domain.endswith("." + agent) for agent in agent_domains)


def to_contact(
    message: Message,
    case_id: str,
    assigned_by: str,
    at: datetime,
    settings: MappingSettings,
) -> dict[str, Any] | None:
    """The ``contact`` record of ``message``, or ``None`` for internal mail between staff."""
    sender = message.sender.addr_spec.lower()
    outbound = is_agent(sender, settings.agent_domains)
    if outbound:
        customers = [
            address.addr_spec.lower()
            for address in (*message.to, *message.cc)
            if not is_agent(address.addr_spec, settings.agent_domains)
        ]
        if not customers:
            return None
        customer = customers[0]
    else:
        customer = sender
    actor: dict[str, str] = {"role": "agent" if outbound else "customer", "id": sender}
    if message.sender.display_name.strip():
        actor["name"] = message.sender.display_name.strip()
    record: dict[str, Any] = {
        "id": record_id(message),
        "case_id": case_id,
        "type": "contact",
        "at": format_datetime(at),
        "actor": actor,
        "customer_id": customer,
        "channel": "email",
        "direction": "outbound" if outbound else "inbound",
    }
    if message.text:
        record["text"] = message.text
    record["source"] = {"system": SOURCE_SYSTEM, "ref": identity(message)}
    email: dict[str, Any] = {
        "subject": message.subject,
        "from": sender,
        "to": [address.addr_spec.lower() for address in message.to],
        "case_assigned_by": assigned_by,
    }
    if message.cc:
        email["cc"] = [address.addr_spec.lower() for address in message.cc]
    if message.in_reply_to:
        email["in_reply_to"] = list(message.in_reply_to)
    if message.references:
        email["references"] = list(message.references)
    if message.attachments:
        email["attachments"] = [
            {"filename": item.filename, "content_type": item.content_type} for item in message.attachments
        ]
    if message.problems:
        email["problems"] = [{"kind": problem.kind, "detail": problem.detail} for problem in message.problems]
    record["meta"] = {"email": email}
    return record


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()
