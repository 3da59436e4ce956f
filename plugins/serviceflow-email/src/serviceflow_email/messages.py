"""Reading one email: its identity, thread, people, date, written text, and whether a machine sent it.

:func:`read_message` takes the bytes an IMAP server returned (the whole message, or its first
``limit`` bytes when it was larger) and returns a :class:`Message`, or raises :class:`Unreadable`
when nothing sensible can be said about it (no sender address). Everything short of that is a
:class:`Problem` attached to the message, which is still mapped:

* ``charset``: the text's charset is unknown or wrong. Bytes that are valid UTF-8 under a single-byte
  label (``us-ascii``, ``iso-8859-1``, ``windows-1252``) or an unknown one are read as UTF-8, which
  they almost certainly are; otherwise bytes the charset cannot decode become U+FFFD and the rest of
  the text is kept, so a phrase the writer typed is still found.
* ``mime``: a multipart body without its boundary (its text cannot be told from its attachments and
  is not read), or damaged base64 in the text (what decodes is kept).
* ``size``: the message was larger than the limit and only its beginning was read; attachments
  beyond it are not, and the text only when it ended before the limit.
* ``date``: the ``Date`` header is missing or unreadable; the server's INTERNALDATE is used.

A customer's email is a contact even when its body is damaged: dropping it would let
``respond-promptly`` pass silently. Its record then has no (or a partly replaced) ``text`` and the
problem is both reported and kept in the record's ``meta``.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime

from serviceflow_email.reply import html_to_text, latest_reply

_MESSAGE_ID = re.compile(r"<([^<>\s]+)>")
#: Headers that identify a message without a Message-ID: what its sender wrote, not what servers
#: added on the way (Received, Delivered-To), so every copy of it hashes alike.
IDENTITY_HEADERS = (
    "from",
    "sender",
    "to",
    "cc",
    "date",
    "subject",
    "in-reply-to",
    "references",
    "content-type",
)
_PRECEDENCE_MACHINE = frozenset(("bulk", "junk", "list"))
_BASE64_DEFECTS = ("InvalidBase64", "InvalidBase64Padding", "InvalidBase64Characters", "InvalidBase64Length")


class Unreadable(Exception):
    """A message nothing can be mapped from (no sender address): reported and skipped."""


@dataclass(frozen=True)
class Problem:
    """Something wrong with a message that was still mapped: ``kind`` and what happened."""

    kind: str
    detail: str


@dataclass(frozen=True)
class Attachment:
    filename: str | None
    content_type: str


@dataclass
class Message:
    """What serviceflow needs of one email."""

    message_id: str | None
    """``<local@domain>`` as in the header, or ``None`` when the message has none."""
    header_digest: str
    """SHA-256 of the identity headers: the message's identity when it has no Message-ID."""
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    subject: str
    sender: Address
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    date: datetime | None
    text: str | None
    attachments: tuple[Attachment, ...] = ()
    machine: str | None = None
    """Why a machine sent it (``Auto-Submitted: auto-replied``), or ``None`` for a person's mail."""
    problems: list[Problem] = field(default_factory=list)


def read_message(raw: bytes, *, truncated: bool = False, size: int | None = None) -> Message:
    """Parse ``raw``; ``truncated`` when it is only the first part of a larger message of ``size`` bytes."""
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(parsed, EmailMessage)
    problems: list[Problem] = []
    sender = _sender(parsed)
    if sender is None:
        raise Unreadable("no sender address (a From header with an address is required)")
    date = _date(parsed)
    if date is None:
        problems.append(Problem("date", "no readable Date header; the server's arrival time is used"))
    text, attachments = _body(parsed, truncated, problems)
    if truncated:
        problems.append(
            Problem(
                "size",
                f"the message is {size or 'more than ' + str(len(raw))} bytes; only its first "
                f"{len(raw)} were read and attachments beyond them were not",
            )
        )
    return Message(
        message_id=_first_id(_header(parsed, "message-id")),
        header_digest=_digest(parsed),
        in_reply_to=tuple(_ids(_header(parsed, "in-reply-to"))),
        references=tuple(_ids(_header(parsed, "references"))),
        subject=" ".join(_header(parsed, "subject").split()),
        sender=sender,
        to=_addresses(parsed, "to"),
        cc=_addresses(parsed, "cc"),
        date=date,
        text=text,
        attachments=tuple(attachments),
        machine=machine_reason(parsed),
        problems=problems,
    )


def machine_reason(message: EmailMessage) -> str | None:
    """Why ``message`` was sent by a machine, or ``None``.

    RFC 3834 ``Auto-Submitted`` other than ``no`` (auto-replies, auto-generated notices), ``Precedence:
    bulk|junk|list`` (what vacation programs and lists set), the older ``X-Autoreply`` and
    ``X-Autorespond``, and delivery or read reports (``multipart/report``, RFC 6522).
    """
    auto_submitted = _header(message, "auto-submitted").split(";")[0].strip().lower()
    if auto_submitted and auto_submitted != "no":
        return f"Auto-Submitted: {auto_submitted}"
    precedence = _header(message, "precedence").strip().lower()
    if precedence in _PRECEDENCE_MACHINE:
        return f"Precedence: {precedence}"
    for name in ("X-Autoreply", "X-Autorespond"):
        if _header(message, name).strip().lower() not in ("", "no"):
            return f"{name}: {_header(message, name).strip()}"
    if message.get_content_type() == "multipart/report":
        return "a delivery or read report (multipart/report)"
    return None


