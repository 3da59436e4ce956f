"""The IMAP conversation the source needs, over the standard library's :mod:`imaplib`.

Read only: the mailbox is opened with EXAMINE and bodies are fetched with ``BODY.PEEK``, so
serviceflow never marks a message read or changes a flag an agent relies on. Every message is
fetched as at most its first ``limit`` bytes (``BODY.PEEK[]<0.limit>``, all of a smaller one):
imaplib holds a literal in memory whole, so the server must be asked for no more than may be held.
Sizes (``RFC822.SIZE``) are asked first, to tell a message that was cut from one that fit.

imaplib over a client: the source needs six commands (LOGIN, EXAMINE, UID SEARCH, two forms of UID
FETCH, LOGOUT), all of which imaplib sends, and ``IMAP4_stream`` lets the tests (and ``tunnel``
users) talk to a real server over a pipe. imap-tools fetches whole messages (or their headers only),
which is what the size bound forbids; IMAPClient could send the partial fetch, but would be a
dependency for what the standard library already does.
"""

from __future__ import annotations

import contextlib
import imaplib
import re
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone

from serviceflow_email.settings import Server

#: ``connect() -> IMAP4``: an open connection, authenticated or not (the source logs in when needed).
Connect = Callable[[], imaplib.IMAP4]

_MONTHS = {
    name: number
    for number, name in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}
_INTERNALDATE = re.compile(
    r"^\s*(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$"
)
_FETCH_UID = re.compile(rb"\bUID (\d+)")
_FETCH_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")
_FETCH_DATE = re.compile(rb'\bINTERNALDATE "([^"]+)"')


class ImapProtocolError(Exception):
    """The server answered something other than OK, or an answer could not be read."""


class MessageUnavailable(ImapProtocolError):
    """The server refused to return one message (NO), and not for a passing reason: skip it."""


def connector(server: Server | None, tunnel: str | None) -> Connect:
    """How to reach the configured server: TLS, STARTTLS, plain, or a tunnel command's stdin/stdout."""

    def connect() -> imaplib.IMAP4:
        if tunnel is not None:
            return imaplib.IMAP4_stream(tunnel)
        if server is None:
            raise ImapProtocolError("no IMAP server configured: set 'host' or 'tunnel'")
        if server.security == "ssl":
            return imaplib.IMAP4_SSL(
                server.host, server.port, ssl_context=server.ssl_context(), timeout=server.timeout
            )
        connection = imaplib.IMAP4(server.host, server.port, timeout=server.timeout)
        if server.security == "starttls":
            connection.starttls(ssl_context=server.ssl_context())
        return connection

    return connect


def login(connection: imaplib.IMAP4, server: Server | None) -> None:
    """Log in unless the server greeted with PREAUTH (a tunnel, or a pre-authenticated stream)."""
    if connection.state != "NONAUTH":
        return
    if server is None or server.username is None or server.password is None:
        raise ImapProtocolError("the server asks for a login: set 'username' and 'password-env'")
    connection.login(server.username, server.password)


def examine(connection: imaplib.IMAP4, mailbox: str) -> tuple[int, int]:
    """Open ``mailbox`` read-only; its UIDVALIDITY and how many messages it holds."""
    status, data = connection.select(quote_mailbox(mailbox), readonly=True)
    if status != "OK":
        raise ImapProtocolError(f"cannot open mailbox {mailbox!r}: {_text(data)}")
    _, validity = connection.response("UIDVALIDITY")
    try:
        return int(validity[0]), int(data[0] or 0)
    except (TypeError, ValueError, IndexError):
        raise ImapProtocolError(f"mailbox {mailbox!r} has no UIDVALIDITY: {validity!r}") from None


def uids_after(connection: imaplib.IMAP4, last_uid: int) -> list[int]:
    """The UIDs above ``last_uid``, ascending."""
    status, data = connection.uid("SEARCH", f"UID {last_uid + 1}:*")
    if status != "OK":
        raise ImapProtocolError(f"UID SEARCH failed: {_text(data)}")
    found = {int(token) for line in data if line for token in line.split()}
    # "n:*" always matches the highest UID, even one below n (RFC 3501 6.4.8): keep only the new ones.
    return sorted(uid for uid in found if uid > last_uid)


