"""``abcd``: ASAPP's Action-Based Conversations Dataset (ABCD), agent chats with the actions they took.

ABCD's agents chatted with (scripted) customers of a clothing store and clicked dashboard actions
("Pull up Account", "Verify Identity", "Offer Refund", ...) as a written policy told them. Each
conversation becomes one case:

- ``USR:`` lines are inbound ``contact`` records from the customer, ``SYS:`` lines outbound ones from
  the agent, on the ``chat`` channel;
- an ``ACT:`` line is the system's answer to a click ("A refund has been made for the amount of $94.")
  and becomes the record the click stands for: a refund or a promo code is a ``concession``, a
  notification of the manager or a team an ``escalation``, an identity verification or a purchase
  validation a ``verification`` (a record type the serviceflow-abcd policy pack declares), and every
  other action a ``note`` naming its button in ``meta.action``.

Two files layouts are read: the flat split files (a JSON array of ``[conversation text, label]``,
lines separated by a blank line) and the corpus's full format (objects with ``original`` turns, the
``scenario`` and ``delexed`` turns that name each action's button).

The chats have no timestamps. Every conversation starts at 2000-01-01T00:00:00Z, an instant that
says "no real time", and each line is one second after the one before: ``at`` keeps the order of the
lines and nothing else, so no duration a policy measures on these records means anything.

ABCD (Chen et al., NAACL 2021, https://github.com/asappresearch/abcd) is MIT-licensed, Copyright (c)
2021 ASAPP Research; the flow and subflow names below are those of its ``ontology.json``. The mapping
is documented in docs/importers.md.
"""

from __future__ import annotations

import contextlib
import json
import re
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from serviceflow import limits
from serviceflow.contributions import ReaderSpec
from serviceflow.errors import InputError, Location, RecordError
from serviceflow.records.compressed import decompressed_stream
from serviceflow.records.raw import STDIN, STDIN_NAME, RawItem, standard_input
from serviceflow.timeutil import format_datetime

__all__ = [
    "AMBIGUOUS_SOLUTIONS",
    "ORIGIN",
    "AbcdConversations",
    "action_of",
    "reader",
    "subflow_of",
]

#: The ``at`` of every conversation's start; line n of a conversation is n seconds later.
ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)
#: The buttons whose click prints "Agent is looking for solutions ..." (the troubleshooting options).
AMBIGUOUS_SOLUTIONS = ("try-again", "log-out-in", "instructions")
AGENT = {"role": "agent", "id": "agent"}
CUSTOMER = {"role": "customer", "id": "customer"}
SPEAKERS = {"USR": "customer", "SYS": "agent", "ACT": "action"}

#: The system's answer to each button, as the flat files print it (case and repeated spaces vary).
#: ``value`` is what the agent typed into the button's form.
_ACTIONS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE | re.DOTALL), button)
    for pattern, button in (
        (r"^account has been pulled up for\s*(?P<value>.*?)\s*\.?$", "pull-up-account"),
        (r"^account has been updated with\s*(?P<value>.*?)\s*\.?$", "update-account"),
        (r"^identity verification in progr?ess\b", "verify-identity"),
        (r"^purchase validation in progress\b", "validate-purchase"),
        (r"^a password has been generated\b", "make-password"),
        (r"^details of\s*(?P<value>.*?)\s*ha(?:ve|s) been entered\b", "enter-details"),
        (r"^searching the faq pages\b", "search-faq"),
        (r"^system action: search (?P<value>\w+)", "search-"),
        (r"^faq answer related to\s*(?P<value>.*?)\s*was selected\b", "select-faq"),
        (r"^membership level of\s*(?P<value>.*?)\s*has been noted\b", "membership"),
        (r"^querying the system for an answer\b", "ask-the-oracle"),
        (r"^querying the system for subscription status\b", "subscription-status"),
        (r"^order has been updated with\s*(?P<value>.*?)\s*\.?$", "update-order"),
        (r"^a promo code has been created\b", "promo-code"),
        (r"^a purchase of\s*(?P<value>.*?)\s*was made\b", "make-purchase"),
        (r"^a refund has been made for the amount of\s*(?P<value>.*?)\s*\.?$", "offer-refund"),
        (r"^the\s*(?P<value>.*?)\s*has been notified\b", "notify-team"),
        (r"^a reason of\s*(?P<value>.*?)\s*has been recorded\b", "record-reason"),
        (r"^shipping status of\s*(?P<value>.*?)\s*has been noted\b", "shipping-status"),
        (r"^a link will be sent\b", "send-link"),
        (r"^agent is looking for solutions\b", ""),
    )
)
_FAQ_TOPICS = ("boots", "shirt", "jeans", "jacket", "pricing", "membership", "timing", "policy")
#: The flat files split the FAQ subflows into one label per question: ``boots_how_3``, ``timing_4``.
_FAQ_LABEL = re.compile(
    r"^(boots|shirt|jeans|jacket)_(?:how|other)_\d+$|^(pricing|membership|timing|policy)_\d+$"
)
_AMOUNT = re.compile(r"\$*\s*(\d[\d,]*(?:\.\d+)?)")
_SPLIT = re.compile(r"^abcd_(?P<split>[a-z0-9]+)_conversations", re.IGNORECASE)
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{},]', re.DOTALL)