def _header(message: EmailMessage, name: str) -> str:
    """A header's decoded value, or ``""``; a header the parser cannot make sense of counts as absent."""
    try:
        value = message.get(name)
        return "" if value is None else str(value)
    except Exception:  # the stdlib's header parser has raised on hostile input (IndexError, ValueError)
        return ""


def _sender(message: EmailMessage) -> Address | None:
    for name in ("from", "sender"):
        found = _addresses(message, name)
        if found:
            return found[0]
    return None


def _addresses(message: EmailMessage, name: str) -> tuple[Address, ...]:
    """Addresses of a header; unparseable entries are left out."""
    try:
        values = message.get_all(name) or []
        pairs = getaddresses([str(value) for value in values])
    except Exception:  # see _header
        return ()
    found = []
    for display, addr_spec in pairs:
        local, _, domain = addr_spec.rpartition("@")
        if local and ("." in domain or domain == "localhost"):
            try:
                found.append(Address(display_name=display, username=local, domain=domain.lower()))
            except (ValueError, IndexError):
                continue
    return tuple(found)


def _date(message: EmailMessage) -> datetime | None:
    text = _header(message, "date")
    if not text:
        return None
    try:
        value = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    # RFC 5322 "-0000": the time is UTC and the sender's zone unknown; Python returns it naive.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _ids(text: str) -> Iterator[str]:
    for match in _MESSAGE_ID.finditer(text):
        yield f"<{match[1]}>"


def _first_id(text: str) -> str | None:
    found = next(_ids(text), None)
    if found is None and text.strip() and not any(c.isspace() for c in text.strip()):
        return f"<{text.strip().strip('<>')}>"  # written without its angle brackets
    return found


def _digest(message: EmailMessage) -> str:
    digest = hashlib.sha256()
    for name, value in message.raw_items():
        if name.lower() in IDENTITY_HEADERS:
            normalized = " ".join(str(value).split())
            digest.update(f"{name.lower()}:{normalized}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def _body(
    message: EmailMessage, truncated: bool, problems: list[Problem]
) -> tuple[str | None, list[Attachment]]:
    """The writer's text (plain parts, else HTML ones) and the attachments, noting what went wrong."""
    if message.get_content_maintype() == "multipart" and not message.is_multipart():
        problems.append(
            Problem("mime", "a multipart body without its boundary: its text cannot be told apart; not read")
        )
        return None, []
    leaves = list(_leaves(message))
    # A message read only in part ends in a part cut short: its content is not used.
    cut = leaves[-1] if truncated and leaves else None
    plain: list[str] = []
    html: list[str] = []
    attachments: list[Attachment] = []
    text_cut = False
    for part in leaves:
        content_type = part.get_content_type()
        if part.is_attachment() or content_type not in ("text/plain", "text/html"):
            attachments.append(Attachment(_filename(part), content_type))
            continue
        if part is cut:
            text_cut = True
            continue
        decoded = _decode(part, problems)
        (plain if content_type == "text/plain" else html).append(decoded)
    if text_cut and not plain and not html:
        problems.append(Problem("size", "the text continues beyond the size limit; not read"))
    if plain:
        text = latest_reply("\n\n".join(plain))
    elif html:
        text = latest_reply("\n\n".join(html_to_text(part) for part in html))
    else:
        return None, attachments
    return text or None, attachments


def _leaves(part: EmailMessage) -> Iterator[EmailMessage]:
    """The parts that hold content, in order; an attached email (``message/rfc822``) is one of them,
    not opened: its text was written by someone else, earlier."""
    if part.get_content_maintype() == "message" or not part.is_multipart():
        yield part
        return
    for child in part.iter_parts():
        assert isinstance(child, EmailMessage)
        yield from _leaves(child)


def _filename(part: EmailMessage) -> str | None:
    try:
        return part.get_filename()
    except Exception:  # see _header
        return None


def _decode(part: EmailMessage, problems: list[Problem]) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        payload = b""
    if any(type(defect).__name__.startswith(_BASE64_DEFECTS) for defect in part.defects):
        problems.append(Problem("mime", "the text's base64 is damaged; what could be decoded is kept"))
    text, problem = decode_text(payload, part.get_param("charset"))
    if problem is not None:
        problems.append(Problem("charset", problem))
    return text


#: Python codec names of single-byte charsets: any bytes decode under them, so a UTF-8 text wrongly
#: labelled as one of them decodes without error into mojibake ("CafÃ©").
def _single_byte(codec: str) -> bool:
    return codec in ("ascii", "latin-1", "mac-roman", "koi8-r", "koi8-u") or codec.startswith(
        ("iso8859", "cp")
    )


def decode_text(payload: bytes, declared: object) -> tuple[str, str | None]:
    """``payload`` as text under its ``declared`` charset, and what was wrong with the label, if anything."""
    label = declared.strip().lower() if isinstance(declared, str) and declared.strip() else "us-ascii"
    try:
        codec: str | None = codecs.lookup(label).name
    except LookupError:
        codec = None
    if not payload.isascii() and codec != "utf-8" and (codec is None or _single_byte(codec)):
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            known = "an unknown charset" if codec is None else "charset"
            return text, f"labelled {known} {label!r} but valid UTF-8; read as UTF-8"
    if codec is None:
        return payload.decode(
            "utf-8", "replace"
        ), f"unknown charset {label!r}; bytes not valid UTF-8 became U+FFFD"
    try:
        return payload.decode(codec), None
    except UnicodeDecodeError:
        text = payload.decode(codec, "replace")
        return text, f"not valid {label}; {text.count(chr(0xFFFD))} undecodable sequences became U+FFFD"
