"""One RT ticket transaction -> the serviceflow records it stands for. Pure: no HTTP, no clock.

The source (:mod:`serviceflow_rt.source`) reads transactions and what they refer to (the ticket, the
users, the message) into the small value types below; :func:`records_for` turns one into record dicts.
The table of what becomes what is in the package README; in short:

=====================================  ==========================================================
RT transaction                          records
=====================================  ==========================================================
``Create``                              ``case_opened``; an inbound ``contact`` with the requestor's
                                        text; a ``commitment`` when the ticket was created with a Due
``Correspond``                          ``contact``: outbound when staff wrote, inbound from a requestor
``Comment``                             ``note`` (not the comments serviceflow's own action writes)
``Status``                              ``status_change`` (RT statuses mapped by ``config.statuses``;
                                        leaving a closed status is ``reopened``); to a closed status
                                        with a Due set, also the Due commitment's ``fulfillment``
``Set`` Due                             ``commitment`` (first Due) or ``reschedule`` (a changed Due)
``Set`` Owner / Queue                   ``escalation`` when the new owner / queue is configured as one
``CustomField``                         ``confirmation``, ``capacity_check`` or ``concession`` by rule
=====================================  ==========================================================

Ids are derived from RT's: ticket 42 is case ``rt-42``; transaction 350 of it gives record ``rt-42-350``
(and ``rt-42-350-contact``... when one transaction makes several), with ``source: {system: rt, ref:
"350"}``, so reading the same history twice gives the same records.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

from serviceflow.plugin import format_datetime
from serviceflow_rt.config import CLOSED_STATUSES, RtConfig

SYSTEM = "rt"
#: What serviceflow's own actions write into a comment, so that a retry finds it and the source
#: does not read serviceflow's words back as the desk's note.
ACTION_MARKER = "serviceflow-action:"
#: RT's users that are RT itself, not a person.
SYSTEM_USERS = frozenset({"RT_System", "Nobody"})
#: RT's "not set" date.
_UNSET_DATES = frozenset({"", "1970-01-01 00:00:00", "1970-01-01T00:00:00Z", "1970-01-01T00:00:00"})
_RT_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")
CONCESSION_KINDS = ("discount", "credit", "refund", "free_service", "gesture")
_AMOUNT = re.compile(r"^\d+(?:[.,]\d+)?$")


@dataclass(frozen=True)
class RtUser:
    """An RT user as a transaction names it: ``name`` is RT's user name (an email for customers)."""

    name: str
    email: str = ""
    real_name: str = ""
    privileged: bool | None = None
    """``None`` when RT could not be asked."""


@dataclass(frozen=True)
class RtMessage:
    """The text of a Create, Correspond or Comment, and what else came with it."""

    text: str = ""
    interface: str = ""
    """RT's ``X-RT-Interface``: ``Email``, ``Web``, ``REST``, ``CLI``..."""
    subject: str = ""
    attachments: tuple[dict[str, Any], ...] = ()
    """The parts not used as text: ``{filename, content_type, size}``."""
    cut_from: int | None = None
    """The text's length in characters when it was cut to ``config.max_text``."""
    problem: str = ""


@dataclass(frozen=True)
class RtTicket:
    """What the mapping needs of a ticket, as it is now."""

    id: int
    queue: str = ""
    subject: str = ""
    requestors: tuple[str, ...] = ()
    owner: str = ""
    due: datetime | None = None


@dataclass(frozen=True)
class RtTransaction:
    """One ticket transaction with the names its ids refer to already looked up."""

    id: int
    ticket: RtTicket
    type: str
    created: datetime
    creator: RtUser
    field: str = ""
    old_value: str = ""
    new_value: str = ""
    old_name: str = ""
    """Owner / Queue changes: the old user's or queue's name (RT stores ids)."""
    new_name: str = ""
    custom_field: str = ""
    """CustomField changes: the field's name."""
    message: RtMessage | None = None
    due_at_create: datetime | None = None
    """Create: the Due the ticket was created with."""
    problems: list[str] = dataclasses.field(default_factory=list, compare=False)


def records_for(transaction: RtTransaction, config: RtConfig) -> list[dict[str, Any]]:
    """The records one transaction stands for (often one, sometimes none or several)."""
    mapper = _MAPPERS.get(transaction.type)
    return mapper(transaction, config) if mapper is not None else []


