"""``asterisk-cdr``: Asterisk's ``Master.csv`` call records as serviceflow contacts, one per call.

Since Asterisk 12 a call is several CDRs, one per pair of channels: a customer's call answered by
Alice and transferred to Bob is two rows sharing a ``linkedid`` (with ``newcdrcolumns``), ordered by
``sequence``. This reader groups the rows of a call and makes **one** ``contact`` of it:

* **Rows → calls.** The call is the ``linkedid``; without ``newcdrcolumns`` the ``uniqueid`` (the
  first channel's rows group, transfers to a new channel do not); without either, each row.
* **Duplicates.** A row whose ``(uniqueid, linkedid, sequence)`` was read before is dropped
  (concatenated or re-exported files repeat rows); a *different* row with the same three is an error.
  Without those columns only byte-identical rows are duplicates.
* **Direction.** By ``dcontext`` when ``inbound-contexts`` / ``outbound-contexts`` say; else by the
  numbers: a call to an external number from an extension (at most ``extension-digits`` digits) or
  from no number is outbound; one between two extensions is internal and makes no record; everything
  else (an external or withheld caller) is inbound. ``own-numbers`` are never the customer.
* **The contact.** ``at`` is the first row's start; the status is the first answered row's (an
  agent talked: ``ANSWERED`` with a destination channel), else the first ``ANSWERED`` (the PBX
  answered: IVR, voicemail), else the last row's: ``answered``, ``no_answer``, ``busy``, ``failed``,
  ``congestion``, ``canceled``. The actor is the first agent who answered (the destination channel's
  endpoint, ``PJSIP/1001``) or, for a call no agent took, the customer; an outbound call's actor is
  the calling endpoint. Talk time, agents, legs and the raw disposition are in ``meta``.
* **The case.** ``case-by = "lookup"`` (default): the case the customer lookup gives for the
  customer's number, else the call's own case ``asterisk-<linkedid>``; ``case-by = "call"``: always
  the call's own case.

Rows are streamed: a call is emitted once no row of it came within ``transfer-window`` (by end time)
or at the end of the source, so memory holds the calls in progress, not the file. A bad row is an
error item with file, line and column; the others still come through. A directory stands for its
``Master.csv`` and rotated copies (``Master.csv.1``, ``Master.csv-20240501.gz``), read oldest first
as one history, so a call that spans a rotation is still one call; the per-account files that
``accountlogs`` writes repeat Master.csv's rows and are not read.
"""

from __future__ import annotations

import hashlib
import re
import sys
import zlib
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, BinaryIO

from serviceflow.plugin import (
    STDIN,
    InputError,
    Location,
    RawItem,
    ReaderSpec,
    RecordError,
    decompressed_stream,
    format_datetime,
)
from serviceflow_phone.cdr import (
    CSV_SWITCHES,
    DISPOSITIONS,
    CdrColumns,
    CdrRow,
    RowError,
    parse_row,
    read_cdr_conf,
    resolve_zone,
)
from serviceflow_phone.contacts import CASE_BY, Party, case_for, clean_text, find_party
from serviceflow_phone.csvfile import BadRow, read_csv_rows
from serviceflow_phone.customers import CustomerLookup, load_customer_csv
from serviceflow_phone.numbers import PhoneNumbers, mask
from serviceflow_phone.options import Options

__all__ = ["NAME", "AsteriskCdrReader", "CdrOptions", "asterisk_cdr_reader"]

NAME = "asterisk-cdr"
SYSTEM = "asterisk"
MASTER = "Master.csv"
DESCRIPTION = "Asterisk Master.csv call records (cdr_csv), one contact per call"
STDIN_NAME = "<stdin>"
_CLID = re.compile(r'^\s*"?(?P<name>[^"<]*?)"?\s*<(?P<number>[^>]*)>\s*$')
#: A channel name is its endpoint and a per-channel counter: PJSIP/1001-0000000a, Local/1001@queue-0000001f;1.
_CHANNEL_SUFFIX = re.compile(r"-[0-9a-fA-F]+(;\d+)?$")
_DIGITS = re.compile(r"\d")