#: ontology.json: each flow's subflows.
FLOWS: dict[str, tuple[str, ...]] = {
    "account_access": ("recover_username", "recover_password", "reset_2fa"),
    "manage_account": (
        "status_service_added",
        "status_service_removed",
        "status_shipping_question",
        "status_credit_missing",
        "manage_change_address",
        "manage_change_name",
        "manage_change_phone",
        "manage_payment_method",
    ),
    "order_issue": (
        "status_mystery_fee",
        "status_delivery_time",
        "status_payment_method",
        "status_quantity",
        "manage_upgrade",
        "manage_downgrade",
        "manage_create",
        "manage_cancel",
    ),
    "product_defect": (
        "refund_initiate",
        "refund_update",
        "refund_status",
        "return_stain",
        "return_color",
        "return_size",
    ),
    "purchase_dispute": (
        "bad_price_competitor",
        "bad_price_yesterday",
        "out_of_stock_general",
        "out_of_stock_one_item",
        "promo_code_invalid",
        "promo_code_out_of_date",
        "mistimed_billing_already_returned",
        "mistimed_billing_never_bought",
    ),
    "shipping_issue": ("status", "manage", "missing", "cost"),
    "single_item_query": ("boots", "shirt", "jeans", "jacket"),
    "storewide_query": ("pricing", "membership", "timing", "policy"),
    "subscription_inquiry": (
        "status_active",
        "status_due_amount",
        "status_due_date",
        "manage_pay_bill",
        "manage_extension",
        "manage_dispute_bill",
    ),
    "troubleshoot_site": ("credit_card", "shopping_cart", "search_results", "slow_speed"),
}
_FLOW_OF = {subflow: flow for flow, subflows in FLOWS.items() for subflow in subflows}


@dataclass(frozen=True, slots=True)
class Action:
    """What an ``ACT:`` line stands for: its button (``""`` when several print the same text)."""

    button: str
    value: str | None = None


def action_of(text: str) -> Action | None:
    """The button whose click printed ``text``, and the value typed into it; ``None`` if unknown."""
    words = " ".join(text.split())
    for pattern, button in _ACTIONS:
        match = pattern.search(words)
        if match is None:
            continue
        value = match.groupdict().get("value")
        if button == "search-":
            topic = (value or "").lower()
            return Action(f"search-{topic}", topic) if topic in _FAQ_TOPICS else None
        return Action(button, None if value is None else value.strip())
    return None


def subflow_of(label: str) -> str | None:
    """The subflow a flat file's label names (``timing_4`` is ``timing``); ``None`` for other labels."""
    if label in _FLOW_OF:
        return label
    match = _FAQ_LABEL.match(label)
    return (match.group(1) or match.group(2)) if match else None


@dataclass(slots=True)
class _Conversation:
    """One conversation, whichever layout it came in: its lines as (number, speaker, text, button)."""

    case_id: str
    label: str
    subflow: str | None
    flow: str | None
    lines: list[tuple[int, str, str, str | None]]
    origin: Location
    number: int


