"""The IMAP source: reads a mailbox since a cursor and maps each new message to a ``contact`` record.

::

    source = ImapSource({"host": "imap.acme.example", "username": "support", "password-env": "IMAP_PASSWORD",
                         "agent-domains": ["acme.example"]}, known_messages=store.case_of_message)
    records, cursor, report = source.poll(cursor)      # cursor: None the first time, then the last one

In the live service it is the ``imap`` source of the ``serviceflow_sources`` hook (:func:`create`,
:class:`ImapPoller`): a ``[sources.NAME]`` table with ``type = "imap"``, polled by ``serviceflow serve``
and ``serviceflow sync NAME --once``, its cursor kept in the store, and Message-IDs looked up among
the records the store holds.

**The cursor** is the mailbox's UIDVALIDITY and the highest UID read (``Cursor``; ``str(cursor)`` is
``"UIDVALIDITY:UID"`` for storing, :meth:`Cursor.parse` reads it back). A poll reads the messages
with a higher UID, at most ``batch-size`` of them (``report.more`` says whether more are waiting).
When the mailbox's UIDVALIDITY differs from the cursor's, its UIDs mean something else now (the
mailbox was recreated or restored, or the server migrated): the poll reads the mailbox again from
the start (``report.reset``). That repeats no record: a record's id comes from the Message-ID, never
from the UID, so the store recognises what it already holds.

**What comes back**: the records, valid ``contact`` records as JSON data; the new cursor, to store
with the records (in one transaction, so that a crash between the two re-reads rather than loses);
and a :class:`PollReport`: messages skipped and why (``machine``, ``malformed``, ``internal``,
``duplicate``), and problems with messages that were still mapped (``charset``, ``mime``, ``size``,
``date``; see :mod:`.messages`). Nothing about one message stops the poll. A mailbox that cannot be
reached or read raises :class:`MailboxError` and the cursor stays where it was.

The source never writes to the mailbox: it opens it read-only and fetches with ``BODY.PEEK``.
"""

from __future__ import annotations

import imaplib
import logging
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from serviceflow.plugin import ConnectorContext, ServiceflowError, SourceBatch
from serviceflow_email import imap
from serviceflow_email.mapping import (
    CaseAssigner,
    CaseLookup,
    MappingSettings,
    identity,
    record_id,
    record_id_of,
    to_contact,
)
from serviceflow_email.messages import Unreadable, read_message
from serviceflow_email.settings import (
    DEFAULT_MAX_MESSAGE_BYTES,
    Options,
    Server,
    compile_case_tag,
    domains,
    read_server,
)

LOGGER = logging.getLogger("serviceflow_email")
IMAP_PORTS = {"ssl": 993, "starttls": 143, "none": 143}
#: Skips that are the source working as meant (counted and logged, not reported as problems).
EXPECTED_SKIPS = frozenset({"machine", "internal", "duplicate"})
_CURSOR = re.compile(r"^(\d+):(\d+)$")


class MailboxError(ServiceflowError):
    """The mailbox could not be reached or read; nothing was read and the cursor stands."""

    def __init__(self, message: str, mailbox: str) -> None:
        super().__init__(message)
        self.mailbox = mailbox


@dataclass(frozen=True, order=True)
class Cursor:
    """Where a mailbox was read up to: its UIDVALIDITY and the highest UID read."""

    uidvalidity: int
    uid: int

    def __str__(self) -> str:
        return f"{self.uidvalidity}:{self.uid}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        match = _CURSOR.match(text.strip())
        if match is None:
            raise ValueError(f"not an IMAP cursor (UIDVALIDITY:UID): {text!r}")
        return cls(int(match[1]), int(match[2]))


@dataclass(frozen=True)
class MessageNote:
    """One message skipped, or mapped with a problem: where it is, and what."""

    uid: int
    message_id: str | None
    kind: str
    detail: str
    skipped: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "message_id": self.message_id,
            "kind": self.kind,
            "detail": self.detail,
            "skipped": self.skipped,
        }


@dataclass
class PollReport:
    """What one poll read, mapped and skipped."""

    mailbox: str
    uidvalidity: int
    reset: bool = False
    """The mailbox's UIDVALIDITY changed since the cursor: it was read again from the start."""
    read: int = 0
    bytes_read: int = 0
    """Bytes fetched: a message beyond ``max-message-bytes`` counts only its first part."""
    mapped: int = 0
    more: bool = False
    """More messages than ``batch-size`` were waiting: poll again from the new cursor."""
    notes: list[MessageNote] = field(default_factory=list)

    def note(self, uid: int, message_id: str | None, kind: str, detail: str, *, skipped: bool) -> None:
        self.notes.append(MessageNote(uid, message_id, kind, detail, skipped))

    @property
    def skipped(self) -> Counter[str]:
        """Messages skipped, by reason: ``machine``, ``malformed``, ``internal``, ``duplicate``,
        ``unavailable`` (the server would not return it)."""
        return Counter(note.kind for note in self.notes if note.skipped)

    @property
    def problems(self) -> list[MessageNote]:
        """Problems with messages that were still mapped (``charset``, ``mime``, ``size``, ``date``)."""
        return [note for note in self.notes if not note.skipped]

    def to_dict(self) -> dict[str, Any]:
        return {
            "mailbox": self.mailbox,
            "uidvalidity": self.uidvalidity,
            "reset": self.reset,
            "read": self.read,
            "bytes_read": self.bytes_read,
            "mapped": self.mapped,
            "more": self.more,
            "skipped": dict(sorted(self.skipped.items())),
            "notes": [note.to_dict() for note in self.notes],
        }


