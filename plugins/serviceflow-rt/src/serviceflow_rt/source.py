"""RT ticket history in, serviceflow records out: a poller with a cursor, and a file export.

:class:`RtSource` polls: ``poll(cursor)`` reads the ticket transactions after ``cursor`` (an RT
transaction id; ``None`` to start from the beginning) in the configured queues and returns
``(records, new_cursor)``. It keeps no state that matters: the caller stores the cursor (the live
service in its store, through the ``rt`` source of the ``serviceflow_sources`` hook, :class:`RtPoller`;
:func:`sync_once` in a file), and the records' ids come from RT's ids, so reading a history twice gives
the same records.

How it reads: one TransactionSQL search over all the polled queues (the configured ones and the
escalation queues), in transaction-id order, a page at a time keyed by the last id read. One id-ordered
stream is what makes a single transaction id a correct cursor: per-queue searches stop at different ids
and a ticket moved between two searches would be read twice or not at all. What the transactions refer
to is then read with one search per kind (the tickets, the message parts, their texts, the Due changes),
not one request per transaction: every REST2 request pays for checking the token (a bcrypt of cost 12,
about 0.27 s on a 2-core machine); a first poll of 18 transactions took 5.6 s with requests per
transaction and 2.9 s with searches.

What fails how:

* RT cannot be reached, or cannot list the transactions (401/403, 5xx, not JSON): :class:`RtError`,
  nothing returned; the caller keeps its cursor and tries again later.
* One transaction's details fail (RT answers 500 for its attachments, its ticket cannot be read; a
  failed search is retried item by item so that one bad item costs only its own transaction) or its
  content is odd (binary only, huge, undecodable, fields missing): its records are made from what is
  known, the problem is in ``meta.rt.problem`` and in :attr:`RtSource.problems`, and the poll goes on.
  A transaction without a time or a ticket cannot be placed in a case and is skipped with a problem.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

from serviceflow.plugin import ConfigError, ConnectorContext, SourceBatch, parse_datetime
from serviceflow_rt.client import RtClient, RtError, iter_pages, sql_any
from serviceflow_rt.config import RtConfig, config_from_options
from serviceflow_rt.mapping import (
    MAPPED_TYPES,
    SYSTEM_USERS,
    RtMessage,
    RtTicket,
    RtTransaction,
    RtUser,
    html_to_text,
    parse_rt_date,
    records_for,
)

LOGGER = logging.getLogger("serviceflow_rt")
MESSAGE_TYPES = frozenset({"Create", "Correspond", "Comment"})


@dataclass(frozen=True)
class PollProblem:
    """Something one transaction could not give in full; the poll went on."""

    transaction: int | None
    ticket: int | None
    message: str

    def __str__(self) -> str:
        where = f"transaction {self.transaction}" if self.transaction is not None else "poll"
        if self.ticket is not None:
            where += f" (ticket {self.ticket})"
        return f"{where}: {self.message}"


class RtSource:
    """Polls one RT for ticket history after a cursor and maps it to serviceflow records."""

    name = "rt"

    def __init__(self, config: RtConfig, client: RtClient | None = None) -> None:
        self.config = config
        self.client = client or RtClient(config)
        self.problems: list[PollProblem] = []
        """The last poll's problems (also logged at WARNING on ``serviceflow_rt``)."""
        self.more = False
        """The last poll stopped at ``max-transactions``: more may be waiting after its cursor."""
        self._privileged: dict[str, bool] = {}
        self._names: dict[tuple[str, str], str] = {}

    def close(self) -> None:
        self.client.close()

    def current_cursor(self) -> str:
        """A cursor at RT's newest transaction: polling from it reads only what happens from now on
        (for a desk that does not want its whole history judged)."""
        return str(self.client.last_transaction_id())

    def query(self) -> str:
        """The TransactionSQL of a poll (without the cursor)."""
        kinds = " OR ".join(
            "(Type = 'Set' AND (Field = 'Due' OR Field = 'Owner' OR Field = 'Queue'))"
            if kind == "Set"
            else f"Type = '{kind}'"
            for kind in MAPPED_TYPES
        )
        return (
            f"ObjectType = 'RT::Ticket' AND {sql_any('TicketQueue', self.config.polled_queues)} AND ({kinds})"
        )

    def poll(self, cursor: str | None) -> tuple[list[dict[str, Any]], str]:
        """The records of the transactions after ``cursor``, and the cursor to pass next time."""
        after = _cursor(cursor)
        self.problems = []
        self.more = False
        items = list(
            iter_pages(
                self.client,
                self.query(),
                after=after,
                per_page=self.config.page_size,
                limit=self.config.max_transactions,
            )
        )
        if not items:
            return [], str(after)
        self.more = len(items) >= self.config.max_transactions
        batch = _Batch(
            tickets=self._tickets(items),
            messages=self._messages(items),
            dues=self._dues_at_create(items),
        )
        records: list[dict[str, Any]] = []
        for item in items:
            transaction = self._transaction(item, batch)
            if transaction is None:
                continue
            try:
                records.extend(records_for(transaction, self.config))
            except Exception as error:
                transaction.problems.append(f"could not be mapped: {type(error).__name__}: {error}")
            for message in transaction.problems:
                self._problem(transaction.id, transaction.ticket.id, message)
        return records, str(int(items[-1]["id"]))

    # -- reading what the transactions refer to, a search per kind -------------------------------

    def _transaction(self, item: Mapping[str, Any], batch: _Batch) -> RtTransaction | None:
        identifier = int(item["id"])  # iter_pages yields only items with an integer id
        ticket_id = _int(item.get("ObjectId"))
        created = _created(item.get("Created"))
        kind = _text(item.get("Type"))
        if ticket_id is None or created is None or not kind:
            self._problem(identifier, ticket_id, "no ticket, time or type in RT's answer; skipped")
            return None
        problems: list[str] = []
        ticket = batch.tickets.get(ticket_id)
        if ticket is None:
            problems.append(f"ticket {ticket_id} could not be read; requestors and queue unknown")
            ticket = RtTicket(ticket_id)
        transaction = RtTransaction(
            id=identifier,
            ticket=ticket,
            type=kind,
            created=created,
            creator=self._creator(item.get("Creator"), ticket, problems),
            field=_text(item.get("Field")),
            old_value=_text(item.get("OldValue")),
            new_value=_text(item.get("NewValue")),
            problems=problems,
        )
        extra: dict[str, Any] = {}
        if kind in MESSAGE_TYPES:
            message = batch.messages.get(identifier, RtMessage())
            if message.problem:
                problems.append(message.problem)
            extra["message"] = message
        if kind == "Create":
            extra["due_at_create"] = batch.dues.get(ticket_id, ticket.due)
        elif kind == "Set" and transaction.field in ("Owner", "Queue"):
            what = "user" if transaction.field == "Owner" else "queue"
            extra["old_name"] = self._name(what, transaction.old_value, problems)
            extra["new_name"] = self._name(what, transaction.new_value, problems)
        elif kind == "CustomField":
            extra["custom_field"] = self._name("customfield", transaction.field, problems)
        return replace(transaction, **extra) if extra else transaction

    def _tickets(self, items: Iterable[Mapping[str, Any]]) -> dict[int, RtTicket]:
        wanted = sorted(
            {ticket for ticket in (_int(item.get("ObjectId")) for item in items) if ticket is not None}
        )
        try:
            found = self.client.tickets(wanted)
        except RtError as error:
            if error.unreachable:
                raise
            self._problem(None, None, f"the ticket search failed ({error}); reading tickets one by one")
            found = {}
            for ticket_id in wanted:
                try:
                    found[ticket_id] = self.client.ticket(ticket_id)
                except RtError as single:
                    if single.unreachable:
                        raise
        return {ticket_id: _ticket(ticket_id, data) for ticket_id, data in found.items()}

    def _messages(self, items: Iterable[Mapping[str, Any]]) -> dict[int, RtMessage]:
        """The text (and the other parts) of each Create, Correspond and Comment."""
        wanted = [int(item["id"]) for item in items if item.get("Type") in MESSAGE_TYPES]
        if not wanted:
            return {}
        parts_of: dict[int, list[dict[str, Any]]] = {identifier: [] for identifier in wanted}
        failed: dict[int, str] = {}
        try:
            parts = self.client.attachments_of(wanted)
        except RtError as error:
            if error.unreachable:
                raise
            parts = []
            for identifier in wanted:  # one transaction's bad part must not cost the others their text
                try:
                    parts.extend(self.client.attachments_of([identifier]))
                except RtError as single:
                    if single.unreachable:
                        raise
                    failed[identifier] = f"the message could not be read ({single})"
        for part in parts:
            owner = _int(part.get("TransactionId"))
            if owner in parts_of:
                parts_of[owner].append(part)
        chosen = {identifier: _choose_text(parts) for identifier, parts in parts_of.items()}
        fetch = [
            _int(body.get("id")) or 0
            for body, _ in chosen.values()
            if body is not None and (_int(body.get("ContentLength")) or 0) <= self.config.max_fetch_bytes
        ]
        texts = self._texts(fetch)
        messages: dict[int, RtMessage] = {}
        for identifier, (body, others) in chosen.items():
            first_headers = (
                _headers(_text(parts_of[identifier][0].get("Headers"))) if parts_of[identifier] else {}
            )
            interface = first_headers.get("x-rt-interface", "")
            subject = next(
                (_text(part.get("Subject")) for part in parts_of[identifier] if part.get("Subject")), ""
            )
            common: dict[str, Any] = {
                "interface": interface,
                "subject": subject,
                "attachments": tuple(others),
            }
            if identifier in failed:
                messages[identifier] = RtMessage(problem=failed[identifier], **common)
                continue
            if body is None:
                messages[identifier] = RtMessage(**common)
                continue
            body_id = _int(body.get("id")) or 0
            size = _int(body.get("ContentLength")) or 0
            if body_id not in texts:
                problem = (
                    f"the text ({size} bytes) is larger than max_fetch_bytes and was not read"
                    if size > self.config.max_fetch_bytes
                    else f"the text (attachment {body_id}) could not be read"
                )
                messages[identifier] = RtMessage(problem=problem, **common)
                continue
            text = texts[body_id].replace("\r\n", "\n").replace("\x00", "")
            if _text(body.get("ContentType")).casefold() == "text/html":
                text = html_to_text(text)
            text = text.strip()
            cut_from = None
            if len(text) > self.config.max_text:
                cut_from, text = len(text), text[: self.config.max_text]
            messages[identifier] = RtMessage(text=text, cut_from=cut_from, **common)
        return messages

    def _texts(self, attachment_ids: list[int]) -> dict[int, str]:
        if not attachment_ids:
            return {}
        try:
            return self.client.attachment_texts(attachment_ids)
        except RtError as error:
            if error.unreachable:
                raise
        texts: dict[int, str] = {}
        for identifier in attachment_ids:
            try:
                texts.update(self.client.attachment_texts([identifier]))
            except RtError as single:
                if single.unreachable:
                    raise
        return texts

    def _creator(self, creator: Any, ticket: RtTicket, problems: list[str]) -> RtUser:
        if not isinstance(creator, Mapping) or not _text(creator.get("Name") or creator.get("id")):
            problems.append("the transaction names no creator")
            return RtUser("")
        name = _text(creator.get("Name") or creator.get("id"))
        user = RtUser(name, _text(creator.get("EmailAddress")), _text(creator.get("RealName")))
        if name in SYSTEM_USERS or name.casefold() in {
            requestor.casefold() for requestor in ticket.requestors
        }:
            return user  # RT itself, or a requestor: no need to ask whether they are staff
        privileged = self._privileged.get(name)
        if privileged is None:
            try:
                privileged = bool(_int(self.client.user(name).get("Privileged")))
            except RtError as error:
                if error.unreachable:
                    raise
                problems.append(f"user {name!r} could not be read ({error}); taken for staff")
                return user
            self._privileged[name] = privileged
        return replace(user, privileged=privileged)

    def _name(self, what: str, identifier: str, problems: list[str]) -> str:
        """The name of a user, queue or custom field RT gives by id (cached for the source's life)."""
        if not identifier or identifier == "0":
            return ""
        key = (what, identifier)
        if key in self._names:
            return self._names[key]
        try:
            if what == "user":
                data = self.client.user(identifier)
            elif what == "queue":
                data = self.client.queue(identifier)
            else:
                data = self.client.custom_field(identifier)
        except RtError as error:
            if error.unreachable:
                raise
            problems.append(f"{what} {identifier} could not be read ({error})")
            return ""
        name = _text(data.get("Name"))
        self._names[key] = name
        return name

    def _dues_at_create(self, items: Iterable[Mapping[str, Any]]) -> dict[int, Any]:
        """For tickets created in this batch: the Due they were created with.

        RT records no Due in a Create transaction. The ticket shows today's Due, so when a later
        transaction changed it, the first such change's old value is the one it was created with.
        """
        created = sorted(
            {
                ticket
                for item in items
                if item.get("Type") == "Create"
                if (ticket := _int(item.get("ObjectId"))) is not None
            }
        )
        if not created or not self.config.due_commitments:
            return {}
        dues: dict[int, Any] = {}
        for start in range(0, len(created), 50):
            chunk = [str(ticket) for ticket in created[start : start + 50]]
            query = "ObjectType = 'RT::Ticket' AND Type = 'Set' AND Field = 'Due' AND " + sql_any(
                "ObjectId", chunk
            )
            try:
                changes = list(iter_pages(self.client, query, after=0, per_page=100, limit=10_000))
            except RtError as error:
                if error.unreachable:
                    raise
                self._problem(
                    None, None, f"Due changes could not be read ({error}); tickets' current Due used"
                )
                return {}
            for change in changes:
                ticket = _int(change.get("ObjectId"))
                if ticket is not None and ticket not in dues:
                    dues[ticket] = parse_rt_date(_text(change.get("OldValue")))
        return dues

    def _problem(self, transaction: int | None, ticket: int | None, message: str) -> None:
        problem = PollProblem(transaction, ticket, message)
        self.problems.append(problem)
        LOGGER.warning("rt: %s", problem)


