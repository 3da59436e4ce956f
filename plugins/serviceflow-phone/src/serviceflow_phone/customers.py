"""Who is calling: a customer (and optionally their open case) found by phone number.

The Twilio webhooks and the Asterisk reader ask a :data:`CustomerLookup` about the customer's number,
always in E.164 form. Two lookups exist:

* a CSV file of ``number,customer_id[,case_id]`` (:func:`load_customer_csv`), exported from a CRM;
  an optional header row starts with ``number``; ``#`` lines are comments;
* any callable, passed from Python (a CRM's lookup).

A lookup returns ``None`` for a number it does not know; the call or message is then recorded with
no ``customer_id``, in a case of its own (see the README's "Cases").
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from serviceflow.plugin import ConfigError, Location
from serviceflow_phone.numbers import PhoneNumbers, mask

__all__ = ["CsvCustomers", "CustomerLookup", "CustomerMatch", "load_customer_csv"]


@dataclass(frozen=True, slots=True)
class CustomerMatch:
    """The customer a number belongs to and, when known, the case their calls belong to."""

    customer_id: str
    case_id: str | None = None


#: ``lookup(e164_number) -> match or None``.
CustomerLookup = Callable[[str], CustomerMatch | None]


class CsvCustomers:
    """A lookup over the rows of a customer CSV file, held in memory (one dict entry per number)."""

    def __init__(self, matches: Mapping[str, CustomerMatch], source: str = "") -> None:
        self._matches = dict(matches)
        self.source = source

    def __call__(self, number: str) -> CustomerMatch | None:
        return self._matches.get(number)

    def __len__(self) -> int:
        return len(self._matches)

    def __repr__(self) -> str:
        return f"<CsvCustomers {self.source!r}: {len(self._matches)} numbers>"


def load_customer_csv(path: str | Path, numbers: PhoneNumbers) -> CsvCustomers:
    """The lookup of ``path``; a row that cannot be used is a ConfigError with the file and line.

    Refused: a number that is not a complete phone number in ``numbers``' default region, an empty
    customer id, a number listed twice (even in two spellings), bytes that are not UTF-8. Numbers in
    these messages are masked.
    """
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read the customer file {name}: {exc.strerror or exc}", Location(name)
        ) from exc
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    matches: dict[str, CustomerMatch] = {}
    first_line: dict[str, int] = {}
    for line_number, raw_line in enumerate(raw.splitlines(), start=1):
        try:
            line = raw_line.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError("not UTF-8: the line has invalid bytes", Location(name, line_number)) from None
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            (fields,) = list(csv.reader(io.StringIO(line)))
        except (csv.Error, ValueError):
            raise ConfigError("not a CSV row", Location(name, line_number)) from None
        fields = [field.strip() for field in fields]
        if line_number == 1 and fields and fields[0].lower() in {"number", "phone", "phone_number"}:
            continue
        if len(fields) not in (2, 3):
            raise ConfigError(
                f"expected number,customer_id[,case_id], got {len(fields)} fields",
                Location(name, line_number),
            )
        number = numbers.e164(fields[0])
        if number is None:
            region = numbers.default_region or "none: write numbers with their country code"
            raise ConfigError(
                f"{mask(fields[0])!r} is not a complete phone number (default region: {region})",
                Location(name, line_number),
            )
        if not fields[1]:
            raise ConfigError("the customer id is empty", Location(name, line_number))
        if number in matches:
            raise ConfigError(
                f"{mask(number)} is listed twice (first on line {first_line[number]})",
                Location(name, line_number),
            )
        case_id = fields[2] if len(fields) == 3 and fields[2] else None
        matches[number] = CustomerMatch(fields[1], case_id)
        first_line[number] = line_number
    return CsvCustomers(matches, name)