@dataclass(frozen=True)
class CdrOptions:
    """How to read one PBX's Master.csv (see :meth:`from_options` and the README for the options)."""

    columns: CdrColumns = field(default_factory=CdrColumns)
    usegmtime: bool = False
    zone: tzinfo = UTC
    numbers: PhoneNumbers = field(default_factory=PhoneNumbers)
    customers: CustomerLookup | None = None
    case_by: str = "lookup"
    extension_digits: int = 6
    inbound_contexts: frozenset[str] = frozenset()
    outbound_contexts: frozenset[str] = frozenset()
    own_numbers: frozenset[str] = frozenset()
    transfer_window: timedelta = timedelta(hours=4)

    @property
    def time_zone(self) -> tzinfo:
        """The zone of Master.csv's times: UTC with ``usegmtime``, else the PBX's (``timezone``)."""
        return UTC if self.usegmtime else self.zone

    @classmethod
    def from_options(
        cls,
        options: Mapping[str, Any] | None,
        *,
        customers: CustomerLookup | None = None,
        base: Path | None = None,
    ) -> CdrOptions:
        """The options of an ``[asterisk-cdr]`` table; ConfigError names a wrong one.

        ``cdr-conf`` reads the four switches from the PBX's own ``cdr.conf``; a switch given here
        overrides it. Relative paths are resolved against ``base``.
        """
        reader = Options(f"input format '{NAME}'", options)
        conf = reader.string("cdr-conf")
        switches = read_cdr_conf(_resolve(base, conf)) if conf else dict.fromkeys(CSV_SWITCHES, False)
        for switch in CSV_SWITCHES:
            switches[switch] = reader.boolean(switch, switches[switch])
        zone = resolve_zone(str(reader.string("timezone", "UTC")))
        numbers = PhoneNumbers(reader.string("default-region"))
        csv_path = reader.string("customers")
        case_by = reader.choice("case-by", CASE_BY, "lookup")
        extension_digits = reader.integer("extension-digits", 6, minimum=1, maximum=15)
        inbound = frozenset(reader.strings("inbound-contexts"))
        outbound = frozenset(reader.strings("outbound-contexts"))
        own = reader.strings("own-numbers")
        window = reader.duration("transfer-window", timedelta(hours=4))
        reader.finish()
        if inbound & outbound:
            raise reader.error(
                "inbound-contexts", f"and 'outbound-contexts' share {sorted(inbound & outbound)}"
            )
        own_numbers = set()
        for number in own:
            e164 = numbers.e164(number)
            if e164 is None:
                raise reader.error(
                    "own-numbers", f"has {mask(number)!r}, which is not a complete phone number"
                )
            own_numbers.add(e164)
        if customers is None and csv_path is not None:
            customers = load_customer_csv(_resolve(base, csv_path), numbers)
        return cls(
            columns=CdrColumns(switches["loguniqueid"], switches["loguserfield"], switches["newcdrcolumns"]),
            usegmtime=switches["usegmtime"],
            zone=zone,
            numbers=numbers,
            customers=customers,
            case_by=case_by,
            extension_digits=extension_digits,
            inbound_contexts=inbound,
            outbound_contexts=outbound,
            own_numbers=frozenset(own_numbers),
            transfer_window=window,
        )


def _resolve(base: Path | None, path: str | None) -> Path:
    return (base or Path.cwd()) / str(path)


def asterisk_cdr_reader(
    options: CdrOptions | Mapping[str, Any] | None = None,
    *,
    customers: CustomerLookup | None = None,
    base: Path | None = None,
) -> ReaderSpec:
    """The ``asterisk-cdr`` input format for these options, to return from ``serviceflow_readers``."""
    if not isinstance(options, CdrOptions):
        options = CdrOptions.from_options(options, customers=customers, base=base)
    return ReaderSpec(NAME, AsteriskCdrReader(options), DESCRIPTION)


class AsteriskCdrReader:
    """The ``read(sources, stdin)`` function of the ``asterisk-cdr`` format."""

    def __init__(self, options: CdrOptions) -> None:
        self.options = options

    def __call__(self, sources: Sequence[str | Path], stdin: BinaryIO | None = None) -> Iterator[RawItem]:
        for source in sources:
            yield from self.read_source(source, stdin)

    def read_source(self, source: str | Path, stdin: BinaryIO | None = None) -> Iterator[RawItem]:
        """The contacts of one source; a directory's Master.csv files are one history."""
        calls = _Calls(self.options)
        for name, opener in _files(source, stdin):
            try:
                with opener() as raw:
                    for row in read_csv_rows(decompressed_stream(raw, name)):
                        yield from self._row(name, row, calls)
            except InputError:  # decompressed past serviceflow's bound
                yield from calls.finish()
                raise
            except (OSError, EOFError, zlib.error) as exc:
                yield from calls.finish()  # the calls read so far are good: keep them
                reason = (
                    exc.strerror
                    if isinstance(exc, OSError) and exc.strerror
                    else str(exc) or type(exc).__name__
                )
                raise InputError(f"cannot read {name}: {reason}", Location(name)) from exc
        yield from calls.finish()

    def _row(self, name: str, row: Any, calls: _Calls) -> Iterator[RawItem]:
        if isinstance(row, BadRow):
            yield _error(Location(name, row.line, ""), row.message)
            return
        columns = self.options.columns
        if len(row.fields) != len(columns.names):
            yield _error(
                Location(name, row.line, ""),
                f"the row has {len(row.fields)} fields, {len(columns.names)} expected "
                f"({columns.hint(len(row.fields))}; set the same switches here as in cdr.conf)",
            )
            return
        try:
            cdr = parse_row(name, row.line, row.fields, columns, self.options.time_zone)
        except RowError as error:
            yield _error(Location(name, row.line, "/" + error.column), error.message)
            return
        yield from calls.add(cdr, "\x1f".join(row.fields))