class RtPoller:
    """The ``rt`` source of the ``serviceflow_sources`` hook: an :class:`RtSource` as serviceflow's
    ``Source``. The service keeps the cursor in its store, moved with the records it covers."""

    def __init__(self, source: RtSource) -> None:
        self.source = source

    def poll(self, cursor: str | None) -> SourceBatch:
        records, new_cursor = self.source.poll(cursor)
        problems = tuple(str(problem) for problem in self.source.problems)
        return SourceBatch(records, new_cursor, self.source.more, problems)

    def current_cursor(self) -> str:
        return self.source.current_cursor()

    def close(self) -> None:
        self.source.close()


def create(options: Mapping[str, Any], context: ConnectorContext) -> RtPoller:
    """The source for a ``[sources.NAME]`` table of ``type = "rt"`` (the :class:`RtConfig` options, the
    token from ``token-env`` or ``SERVICEFLOW_RT_TOKEN`` when not written). Reaches RT only when polled."""
    return RtPoller(RtSource(config_from_options(options, what=f"[sources.{context.name}]")))


@dataclass(frozen=True)
class _Batch:
    """What one page of transactions refers to, read with one search per kind."""

    tickets: Mapping[int, RtTicket]
    messages: Mapping[int, RtMessage]
    dues: Mapping[int, Any]