class AbcdConversations:
    """Reads ABCD conversation files; an instance is the ``(sources, stdin) -> RawItems`` callable."""

    name = "abcd"
    system = "abcd"
    summary = "ABCD agent chats (JSON: flat [text, label] split files or the full corpus format)"

    def __call__(self, sources: Sequence[str | Path], stdin: BinaryIO | None = None) -> Iterator[RawItem]:
        for source in expand_sources(sources):
            yield from self.read_source(source, stdin)

    def read_source(self, source: str | Path, stdin: BinaryIO | None) -> Iterator[RawItem]:
        """The records of one file: every conversation in it, or an error item per one that is broken."""
        name = STDIN_NAME if source == STDIN else str(source)
        raw = _read_bytes(source, name, stdin)
        split = _split_name(source)
        for index, line, element in _array_elements(raw, name):
            origin = Location(name, line)
            if isinstance(element, RecordError):
                yield RawItem(origin, None, element)
                continue
            yield from self._conversation(element, index, split, origin)

    def _conversation(self, element: Any, index: int, split: str, origin: Location) -> Iterator[RawItem]:
        where = Location(origin.file, origin.line, f"/{index}")
        if _is_flat(element):
            text, label = element
            subflow = subflow_of(label)
            conversation = _Conversation(
                f"{split}-{index + 1}", label, subflow, _FLOW_OF.get(subflow or ""), [], origin, index + 1
            )
            errors = _flat_lines(text, conversation, where)
        elif isinstance(element, dict) and isinstance(element.get("original"), list):
            conversation, errors = _full_conversation(element, index, origin, where)
        else:
            yield _error(
                where, f"conversation {index + 1}: expected [text, label] or an object with 'original'"
            )
            return
        yield from errors
        yield from self._records(conversation)

    def _records(self, conversation: _Conversation) -> Iterator[RawItem]:
        case_id = conversation.case_id
        meta = {"label": conversation.label, "conversation": conversation.number}
        if conversation.subflow is not None:
            meta["subflow"] = conversation.subflow
        if conversation.flow is not None:
            meta["flow"] = conversation.flow
        yield RawItem(
            conversation.origin,
            {
                "id": f"{case_id}-opened",
                "case_id": case_id,
                "type": "case_opened",
                "at": _at(0),
                "actor": {"role": "system", "id": self.system},
                "channel": "chat",
                "subject": conversation.label,
                "source": {"system": self.system, "ref": case_id},
                "meta": meta,
            },
        )
        for number, speaker, text, button in conversation.lines:
            data: dict[str, Any] = {
                "id": f"{case_id}-{number}",
                "case_id": case_id,
                "at": _at(number),
                "source": {"system": self.system, "ref": f"{case_id}/{number}"},
            }
            if speaker == "action":
                data.update(_action_record(text, button, conversation.label))
            else:
                data.update(
                    type="contact",
                    actor=dict(CUSTOMER if speaker == "customer" else AGENT),
                    channel="chat",
                    direction="inbound" if speaker == "customer" else "outbound",
                    text=text,
                )
            yield RawItem(conversation.origin, data)


def _action_record(text: str, button: str | None, label: str) -> dict[str, Any]:
    """The record an ``ACT:`` line stands for; ``button`` is known in the full format only."""
    action = action_of(text)
    if button:
        action = Action(button, action.value if action is not None else None)
    base: dict[str, Any] = {"actor": dict(AGENT), "text": text}
    if action is None:
        return {**base, "type": "note", "meta": {"unrecognised": True}}
    meta: dict[str, Any] = (
        {"action": action.button} if action.button else {"actions": list(AMBIGUOUS_SOLUTIONS)}
    )
    if action.value:
        meta["value"] = action.value
    if action.button == "offer-refund":
        amount = _amount(action.value)
        fields: dict[str, Any] = {"kind": "refund", "currency": "USD"}
        if amount is not None:
            fields["amount"] = amount
        return {**base, "type": "concession", **fields, "meta": meta}
    if action.button == "promo-code":
        return {**base, "type": "concession", "kind": "discount", "meta": meta}
    if action.button == "notify-team":
        team = " ".join((action.value or "").split()).lower() or "internal team"
        return {**base, "type": "escalation", "to": team, "reason": label, "meta": meta}
    if action.button in ("verify-identity", "validate-purchase"):
        kind = "identity" if action.button == "verify-identity" else "purchase"
        return {**base, "type": "verification", "kind": kind, "meta": meta}
    return {**base, "type": "note", "meta": meta}