def parse_rt_date(value: str | None) -> datetime | None:
    """An RT date (``2030-01-02 10:00:00`` in UTC, or ISO 8601) or ``None`` when unset/unreadable."""
    if value is None:
        return None
    text = str(value).strip()
    if text in _UNSET_DATES:
        return None
    match = _RT_DATE.match(text)
    if match is None:
        return None
    zone = match.group(7)
    year, month, day, hour, minute, second = match.group(1, 2, 3, 4, 5, 6)
    iso = f"{year}-{month}-{day}T{hour}:{minute}:{second}"
    try:
        if zone is None or zone == "Z":
            value_at = datetime.fromisoformat(iso).replace(tzinfo=UTC)
        else:
            value_at = datetime.fromisoformat(iso + (zone if ":" in zone else zone[:3] + ":" + zone[3:]))
    except ValueError:
        return None
    return None if value_at.year <= 1970 else value_at


def html_to_text(html: str) -> str:
    """The visible text of an HTML message part, paragraphs on their own lines."""
    parser = _TextOf()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


# -- the mappers, one per transaction type ---------------------------------------------------------


def _create(transaction: RtTransaction, config: RtConfig) -> list[dict[str, Any]]:
    ticket = transaction.ticket
    message = transaction.message or RtMessage()
    channel = _inbound_channel(message, config)
    opened = _record(transaction, config, "case_opened", _actor(transaction.creator, ticket), channel=channel)
    subject = ticket.subject or message.subject
    if subject:
        opened["subject"] = subject
    records = [opened]
    if ticket.requestors or message.text:
        contact = _record(
            transaction,
            config,
            "contact",
            _customer(ticket) or _actor(transaction.creator, ticket),
            suffix="-contact",
            channel=channel,
            message=message,
        )
        contact["direction"] = "inbound"
        records.append(contact)
    if config.due_commitments and transaction.due_at_create is not None:
        records.append(_commitment(transaction, config, transaction.due_at_create))
    return records


def _correspond(transaction: RtTransaction, config: RtConfig) -> list[dict[str, Any]]:
    message = transaction.message or RtMessage()
    actor = _actor(transaction.creator, transaction.ticket)
    inbound = actor["role"] == "customer"
    channel = _inbound_channel(message, config) if inbound else config.outbound_channel
    contact = _record(transaction, config, "contact", actor, channel=channel, message=message)
    contact["direction"] = "inbound" if inbound else "outbound"
    return [contact]


def _comment(transaction: RtTransaction, config: RtConfig) -> list[dict[str, Any]]:
    message = transaction.message or RtMessage()
    if ACTION_MARKER in message.text:
        return []  # serviceflow's own words: reading them back as a note could satisfy a policy
    note = _record(
        transaction, config, "note", _actor(transaction.creator, transaction.ticket), message=message
    )
    note["text"] = message.text
    return [note]


def _status(transaction: RtTransaction, config: RtConfig) -> list[dict[str, Any]]:
    old_rt, new_rt = transaction.old_value.casefold(), transaction.new_value.casefold()
    new = config.statuses.get(new_rt)
    old = config.statuses.get(old_rt)
    if new is None:
        transaction.problems.append(
            f"RT status {transaction.new_value!r} is not in the status map; no record"
        )
        return []
    if old in CLOSED_STATUSES and new not in CLOSED_STATUSES:
        new = "reopened"
    elif new == old:
        return []
    actor = _actor(transaction.creator, transaction.ticket)
    change = _record(transaction, config, "status_change", actor)
    change["to"] = new
    if old is not None:
        change["from"] = old
    change["meta"]["rt"].update({"from": transaction.old_value, "to": transaction.new_value})
    records = [change]
    due = transaction.ticket.due
    if config.due_commitments and due is not None and new in CLOSED_STATUSES and old not in CLOSED_STATUSES:
        kept = _record(transaction, config, "fulfillment", actor, suffix="-fulfillment")
        kept["commitment_id"] = _commitment_id(transaction, config)
        records.append(kept)
    return records