@dataclass(frozen=True)
class SyncResult:
    """What one :func:`sync_once` did."""

    records: int
    cursor: str
    problems: tuple[PollProblem, ...]


def sync_once(source: RtSource, state: Path, output: Path | TextIO) -> SyncResult:
    """One poll: read the cursor from ``state``, append the records to ``output`` (JSON Lines),
    then write the new cursor.

    The records are written before the cursor, so a crash between the two re-reads the same
    transactions next time, giving the same record ids: at least once, duplicates recognisable.
    """
    cursor = state.read_text().strip() if state.exists() else None
    records, new_cursor = source.poll(cursor or None)
    lines = "".join(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n" for record in records)
    if isinstance(output, Path):
        with output.open("a", encoding="utf-8") as sink:
            sink.write(lines)
            sink.flush()
            os.fsync(sink.fileno())
    else:
        output.write(lines)
        output.flush()
    temporary = state.with_name(state.name + ".tmp")
    temporary.write_text(new_cursor + "\n")
    os.replace(temporary, state)
    return SyncResult(len(records), new_cursor, tuple(source.problems))


def _ticket(ticket_id: int, data: Mapping[str, Any]) -> RtTicket:
    queue = data.get("Queue")
    owner = data.get("Owner")
    requestors = tuple(
        _text(person.get("id")).strip()
        for person in _list(data.get("Requestor"))
        if isinstance(person, Mapping) and _text(person.get("id")).strip()
    )
    return RtTicket(
        id=ticket_id,
        queue=_text(queue.get("Name")) if isinstance(queue, Mapping) else "",
        subject=_text(data.get("Subject")),
        requestors=requestors,
        owner=_text(owner.get("id")) if isinstance(owner, Mapping) else "",
        due=parse_rt_date(_text(data.get("Due"))),
    )


def _choose_text(parts: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The part that is the message's text (the first inline text/plain, else text/html), and the rest."""
    inline = [
        part
        for part in parts
        if not _text(part.get("Filename"))
        and _text(part.get("ContentType")).casefold() in ("text/plain", "text/html")
    ]
    body = next((part for part in inline if _text(part.get("ContentType")).casefold() == "text/plain"), None)
    body = body or (inline[0] if inline else None)
    others = [
        {
            "filename": _text(part.get("Filename")),
            "content_type": _text(part.get("ContentType")).casefold(),
            "size": _int(part.get("ContentLength")) or 0,
        }
        for part in parts
        if part is not body
        and not _text(part.get("ContentType")).casefold().startswith("multipart/")
        and (
            _text(part.get("Filename"))
            or _text(part.get("ContentType")).casefold() not in ("text/plain", "text/html")
        )
    ]
    return body, others


def _cursor(cursor: str | None) -> int:
    if cursor is None or cursor == "":
        return 0
    value = _int(cursor)
    if value is None or value < 0:
        raise ConfigError(f"RT cursor must be an RT transaction id (a whole number), not {cursor!r}")
    return value


def _created(value: Any) -> Any:
    text = _text(value)
    try:
        return parse_datetime(text)
    except ValueError:
        return parse_rt_date(text)


def _headers(text: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in text.splitlines():
        name, colon, value = line.partition(":")
        if colon and name and not name[0].isspace():
            headers.setdefault(name.strip().casefold(), value.strip())
    return headers


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