def _error(location: Location, message: str) -> RawItem:
    return RawItem(Location(location.file, location.line), None, RecordError(message, location))


class _Source:
    """Opens a file for :func:`_files`; stdin is handed over without being closed."""

    def __init__(self, path: Path | None = None, stream: BinaryIO | None = None) -> None:
        self.path = path
        self.stream = stream

    def __call__(self) -> Any:
        if self.path is not None:
            return self.path.open("rb")
        return _Unclosed(self.stream if self.stream is not None else sys.stdin.buffer)


class _Unclosed:
    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream

    def __enter__(self) -> BinaryIO:
        return self.stream

    def __exit__(self, *exc: object) -> None:
        return None


def _files(source: str | Path, stdin: BinaryIO | None) -> list[tuple[str, _Source]]:
    if source == STDIN:
        return [(STDIN_NAME, _Source(stream=stdin))]
    path = Path(source)
    if path.is_dir():
        masters = sorted(
            (item for item in path.iterdir() if item.is_file() and item.name.startswith(MASTER)),
            key=_rotation_order,
        )
        if not masters:
            raise InputError(
                f"{path} has no {MASTER} (the directory Asterisk's cdr_csv writes)", Location(str(path))
            )
        return [(str(item), _Source(item)) for item in masters]
    return [(str(path), _Source(path))]


def _rotation_order(path: Path) -> tuple[int, int, str]:
    """Oldest first: ``Master.csv.3`` before ``.2`` before ``.1``, dated copies by date, then Master.csv."""
    suffix = path.name[len(MASTER) :].removesuffix(".gz").lstrip(".-_")
    if not suffix:
        return (2, 0, "")
    if suffix.isdigit() and len(suffix) <= 3:
        return (0, -int(suffix), "")
    return (1, 0, suffix)


class _Calls:
    """The calls of one source in progress: rows deduplicated, grouped, emitted when complete."""

    def __init__(self, options: CdrOptions) -> None:
        self.options = options
        self.open: OrderedDict[str, list[CdrRow]] = OrderedDict()
        self.emitted: dict[str, Location] = {}
        self.seen: dict[object, tuple[str, int, bytes]] = {}

    def add(self, row: CdrRow, raw: str) -> Iterator[RawItem]:
        digest = hashlib.blake2b(raw.encode("utf-8", "surrogateescape"), digest_size=16).digest()
        identity: object = (
            (row.uniqueid, row.linkedid, row.sequence)
            if row.uniqueid is not None and row.linkedid is not None and row.sequence is not None
            else digest
        )
        earlier = self.seen.get(identity)
        if earlier is not None:
            if earlier[2] != digest:
                yield _error(
                    Location(row.file, row.line, ""),
                    f"another row with uniqueid, linkedid and sequence {row.uniqueid}, {row.linkedid}, "
                    f"{row.sequence} was read at {earlier[0]}:{earlier[1]}, with different values",
                )
            return  # a repeated row: dropped
        self.seen[identity] = (row.file, row.line, digest)

        key = (
            row.linkedid
            or row.uniqueid
            or "r"
            + hashlib.blake2b(
                f"{row.get('channel')}\x1f{row.start.isoformat()}".encode("utf-8", "surrogateescape"),
                digest_size=8,
            ).hexdigest()
        )
        if key in self.emitted:
            yield _error(
                Location(row.file, row.line, ""),
                f"a row of call {key} came more than {self.options.transfer_window} after the call's other "
                f"rows (first at {self.emitted[key]}), which were already read as one contact; "
                "raise 'transfer-window' to group them",
            )
            return
        self.open.setdefault(key, []).append(row)
        self.open.move_to_end(key)
        # Instants, not wall clocks: aware datetimes of one zone compare by wall clock in Python.
        horizon = _instant(row.end) - self.options.transfer_window
        while self.open:
            oldest_key, legs = next(iter(self.open.items()))
            if max(_instant(leg.end) for leg in legs) >= horizon:
                break
            del self.open[oldest_key]
            yield from self._emit(oldest_key, legs)

    def finish(self) -> Iterator[RawItem]:
        while self.open:
            key, legs = self.open.popitem(last=False)
            yield from self._emit(key, legs)

    def _emit(self, key: str, legs: list[CdrRow]) -> Iterator[RawItem]:
        legs.sort(key=lambda leg: (_instant(leg.start), leg.sequence or 0, leg.file, leg.line))
        self.emitted[key] = legs[0].location
        record = call_contact(key, legs, self.options)
        if record is not None:
            yield RawItem(legs[0].location, record)


