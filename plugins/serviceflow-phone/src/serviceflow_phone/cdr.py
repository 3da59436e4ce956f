"""Asterisk's ``Master.csv``: its columns, the ``cdr.conf`` switches that add some, and one row parsed.

The format is what ``cdr/cdr_csv.c`` writes (``build_csv_record`` in Asterisk's source,
github.com/asterisk/asterisk, unchanged there since 2018): no header row, strings in double quotes (a
quote doubled inside), numbers bare, an unset time as an empty unquoted field, times as
``%Y-%m-%d %T`` in the PBX's local time zone, or in UTC with ``usegmtime``. Sixteen columns always::

    accountcode, src, dst, dcontext, clid, channel, dstchannel, lastapp, lastdata,
    start, answer, end, duration, billsec, disposition, amaflags

then, each only when its ``[csv]`` switch in ``cdr.conf`` is on (all are off unless set; the sample
``cdr.conf`` Asterisk ships turns on ``usegmtime``, ``loguniqueid`` and ``loguserfield``):

* ``uniqueid`` (``loguniqueid``), ``userfield`` (``loguserfield``),
* ``peeraccount``, ``linkedid``, ``sequence`` (``newcdrcolumns``: CDR fields since Asterisk 1.8,
  written by cdr_csv since 2015, commit 8886b724ae).

``disposition`` is ``ast_cdr_disp2str``'s
(``main/cdr.c``): ANSWERED, NO ANSWER, BUSY, FAILED, CONGESTION and, since 2025 (511d22ef5e), CANCEL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from serviceflow.plugin import ConfigError, Location

__all__ = [
    "BASE_COLUMNS",
    "DISPOSITIONS",
    "CdrColumns",
    "CdrRow",
    "RowError",
    "parse_row",
    "read_cdr_conf",
    "resolve_zone",
]

BASE_COLUMNS = (
    "accountcode",
    "src",
    "dst",
    "dcontext",
    "clid",
    "channel",
    "dstchannel",
    "lastapp",
    "lastdata",
    "start",
    "answer",
    "end",
    "duration",
    "billsec",
    "disposition",
    "amaflags",
)
NEW_COLUMNS = ("peeraccount", "linkedid", "sequence")
#: Asterisk's dispositions and the status serviceflow records (shared with Twilio's).
DISPOSITIONS = {
    "ANSWERED": "answered",
    "NO ANSWER": "no_answer",
    "BUSY": "busy",
    "FAILED": "failed",
    "CONGESTION": "congestion",
    "CANCEL": "canceled",
}
CSV_SWITCHES = ("usegmtime", "loguniqueid", "loguserfield", "newcdrcolumns")
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
#: Asterisk ids (uniqueid, linkedid: ``1715000000.42`` or ``host-1715000000.42``) as record ids accept them.
_ID = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")
_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")
_TRUE = frozenset({"yes", "true", "y", "t", "1", "on"})


class RowError(ValueError):
    """A field of a row that cannot be used: the column (for the JSON pointer) and why."""

    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


@dataclass(frozen=True)
class CdrColumns:
    """Which optional columns ``Master.csv`` has, as ``cdr.conf``'s ``[csv]`` section says."""

    loguniqueid: bool = False
    loguserfield: bool = False
    newcdrcolumns: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        names = list(BASE_COLUMNS)
        if self.loguniqueid:
            names.append("uniqueid")
        if self.loguserfield:
            names.append("userfield")
        if self.newcdrcolumns:
            names.extend(NEW_COLUMNS)
        return tuple(names)

    def hint(self, count: int) -> str:
        """Which switches would give rows of ``count`` columns (for the error about a wrong count)."""
        matches = []
        for new in (False, True):
            for userfield in (False, True):
                for uniqueid in (False, True):
                    if len(CdrColumns(uniqueid, userfield, new).names) == count:
                        on = [
                            name
                            for name, flag in zip(CSV_SWITCHES[1:], (uniqueid, userfield, new), strict=True)
                            if flag
                        ]
                        matches.append(
                            " and ".join(on) if on else "none of loguniqueid, loguserfield, newcdrcolumns"
                        )
        if not matches:
            return "no cdr.conf setting writes that many: is this Master.csv?"
        return f"{count} columns is what cdr_csv writes with {' or with '.join(matches)}"


@dataclass(frozen=True, slots=True)
class CdrRow:
    """One CDR: one pair of channels (party A and B) of a call, as one line of Master.csv."""

    file: str
    line: int
    values: dict[str, str]
    start: datetime
    answer: datetime | None
    end: datetime
    duration: int
    billsec: int
    disposition: str
    uniqueid: str | None
    linkedid: str | None
    sequence: int | None

    def get(self, column: str) -> str:
        return self.values.get(column, "").strip()

    @property
    def location(self) -> Location:
        return Location(self.file, self.line)


