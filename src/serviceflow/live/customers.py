"""The customer scope in live mode: which cases' ``previous_case`` a batch of records changes.

In a batch, the case buffer derives ``previous_case`` once, from every record
(:mod:`serviceflow.records.customers`). A store learns records over time, so the same fact can change
after a case was evaluated: a close of one case, a case naming its customer late, an earlier
``case_opened`` arriving late. The store keeps, per case, the customer (the first ``customer_id`` in
ingestion order), the earliest opening and every close; this module asks the batch code's own
:class:`CustomerHistory` the question over them, so both modes give the same answer by construction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from serviceflow.records.customers import CLOSING_STATUSES, CustomerHistory, PreviousCase
from serviceflow.records.model import Record

__all__ = ["CaseFacts", "Close", "closes_in", "customer_of", "previous_cases", "with_previous_case"]


@dataclass(frozen=True, slots=True)
class Close:
    """One close of a case (a status change to ``closed`` or ``solved``): when, and its ``seq``."""

    case_id: str
    at: datetime
    seq: int


@dataclass(frozen=True, slots=True)
class CaseFacts:
    """What a case says about its customer: who, and when it opened (``None``: not known yet)."""

    case_id: str
    customer_id: str | None
    opened_at: datetime | None


def customer_of(records: Iterable[Record]) -> str | None:
    """The customer the first record (in ingestion order) naming one names."""
    for record in sorted(records, key=lambda record: record.seq):
        customer = record.get("customer_id")
        if isinstance(customer, str) and customer:
            return customer
    return None


def opened_at(records: Iterable[Record]) -> datetime | None:
    """The earliest ``case_opened`` instant among ``records``."""
    openings = [record.at for record in records if record.type == "case_opened"]
    return min(openings) if openings else None


def closes_in(records: Iterable[Record]) -> list[Close]:
    """The closes among ``records``."""
    return [
        Close(record.case_id, record.at, record.seq)
        for record in records
        if record.type == "status_change" and record.get("to") in CLOSING_STATUSES
    ]


def previous_cases(cases: Iterable[CaseFacts], closes: Iterable[Close]) -> dict[str, PreviousCase | None]:
    """Each case's previous case (``None``: none), from one customer's cases and their closes."""
    history = CustomerHistory()
    numbers: dict[str, int] = {}
    for facts in cases:
        number = numbers[facts.case_id] = history.add_case(facts.case_id)
        if facts.customer_id is not None and facts.opened_at is not None:
            history.observe(
                number,
                Record("", facts.case_id, "case_opened", facts.opened_at, {"customer_id": facts.customer_id}),
            )
        elif facts.customer_id is not None:
            # Only the customer: a case not opened yet is no one's returning case.
            history.observe(
                number, Record("", facts.case_id, "note", _EPOCH, {"customer_id": facts.customer_id})
            )
    for close in closes:
        closing = numbers.get(close.case_id)
        if closing is not None:
            history.observe(
                closing, Record("", close.case_id, "status_change", close.at, {"to": "closed"}, seq=close.seq)
            )
    return {case_id: history.previous_case(number) for case_id, number in numbers.items()}


def with_previous_case(records: list[Record], previous: PreviousCase | None) -> list[Record]:
    """The case's records with ``previous_case`` on its ``case_opened`` (unless it carries one)."""
    if previous is None:
        return records
    case_id, closed_at = previous
    return [
        record.replace_fields(previous_case={"case_id": case_id, "closed_at": closed_at})
        if record.type == "case_opened" and "previous_case" not in record
        else record
        for record in records
    ]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