@dataclass(frozen=True)
class ImapSettings:
    """The source's options, checked (see the plugin's README for each)."""

    server: Server | None
    tunnel: str | None
    mailbox: str
    mapping: MappingSettings
    max_message_bytes: int
    batch_size: int

    @classmethod
    def from_options(cls, options: Mapping[str, Any], *, connection_given: bool = False) -> ImapSettings:
        """Check ``options``; ``host`` (or ``tunnel``) may be left out when the caller connects itself."""
        table = Options("source 'imap'", options)
        tunnel = table.string("tunnel")
        server = read_server(table, "ssl", IMAP_PORTS, required=tunnel is None and not connection_given)
        if tunnel is not None and server is not None:
            raise table.error("tunnel", "and 'host' are exclusive: a tunnel command is the connection")
        mailbox = table.string("mailbox", "INBOX")
        assert mailbox is not None
        settings = cls(
            server=server,
            tunnel=tunnel,
            mailbox=mailbox,
            mapping=MappingSettings(
                agent_domains=domains(table, "agent-domains"),
                case_tag=compile_case_tag(table),
                case_prefix=table.string("case-prefix", "email-") or "email-",
            ),
            max_message_bytes=table.size("max-message-bytes", DEFAULT_MAX_MESSAGE_BYTES),
            batch_size=table.integer("batch-size", 200, low=1, high=10_000),
        )
        table.done()
        return settings