def call_contact(key: str, legs: Sequence[CdrRow], options: CdrOptions) -> dict[str, Any] | None:
    """The contact of one call (its rows in order), or ``None`` for a call between two extensions."""
    first = legs[0]
    direction = _direction(first, options)
    if direction is None:
        return None
    caller_name, clid_number = _split_clid(first.get("clid"))
    customer_address = (first.get("src") or clid_number) if direction == "inbound" else first.get("dst")
    party = find_party(customer_address, options.numbers, options.customers)
    if party.number in options.own_numbers:
        party = Party(None, None)
    talked = [leg for leg in legs if leg.disposition == "ANSWERED" and leg.get("dstchannel")]
    answered = [leg for leg in legs if leg.disposition == "ANSWERED"]
    decisive = (talked or answered or [legs[-1]])[0]
    status = DISPOSITIONS[decisive.disposition]
    if direction == "inbound":
        agents = list(dict.fromkeys(_endpoint(leg.get("dstchannel")) for leg in talked))
    else:
        agents = list(dict.fromkeys(_endpoint(leg.get("channel")) for leg in legs if leg.get("channel")))
    talk_seconds = sum(leg.billsec for leg in talked)
    ended_at = max((leg.end for leg in legs), key=_instant)
    record_id = f"{SYSTEM}-{key}"
    if agents:
        actor = {"role": "agent", "id": agents[0]}
    else:
        actor = party.customer_actor()
        if caller_name and direction == "inbound":
            actor["name"] = " ".join(clean_text(caller_name).split())[:200]
    meta = {
        "status": status,
        "disposition": decisive.disposition,
        "answered": bool(talked),
        "duration_seconds": talk_seconds,
        "total_seconds": int((_instant(ended_at) - _instant(first.start)).total_seconds()),
        "ended_at": format_datetime(ended_at),
        "agents": agents,
        "legs": len(legs),
        "transferred": len(set(agents)) > 1,
        "linkedid": first.linkedid,
        "uniqueid": first.uniqueid,
        "dcontext": first.get("dcontext") or None,
        "accountcode": first.get("accountcode") or None,
        "userfield": next((leg.get("userfield") for leg in legs if leg.get("userfield")), None),
        "customer_number": party.number,
    }
    record: dict[str, Any] = {
        "id": record_id,
        "case_id": case_for(party, record_id, options.case_by),
        "type": "contact",
        "at": format_datetime(first.start),
        "actor": actor,
        "channel": "phone",
        "direction": direction,
        "summary": _summary(direction, status, agents, talk_seconds),
        "source": {"system": SYSTEM, "ref": key},
        "meta": {name: value for name, value in meta.items() if value is not None},
    }
    if party.match is not None:
        record["customer_id"] = party.match.customer_id
    return record


def _instant(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _direction(row: CdrRow, options: CdrOptions) -> str | None:
    context = row.get("dcontext")
    if context in options.inbound_contexts:
        return "inbound"
    if context in options.outbound_contexts:
        return "outbound"
    source, destination = row.get("src"), row.get("dst")
    if _external(destination, options) and not _external(source, options):
        return "outbound"
    if _extension(source, options) and not _external(destination, options):
        return None
    return "inbound"


def _external(text: str, options: CdrOptions) -> bool:
    """A number outside the PBX: more digits than an extension, and not one of ours."""
    if len(_DIGITS.findall(text)) <= options.extension_digits:
        return False
    number = options.numbers.e164(text)
    return number is None or number not in options.own_numbers


def _extension(text: str, options: CdrOptions) -> bool:
    digits = text.lstrip("*#")
    return digits.isascii() and digits.isdigit() and len(digits) <= options.extension_digits


def _split_clid(clid: str) -> tuple[str, str]:
    """``"Jane Doe" <4155550123>`` → (``Jane Doe``, ``4155550123``)."""
    match = _CLID.match(clid)
    if match is None:
        return "", clid.strip()
    return match.group("name").strip(), match.group("number").strip()


def _endpoint(channel: str) -> str:
    return _CHANNEL_SUFFIX.sub("", channel.strip())


def _summary(direction: str, status: str, agents: list[str], talk_seconds: int) -> str:
    words = [f"{direction.capitalize()} call", status.replace("_", " ")]
    if agents and direction == "inbound":
        words.append(f"by {agents[0]}")
    if talk_seconds:
        minutes, seconds = divmod(talk_seconds, 60)
        words.append(f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s")
    if len(agents) > 1:
        words.append(f"transferred to {', '.join(agents[1:])}")
    return ", ".join(words)