def sizes_and_dates(connection: imaplib.IMAP4, uids: Iterable[int]) -> dict[int, tuple[int, datetime | None]]:
    """Each message's size in bytes and arrival time (INTERNALDATE), by UID."""
    status, data = connection.uid("FETCH", uid_set(uids), "(UID RFC822.SIZE INTERNALDATE)")
    if status != "OK":
        raise ImapProtocolError(f"UID FETCH of sizes failed: {_text(data)}")
    found: dict[int, tuple[int, datetime | None]] = {}
    for item in data:
        line = item[0] if isinstance(item, tuple) else item
        if not isinstance(line, bytes):
            continue
        uid, size, date = _FETCH_UID.search(line), _FETCH_SIZE.search(line), _FETCH_DATE.search(line)
        if uid and size:
            found[int(uid[1])] = (
                int(size[1]),
                parse_internaldate(date[1].decode("ascii", "replace")) if date else None,
            )
    return found


def body(connection: imaplib.IMAP4, uid: int, limit: int) -> bytes:
    """The message with ``uid``: at most its first ``limit`` bytes (all of it when it is smaller)."""
    status, data = connection.uid("FETCH", str(uid), f"(UID BODY.PEEK[]<0.{limit}>)")
    if status != "OK":
        answer = _text(data)
        # RFC 5530: UNAVAILABLE, INUSE, LIMIT and SERVERBUG may pass; try this message again next poll.
        if status == "NO" and not re.search(r"\[(UNAVAILABLE|INUSE|LIMIT|SERVERBUG)\]", answer):
            raise MessageUnavailable(f"the server would not return it: {answer}")
        raise ImapProtocolError(f"UID FETCH of message {uid} failed: {answer}")
    for item in data:
        if isinstance(item, tuple) and b"BODY[" in item[0]:
            found = _FETCH_UID.search(item[0])
            if (found is None or int(found[1]) == uid) and isinstance(item[1], bytes):
                return item[1]
    raise MessageUnavailable("the server sent no body: expunged while being read")


def logout(connection: imaplib.IMAP4) -> None:
    """Say goodbye; a connection already lost needs no goodbye."""
    with contextlib.suppress(imaplib.IMAP4.error, OSError, ValueError):
        connection.logout()


def uid_set(uids: Iterable[int]) -> str:
    """``1:3,7,9:10``: consecutive UIDs as ranges, keeping a large batch's command short."""
    ranges: list[list[int]] = []
    for uid in sorted(set(uids)):
        if ranges and uid == ranges[-1][1] + 1:
            ranges[-1][1] = uid
        else:
            ranges.append([uid, uid])
    return ",".join(str(low) if low == high else f"{low}:{high}" for low, high in ranges)


def quote_mailbox(name: str) -> str:
    """A mailbox name as an IMAP string (``"Sent Items"``); imaplib sends arguments as they are."""
    if name and re.fullmatch(r"[A-Za-z0-9._/-]+", name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_internaldate(text: str) -> datetime | None:
    """``06-May-2024 09:30:00 -0400`` as an aware datetime (imaplib's own converts to local time)."""
    match = _INTERNALDATE.match(text)
    if match is None or match[2].lower() not in _MONTHS:
        return None
    offset = timedelta(hours=int(match[8]), minutes=int(match[9])) * (-1 if match[7] == "-" else 1)
    try:
        return datetime(
            int(match[3]), _MONTHS[match[2].lower()], int(match[1]),
            int(match[4]), int(match[5]), int(match[6]), tzinfo=timezone(offset),
        )  # fmt: skip
    except ValueError:
        return None


def _text(data: object) -> str:
    if isinstance(data, list):
        return " ".join(_text(item) for item in data)
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return str(data)