def parse_row(file: str, line: int, fields: list[str], columns: CdrColumns, zone: tzinfo) -> CdrRow:
    """The row's fields checked and typed; :class:`RowError` names the first unusable column."""
    values = dict(zip(columns.names, fields, strict=True))
    start = _required_time(values, "start", zone)
    end = _required_time(values, "end", zone)
    answer = _time(values, "answer", zone)
    if end.astimezone(UTC) < start.astimezone(UTC):
        raise RowError("end", "the call ends before it starts")
    disposition = values["disposition"].strip().upper()
    if disposition not in DISPOSITIONS:
        raise RowError("disposition", f"unknown disposition {disposition[:30]!r} ({', '.join(DISPOSITIONS)})")
    return CdrRow(
        file=file,
        line=line,
        values=values,
        start=start,
        answer=answer,
        end=end,
        duration=_count(values, "duration"),
        billsec=_count(values, "billsec"),
        disposition=disposition,
        uniqueid=_identifier(values, "uniqueid") if columns.loguniqueid else None,
        linkedid=_identifier(values, "linkedid") if columns.newcdrcolumns else None,
        sequence=_count(values, "sequence") if columns.newcdrcolumns else None,
    )


def _required_time(values: dict[str, str], column: str, zone: tzinfo) -> datetime:
    moment = _time(values, column, zone)
    if moment is None:
        raise RowError(column, f"{column} is empty")
    return moment


def _time(values: dict[str, str], column: str, zone: tzinfo) -> datetime | None:
    text = values[column].strip()
    if not text:
        return None
    try:
        moment = datetime.strptime(text, DATE_FORMAT)
    except ValueError:
        raise RowError(column, f"not a date-time like 2024-05-06 09:15:02: {text[:40]!r}") from None
    # A wall-clock time the clocks skip or repeat is read as zoneinfo does by default (fold=0).
    return moment.replace(tzinfo=zone)


def _count(values: dict[str, str], column: str) -> int:
    text = values[column].strip()
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise RowError(column, f"{column} is not a whole number of at most 9 digits: {text[:20]!r}")
    return int(text)


def _identifier(values: dict[str, str], column: str) -> str | None:
    text = values[column].strip()
    if not text:
        return None
    if not _ID.match(text):
        raise RowError(
            column, f"{column} is not an Asterisk id (letters, digits and . _ : @ -): {text[:40]!r}"
        )
    return text


def resolve_zone(zone: str) -> tzinfo:
    """A time zone from an IANA name (``Europe/Berlin``), ``UTC``, or a fixed offset (``+01:00``)."""
    text = zone.strip()
    if text.upper() in {"UTC", "Z", "GMT"}:
        return UTC
    offset = _OFFSET.match(text)
    if offset:
        sign = -1 if offset.group(1) == "-" else 1
        return timezone(sign * timedelta(hours=int(offset.group(2)), minutes=int(offset.group(3))))
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"asterisk-cdr: unknown time zone {zone!r}: use an IANA name such as Europe/Berlin, UTC, "
            "or an offset such as +01:00"
        ) from None


def read_cdr_conf(path: str | Path) -> dict[str, bool]:
    """The ``[csv]`` switches of an Asterisk ``cdr.conf``: ``usegmtime``, ``loguniqueid``,
    ``loguserfield``, ``newcdrcolumns``, each as Asterisk reads it (``ast_true``), off when absent.

    Follows Asterisk's syntax as far as these keys need: ``;`` comments (``\\;`` is a semicolon),
    ``;-- --;`` block comments, ``key = value`` and ``key => value``, several ``[csv]`` sections
    (later values win). ``#include`` files are not followed.
    """
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ConfigError(f"cannot read {name}: {exc.strerror or exc}", Location(name)) from exc
    switches = dict.fromkeys(CSV_SWITCHES, False)
    section: str | None = None
    found = False
    in_block = False
    for raw_line in text.splitlines():
        line, in_block = _without_comments(raw_line, in_block)
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line[1 : line.find("]")].strip().lower() if "]" in line else None
            found = found or section == "csv"
            continue
        if section != "csv":
            continue
        key, separator, value = line.partition("=")
        if not separator:
            continue
        key = key.strip().lower()
        if key in switches:
            switches[key] = value.lstrip(">").strip().lower() in _TRUE
    if not found:
        raise ConfigError(
            f"{name} has no [csv] section: Asterisk writes no Master.csv without one", Location(name)
        )
    return switches


def _without_comments(line: str, in_block: bool) -> tuple[str, bool]:
    kept: list[str] = []
    index = 0
    while index < len(line):
        if in_block:
            close = line.find("--;", index)
            if close < 0:
                return "".join(kept), True
            index, in_block = close + 3, False
            continue
        char = line[index]
        if char == "\\" and line[index + 1 : index + 2] == ";":
            kept.append(";")
            index += 2
        elif line.startswith(";--", index):
            in_block, index = True, index + 3
        elif char == ";":
            break
        else:
            kept.append(char)
            index += 1
    return "".join(kept), in_block