def _set(transaction: RtTransaction, config: RtConfig) -> list[dict[str, Any]]:
    if transaction.field == "Due":
        return _due_changed(transaction, config)
    if transaction.field == "Owner":
        new_owner = transaction.new_name
        wanted = "*" in config.escalation_owners or new_owner in config.escalation_owners
        if not new_owner or new_owner in SYSTEM_USERS or not wanted:
            return []
        reason = f"owner changed from {transaction.old_name or transaction.old_value} to {new_owner}"
        return [_escalation(transaction, config, new_owner, reason)]
    if transaction.field == "Queue":
        new_queue = transaction.new_name
        if new_queue not in config.escalation_queues:
            return []
        reason = f"moved from queue {transaction.old_name or transaction.old_value} to {new_queue}"
        return [_escalation(transaction, config, new_queue, reason)]
    return []


def _custom_field(transaction: RtTransaction, config: RtConfig) -> list[dict[str, Any]]:
    rule = config.rule_for(transaction.custom_field) if transaction.custom_field else None
    value = transaction.new_value.strip()
    if rule is None or not value:
        return []  # not a field the desk mapped, or a value removed
    folded = value.casefold()
    ticket = transaction.ticket
    if rule.record == "confirmation":
        if folded not in rule.yes and folded not in rule.no:
            transaction.problems.append(
                f"custom field {rule.name!r}: {value!r} is neither a yes nor a no value"
            )
            return []
        # The field records what the customer said; whoever set it is kept in meta.
        confirmation = _record(
            transaction, config, "confirmation", _customer(ticket) or _actor(transaction.creator, ticket)
        )
        confirmation["resolved"] = folded in rule.yes
        confirmation["meta"]["rt"].update(
            {"field": rule.name, "value": value, "recorded_by": transaction.creator.name}
        )
        return [confirmation]
    if rule.record == "capacity_check":
        until = parse_rt_date(value)
        if until is None and folded not in rule.yes and folded not in rule.no:
            transaction.problems.append(
                f"custom field {rule.name!r}: {value!r} is neither yes, no nor a date"
            )
            return []
        check = _record(transaction, config, "capacity_check", _actor(transaction.creator, ticket))
        end = until or ticket.due or transaction.created
        check["resource"] = (
            ticket.owner if ticket.owner and ticket.owner not in SYSTEM_USERS else "unassigned"
        )
        check["window"] = {"start": format_datetime(transaction.created), "end": format_datetime(end)}
        check["confirmed"] = until is not None or folded in rule.yes
        check["meta"]["rt"].update({"field": rule.name, "value": value})
        return [check]
    concession = _record(transaction, config, "concession", _actor(transaction.creator, ticket))
    concession.update(_concession_terms(value))
    if ticket.due is not None:
        concession["commitment_id"] = _commitment_id(transaction, config)
    concession["meta"]["rt"].update({"field": rule.name, "value": value})
    return [concession]


_MAPPERS = {
    "Create": _create,
    "Correspond": _correspond,
    "Comment": _comment,
    "Status": _status,
    "Set": _set,
    "CustomField": _custom_field,
}
MAPPED_TYPES = tuple(_MAPPERS)


# -- building blocks -------------------------------------------------------------------------------


def _record(
    transaction: RtTransaction,
    config: RtConfig,
    record_type: str,
    actor: dict[str, str],
    *,
    suffix: str = "",
    channel: str | None = None,
    message: RtMessage | None = None,
) -> dict[str, Any]:
    ticket = transaction.ticket
    rt_meta: dict[str, Any] = {"ticket": ticket.id, "transaction": transaction.id, "type": transaction.type}
    if ticket.queue:
        rt_meta["queue"] = ticket.queue
    if transaction.creator.name:
        rt_meta["creator"] = transaction.creator.name
    record: dict[str, Any] = {
        "id": f"{config.case_id(ticket.id)}-{transaction.id}{suffix}",
        "case_id": config.case_id(ticket.id),
        "type": record_type,
        "at": format_datetime(transaction.created),
        "actor": actor,
    }
    if ticket.requestors:
        record["customer_id"] = ticket.requestors[0]
    if channel is not None:
        record["channel"] = channel
    if message is not None:
        if message.text and record_type != "note":
            record["text"] = message.text
        if message.interface:
            rt_meta["interface"] = message.interface
        if message.attachments:
            rt_meta["attachments"] = [dict(part) for part in message.attachments]
        if message.cut_from is not None:
            rt_meta["text_cut_from"] = message.cut_from
        if message.problem:
            rt_meta["problem"] = message.problem
    record["source"] = {"system": SYSTEM, "ref": str(transaction.id)}
    record["meta"] = {"rt": rt_meta}
    return record