def _flat_lines(text: str, conversation: _Conversation, where: Location) -> list[RawItem]:
    """Fill the conversation's lines from a flat file's text; an error item per unusable line."""
    errors: list[RawItem] = []
    number = 0
    for part in text.split("\n\n"):
        line = part.strip()
        if not line:
            continue
        number += 1
        prefix, colon, rest = line.partition(":")
        speaker = SPEAKERS.get(prefix) if colon else None
        if speaker is None:
            errors.append(
                _error(
                    Location(where.file, where.line, f"{where.pointer}/0"),
                    f"conversation {conversation.number}, line {number}: no USR:, SYS: or ACT: prefix: "
                    f"{line[:40]!r}",
                )
            )
            continue
        conversation.lines.append((number, speaker, rest.strip(), None))
    return errors


def _full_conversation(
    element: dict[str, Any], index: int, origin: Location, where: Location
) -> tuple[_Conversation, list[RawItem]]:
    scenario: dict[str, Any] = element["scenario"] if isinstance(element.get("scenario"), dict) else {}
    subflow = scenario.get("subflow") if isinstance(scenario.get("subflow"), str) else None
    flow = scenario.get("flow") if isinstance(scenario.get("flow"), str) else _FLOW_OF.get(subflow or "")
    convo_id = element.get("convo_id")
    case_id = f"abcd-{convo_id}" if isinstance(convo_id, int | str) and str(convo_id) else f"abcd-{index + 1}"
    conversation = _Conversation(case_id, subflow or "", subflow, flow, [], origin, index + 1)
    delexed = element.get("delexed")
    errors: list[RawItem] = []
    for position, turn in enumerate(element["original"]):
        pointer = f"{where.pointer}/original/{position}"
        if not (
            isinstance(turn, list)
            and len(turn) == 2
            and turn[0] in SPEAKERS.values()
            and isinstance(turn[1], str)
        ):
            errors.append(_error(Location(where.file, where.line, pointer), "a turn is [speaker, text]"))
            continue
        conversation.lines.append((position + 1, turn[0], turn[1].strip(), _button(delexed, position)))
    return conversation, errors


def _button(delexed: Any, position: int) -> str | None:
    """The button the full format's delexed turn names for an action turn, if it does."""
    try:
        targets = delexed[position]["targets"]
        return targets[2] if isinstance(targets[2], str) and targets[2] else None
    except (TypeError, KeyError, IndexError):
        return None


def _is_flat(element: Any) -> bool:
    return (
        isinstance(element, list)
        and len(element) == 2
        and isinstance(element[0], str)
        and isinstance(element[1], str)
    )


def _amount(value: str | None) -> int | float | None:
    match = _AMOUNT.search(value or "")
    if match is None:
        return None
    number = float(match.group(1).replace(",", ""))
    return int(number) if number.is_integer() else number


def _at(number: int) -> str:
    return format_datetime(ORIGIN + timedelta(seconds=number))


def _error(location: Location, message: str) -> RawItem:
    return RawItem(Location(location.file, location.line), None, RecordError(message, location))


def _split_name(source: str | Path) -> str:
    """``dev`` for ``abcd_dev_conversations_flat.json.gz``; else the file name without its suffixes."""
    if source == STDIN:
        return "stdin"
    name = Path(source).name
    match = _SPLIT.match(name)
    if match:
        return match.group("split").lower()
    for suffix in (".gz", ".json"):
        name = name.removesuffix(suffix)
    return name