class ImapSource:
    """A mailbox as a source of ``contact`` records; see the module's documentation.

    ``connect`` replaces how the connection is opened (the configured server by default): tests pass
    a Dovecot over a pipe, an application its own pooled or proxied connection. ``known_messages``
    answers "which case holds the message with this Message-ID?" (a callable or a mapping), so that a
    reply joins its thread's case across polls and restarts; the live service's store provides it.
    """

    name = "imap"

    def __init__(
        self,
        config: Mapping[str, Any] | ImapSettings,
        *,
        connect: imap.Connect | None = None,
        known_messages: CaseLookup | Mapping[str, str] | None = None,
    ) -> None:
        if not isinstance(config, ImapSettings):
            config = ImapSettings.from_options(config, connection_given=connect is not None)
        self.settings = config
        self._connect = connect or imap.connector(self.settings.server, self.settings.tunnel)
        self.cases = CaseAssigner(self.settings.mapping, known_messages)

    def poll(self, cursor: Cursor | str | None = None) -> tuple[list[dict[str, Any]], Cursor, PollReport]:
        """The records of the messages after ``cursor``, the cursor after them, and the report."""
        if isinstance(cursor, str):
            cursor = Cursor.parse(cursor)
        mailbox = self.settings.mailbox
        try:
            connection = self._connect()
        except (imaplib.IMAP4.error, OSError) as error:
            raise MailboxError(f"cannot connect to the IMAP server: {error}", mailbox) from error
        try:
            return self._poll(connection, cursor)
        except (imaplib.IMAP4.error, imap.ImapProtocolError, OSError) as error:
            raise MailboxError(f"mailbox {mailbox!r}: {type(error).__name__}: {error}", mailbox) from error
        finally:
            imap.logout(connection)

    def current_cursor(self) -> Cursor:
        """A cursor at the mailbox's newest message: polling from it reads only mail that arrives
        from now on (for ``start = "now"``)."""
        mailbox = self.settings.mailbox
        try:
            connection = self._connect()
        except (imaplib.IMAP4.error, OSError) as error:
            raise MailboxError(f"cannot connect to the IMAP server: {error}", mailbox) from error
        try:
            imap.login(connection, self.settings.server)
            uidvalidity, exists = imap.examine(connection, mailbox)
            uids = imap.uids_after(connection, 0) if exists else []
            return Cursor(uidvalidity, uids[-1] if uids else 0)
        except (imaplib.IMAP4.error, imap.ImapProtocolError, OSError) as error:
            raise MailboxError(f"mailbox {mailbox!r}: {type(error).__name__}: {error}", mailbox) from error
        finally:
            imap.logout(connection)

    def _poll(
        self, connection: imaplib.IMAP4, cursor: Cursor | None
    ) -> tuple[list[dict[str, Any]], Cursor, PollReport]:
        settings = self.settings
        imap.login(connection, settings.server)
        uidvalidity, exists = imap.examine(connection, settings.mailbox)
        report = PollReport(settings.mailbox, uidvalidity)
        report.reset = cursor is not None and cursor.uidvalidity != uidvalidity
        after = cursor.uid if cursor is not None and not report.reset else 0
        waiting = imap.uids_after(connection, after) if exists else []
        batch = waiting[: settings.batch_size]
        report.more = len(waiting) > len(batch)
        records: list[dict[str, Any]] = []
        if batch:
            sizes = imap.sizes_and_dates(connection, batch)
            seen: set[str] = set()
            limit = settings.max_message_bytes
            for uid in batch:
                size, arrived = sizes.get(uid, (None, None))
                try:
                    # Always a partial fetch: a size the server did not tell must not mean "all of it".
                    raw = imap.body(connection, uid, limit)
                except imap.MessageUnavailable as error:
                    report.note(uid, None, "unavailable", str(error), skipped=True)
                    continue
                report.read += 1
                report.bytes_read += len(raw)
                truncated = size > limit if size is not None else len(raw) >= limit
                record = self._map(uid, raw, size, arrived, truncated, report, seen)
                if record is not None:
                    records.append(record)
        report.mapped = len(records)
        return records, Cursor(uidvalidity, batch[-1] if batch else after), report

    def _map(
        self,
        uid: int,
        raw: bytes,
        size: int | None,
        arrived: datetime | None,
        truncated: bool,
        report: PollReport,
        seen: set[str],
    ) -> dict[str, Any] | None:
        """One message's record, or ``None`` with the reason noted in ``report``."""
        try:
            message = read_message(raw, truncated=truncated, size=size)
        except Unreadable as error:
            report.note(uid, None, "malformed", str(error), skipped=True)
            return None
        except Exception as error:  # the stdlib parser on hostile input: one message, not the poll
            report.note(
                uid, None, "malformed", f"cannot be parsed: {type(error).__name__}: {error}", skipped=True
            )
            return None
        message_id = message.message_id
        if message.machine is not None:
            report.note(uid, message_id, "machine", message.machine, skipped=True)
            return None
        at = message.date or arrived
        if at is None:
            report.note(
                uid, message_id, "malformed", "neither a Date header nor an arrival time", skipped=True
            )
            return None
        key = record_id(message)
        if key in seen:
            detail = f"another copy of {identity(message)} was read in this poll"
            report.note(uid, message_id, "duplicate", detail, skipped=True)
            return None
        case_id, assigned_by = self.cases.assign(message)
        record = to_contact(message, case_id, assigned_by, at, self.settings.mapping)
        if record is None:
            detail = "between agent domains only: not a contact with a customer"
            report.note(uid, message_id, "internal", detail, skipped=True)
            return None
        seen.add(key)
        if message_id is not None:
            self.cases.remember(message_id, case_id)
        for problem in message.problems:
            report.note(uid, message_id, problem.kind, problem.detail, skipped=False)
        return record


class ImapPoller:
    """The ``imap`` source of the ``serviceflow_sources`` hook: an :class:`ImapSource` as serviceflow's
    ``Source``. What the report says goes into the batch's problems: messages skipped because they could
    not be read, and problems with messages that were still mapped; machine mail, internal mail and
    second copies are the source working as meant and are only counted in the log."""

    def __init__(self, source: ImapSource) -> None:
        self.source = source

    def poll(self, cursor: str | None) -> SourceBatch:
        records, new_cursor, report = self.source.poll(cursor)
        problems = []
        if report.reset:
            problems.append(
                f"mailbox {report.mailbox!r}: its UIDVALIDITY changed; read again from the start "
                "(records already stored are recognised)"
            )
        for note in report.notes:
            if note.skipped and note.kind in EXPECTED_SKIPS:
                continue
            what = "skipped" if note.skipped else "mapped with a problem"
            problems.append(
                f"uid {note.uid} ({note.message_id or 'no Message-ID'}): {what}: {note.kind}: {note.detail}"
            )
        skipped = dict(sorted(report.skipped.items()))
        if report.read:
            LOGGER.info(
                "imap %s: %d read, %d mapped, skipped %s", report.mailbox, report.read, report.mapped, skipped
            )
        return SourceBatch(records, str(new_cursor), report.more, tuple(problems))

    def current_cursor(self) -> str:
        return str(self.source.current_cursor())

    def close(self) -> None:
        """Nothing held: each poll opens its own connection and logs out."""


def create(options: Mapping[str, Any], context: ConnectorContext) -> ImapPoller:
    """The source of a ``[sources.NAME]`` table with ``type = "imap"`` (the options above). A reply joins
    its thread's case across polls and restarts: the Message-IDs it refers to are looked up among the
    records the service has stored (a record's id is derived from its Message-ID)."""

    def known_messages(message_id: str) -> str | None:
        return context.case_of_record(record_id_of(message_id))

    settings = ImapSettings.from_options(options)
    return ImapPoller(ImapSource(settings, known_messages=known_messages))