def _actor(user: RtUser, ticket: RtTicket) -> dict[str, str]:
    name = user.name or "unknown"
    if not user.name or user.name in SYSTEM_USERS:
        role = "system"
    elif _is_requestor(user, ticket) or user.privileged is False:
        role = "customer"
    else:
        role = "agent"
    actor = {"role": role, "id": name}
    if user.real_name:
        actor["name"] = user.real_name
    return actor


def _customer(ticket: RtTicket) -> dict[str, str] | None:
    return {"role": "customer", "id": ticket.requestors[0]} if ticket.requestors else None


def _is_requestor(user: RtUser, ticket: RtTicket) -> bool:
    names = {name.casefold() for name in ticket.requestors}
    return user.name.casefold() in names or (bool(user.email) and user.email.casefold() in names)


def _inbound_channel(message: RtMessage, config: RtConfig) -> str:
    return "email" if message.interface.casefold() == "email" else config.inbound_channel


def _commitment_id(transaction: RtTransaction, config: RtConfig) -> str:
    return f"{config.case_id(transaction.ticket.id)}-due"


def _commitment(transaction: RtTransaction, config: RtConfig, due: datetime) -> dict[str, Any]:
    actor = _actor(transaction.creator, transaction.ticket)
    if actor["role"] == "customer":
        actor = {
            "role": "system",
            "id": "RT_System",
        }  # a queue's default due: the desk's promise, not the customer's
    commitment = _record(transaction, config, "commitment", actor, suffix="-commitment")
    ticket = transaction.ticket
    subject = f": {ticket.subject}" if ticket.subject else ""
    commitment["commitment_id"] = _commitment_id(transaction, config)
    commitment["promise"] = f"ticket #{ticket.id} resolved by its due date{subject}"
    commitment["due"] = format_datetime(due)
    return commitment


def _due_changed(transaction: RtTransaction, config: RtConfig) -> list[dict[str, Any]]:
    if not config.due_commitments:
        return []
    old, new = parse_rt_date(transaction.old_value), parse_rt_date(transaction.new_value)
    if new is None:
        if transaction.new_value.strip() not in _UNSET_DATES:
            transaction.problems.append(f"Due {transaction.new_value!r} is not a date RT writes; no record")
        return []  # a Due removed: the promise was made all the same, so nothing is withdrawn
    if old is None:
        return [_commitment(transaction, config, new)]
    if old == new:
        return []
    change = _record(transaction, config, "reschedule", _actor(transaction.creator, transaction.ticket))
    change["commitment_id"] = _commitment_id(transaction, config)
    change["new_due"] = format_datetime(new)
    change["customer_agreed"] = False  # RT does not know; the cautious reading keeps the first due
    return [change]


def _escalation(transaction: RtTransaction, config: RtConfig, to: str, reason: str) -> dict[str, Any]:
    escalation = _record(transaction, config, "escalation", _actor(transaction.creator, transaction.ticket))
    escalation["to"] = to
    escalation["reason"] = reason
    return escalation


def _concession_terms(value: str) -> dict[str, Any]:
    words = value.replace("%", " % ").split()
    kind = words[0].casefold().replace("-", "_") if words else ""
    terms: dict[str, Any] = {"kind": kind if kind in CONCESSION_KINDS else "gesture"}
    for word in words[1:]:
        if _AMOUNT.match(word) and "amount" not in terms:
            terms["amount"] = float(word.replace(",", "."))
        elif len(word) == 3 and word.isalpha() and word.isupper() and "currency" not in terms:
            terms["currency"] = word
    return terms


class _TextOf(HTMLParser):
    _BREAKS = frozenset({"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "blockquote", "pre"})
    _HIDDEN = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self._hidden += 1
        elif tag in self._BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in self._BREAKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)