def _read_bytes(source: str | Path, name: str, stdin: BinaryIO | None) -> bytes:
    """The whole (decompressed) file: the conversations are one JSON array, read at once."""
    limit = limits.MAX_ARRAY_BYTES
    try:
        with contextlib.ExitStack() as stack:
            opened = standard_input(stdin) if source == STDIN else stack.enter_context(open(source, "rb"))
            raw = decompressed_stream(opened, name).read(limit + 1)
    except (OSError, EOFError, zlib.error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
        raise InputError(f"cannot read {name}: {reason}", Location(file=name)) from exc
    if len(raw) > limit:
        raise InputError(
            f"{name} is larger than {limit:,} bytes (serviceflow.limits.MAX_ARRAY_BYTES), the most a JSON "
            "array read whole may be",
            Location(file=name),
        )
    return raw.removeprefix(b"\xef\xbb\xbf")


def _array_elements(raw: bytes, name: str) -> Iterator[tuple[int, int, Any]]:
    """Each element of the file's top-level JSON array: (index, line, value or the error reading it).

    The elements are found by scanning brackets outside strings, so that one broken conversation is
    reported on its own and the ones after it are still read.
    """
    lines = _Lines(raw)
    start = len(raw) - len(raw.lstrip())
    if start == len(raw):
        raise InputError(f"{name} is empty: expected a JSON array of conversations", Location(name, 1))
    if raw[start : start + 1] != b"[":
        raise InputError(
            f"{name} is not a JSON array of conversations (it starts with {raw[start : start + 20]!r})",
            Location(name, lines.at(start)),
        )
    depth, begin, index = 0, start + 1, 0
    for token in _TOKENS.finditer(raw, start):
        char = token.group()
        if char in (b"[", b"{"):
            depth += 1
        elif char in (b"]", b"}"):
            depth -= 1
        if not ((char == b"," and depth == 1) or depth == 0):
            continue
        piece = raw[begin : token.start()]
        if piece.strip() or char == b",":
            yield _element(piece, begin, index, name, lines)
            index += 1
        begin = token.end()
        if depth == 0:
            if raw[begin:].strip():
                line = lines.at(begin + _leading(raw[begin:]))
                yield index, line, RecordError("text after the end of the array", Location(name, line, ""))
            return
    if raw[begin:].strip():
        yield _element(raw[begin:], begin, index, name, lines)
        index += 1
    line = lines.at(len(raw))
    yield (
        index,
        line,
        RecordError("the array is not closed: the file may be cut short", Location(name, line, "")),
    )


class _Lines:
    """Line numbers of byte offsets, counted once as the offsets grow."""

    def __init__(self, raw: bytes) -> None:
        self._raw = raw
        self._offset = 0
        self._line = 1

    def at(self, offset: int) -> int:
        if offset < self._offset:
            return self._raw.count(b"\n", 0, offset) + 1
        self._line += self._raw.count(b"\n", self._offset, offset)
        self._offset = offset
        return self._line


def _leading(piece: bytes) -> int:
    """How many bytes of white space ``piece`` starts with."""
    return len(piece) - len(piece.lstrip())


def _element(piece: bytes, begin: int, index: int, name: str, lines: _Lines) -> tuple[int, int, Any]:
    line = lines.at(begin + _leading(piece))
    pointer = f"/{index}"
    if not piece.strip():
        return index, line, RecordError(f"conversation {index + 1} is empty", Location(name, line, pointer))
    try:
        text = piece.decode("utf-8")
    except UnicodeDecodeError as exc:
        return (
            index,
            line,
            RecordError(
                f"conversation {index + 1} is not UTF-8 ({exc.reason})", Location(name, line, pointer)
            ),
        )
    try:
        return index, line, json.loads(text)
    except json.JSONDecodeError as exc:
        where = Location(name, lines.at(begin) + exc.lineno - 1, pointer)
        return (
            index,
            line,
            RecordError(f"conversation {index + 1} is not JSON: {exc.msg} (column {exc.colno})", where),
        )


def expand_sources(paths: Sequence[str | Path]) -> list[str | Path]:
    """The paths, a directory replaced by the conversation files in it (``*conversations*.json[.gz]``).

    A directory of the corpus also holds its policy files (``guidelines.json``, ``kb.json``,
    ``ontology.json``) and ``abcd_sample.json``; name the sample to read it.
    """
    expanded: list[str | Path] = []
    for path in paths:
        if path != STDIN and Path(path).is_dir():
            expanded.extend(
                sorted(
                    child
                    for child in Path(path).iterdir()
                    if child.is_file()
                    and "conversations" in child.name
                    and child.name.endswith((".json", ".json.gz"))
                )
            )
        else:
            expanded.append(path)
    return expanded


def reader() -> ReaderSpec:
    """The ``abcd`` input format, for the built-in plugin (or a test's) to register."""
    return ReaderSpec(
        AbcdConversations.name,
        AbcdConversations(),
        f"{AbcdConversations.summary}; verification records need the serviceflow-abcd pack; "
        "see docs/importers.md",
        expand=expand_sources,
    )
