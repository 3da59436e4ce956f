"""The customer scope: tell a new case about the same customer's earlier case, closed shortly before.

Policies are evaluated one case at a time, which keeps memory flat and lets cases run in any order.
A few practices span cases, though: seed 001 asks to circle back when the same customer returns with
a new case soon after a close. Rather than give every evaluator a cross-case join, the case buffer
derives one fact while the records stream in: for each case that names its customer (``customer_id``
on any of its records), the latest close (a status change to ``closed`` or ``solved``) of another case
of that customer *before this case opened*. It is set on the case's ``case_opened`` record as
``previous_case: {case_id, closed_at}``, so both evaluators read it as an ordinary field.

Event time holds: the close is before the opening, and the opening is visible only at or after it
happened, so a policy evaluated at ``now`` never learns of a close after ``now``. A record that
already carries ``previous_case`` (an exporter that knows the customer's history) is left as it is.

When the cases are split between processes (``lint --jobs``, Dask), each partition observes its own
cases and hands its :class:`CustomerFacts` to a coordinator, which merges them
(:meth:`CustomerHistory.from_facts`) and answers for every case: the same answer one process gives.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from serviceflow.records.model import Record

__all__ = ["CLOSING_STATUSES", "CustomerFacts", "CustomerHistory", "PreviousCase"]

#: Statuses that close a case for the customer's purposes.
CLOSING_STATUSES = frozenset({"closed", "solved"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_UNKNOWN = -1
_NEVER = 2**63 - 1

#: ``(case_id of the earlier case, when it closed)``
PreviousCase = tuple[str, datetime]


def instant(moment: datetime) -> int:
    """Microseconds since the epoch: exact and cheap to keep in an array, unlike a datetime."""
    return (moment - _EPOCH) // _MICROSECOND


@dataclass
class CustomerFacts:
    """What one partition saw of its cases' customers, in arrays a process can send cheaply."""

    case_ids: list[str] = field(default_factory=list)
    customers: list[str | None] = field(default_factory=list)
    """By case: the customer the case names, if any."""
    opened_at: array[int] = field(default_factory=lambda: array("q"))
    """By case: the earliest ``case_opened`` instant, or the largest integer."""
    close_case: array[int] = field(default_factory=lambda: array("q"))
    """One entry per close: the case's index in ``case_ids`` ..."""
    close_at: array[int] = field(default_factory=lambda: array("q"))
    """... when ..."""
    close_seq: array[int] = field(default_factory=lambda: array("q"))
    """... and the close record's ``seq``, which breaks ties between closes at the same instant the
    same way however the cases were partitioned."""


class CustomerHistory:
    """Who each case is for, when it opened, and when the customer's cases closed.

    Cases are known by the dense numbers :meth:`add_case` gives them in order of first appearance.
    Everything is kept in arrays of machine integers, not per-case Python objects: a batch holds a
    million records at a time, and per-case lists would cost tens of megabytes and give the garbage
    collector a hundred thousand more containers to walk.
    """

    def __init__(self) -> None:
        self._case_ids: list[str] = []
        self._customer_numbers: dict[str, int] = {}
        self._customer_names: list[str] = []
        self._customer_of = array("q")  # by case: customer number, or _UNKNOWN
        self._opened_at = array("q")  # by case: earliest case_opened instant, or _NEVER
        self._close_case = array("q")  # one entry per close: the case ...
        self._close_at = array("q")  # ... when ...
        self._close_seq = array("q")  # ... and its seq (the tie-break)
        self._index: tuple[array[int], array[int], array[int]] | None = None

    def add_case(self, case_id: str) -> int:
        """Make room for a new case; its number."""
        self._case_ids.append(case_id)
        self._customer_of.append(_UNKNOWN)
        self._opened_at.append(_NEVER)
        return len(self._case_ids) - 1

    def observe(self, case: int, record: Record) -> None:
        """Note what ``record`` of case number ``case`` says about its customer, opening or close."""
        if self._customer_of[case] == _UNKNOWN:
            customer = record.get("customer_id")
            if isinstance(customer, str) and customer:
                self._customer_of[case] = self._customer_number(customer)
        if record.type == "case_opened":
            opened = instant(record.at)
            if opened < self._opened_at[case]:
                self._opened_at[case] = opened
        elif record.type == "status_change" and record.get("to") in CLOSING_STATUSES:
            self._close_case.append(case)
            self._close_at.append(instant(record.at))
            self._close_seq.append(record.seq)
            self._index = None

    def observe_case(self, case: int, records: Iterable[Record]) -> None:
        """:meth:`observe` every record of case number ``case``, in ingestion order, quickly."""
        customer_of = self._customer_of
        for record in records:
            kind = record.type
            if customer_of[case] == _UNKNOWN:
                customer = record.values[record.shape.get("customer_id", -1)]
                if type(customer) is str and customer:
                    customer_of[case] = self._customer_number(customer)
            if kind == "case_opened" or kind == "status_change":
                self.observe(case, record)

    def previous_case(self, case: int) -> PreviousCase | None:
        """The customer's other case that closed last before ``case`` opened, and when."""
        customer = self._customer_of[case]
        opened = self._opened_at[case]
        if customer == _UNKNOWN or opened == _NEVER:
            return None
        customers, instants, cases = self._sorted_closes()
        low, high = bisect_left(customers, customer), bisect_right(customers, customer)
        position = bisect_left(instants, opened, low, high)
        while position > low:
            position -= 1
            if cases[position] != case:
                return self._case_ids[cases[position]], _EPOCH + timedelta(microseconds=instants[position])
        return None

    def previous_cases(self, case_ids: Iterable[str] | None = None) -> Iterator[tuple[str, PreviousCase]]:
        """``(case_id, previous case)`` for each case (or each of ``case_ids``) that has one."""
        if case_ids is None:
            numbers: Iterable[int] = range(len(self._case_ids))
        else:
            number_of = {case_id: number for number, case_id in enumerate(self._case_ids)}
            numbers = (number_of[case_id] for case_id in case_ids if case_id in number_of)
        for number in numbers:
            previous = self.previous_case(number)
            if previous is not None:
                yield self._case_ids[number], previous

    def facts(self) -> CustomerFacts:
        """This history as facts a coordinator can merge with other partitions'."""
        return CustomerFacts(
            case_ids=list(self._case_ids),
            customers=[
                self._customer_names[number] if number != _UNKNOWN else None for number in self._customer_of
            ],
            opened_at=array("q", self._opened_at),
            close_case=array("q", self._close_case),
            close_at=array("q", self._close_at),
            close_seq=array("q", self._close_seq),
        )

    @classmethod
    def from_facts(cls, partitions: Iterable[CustomerFacts]) -> CustomerHistory:
        """One history from every partition's facts (a case is in exactly one partition)."""
        history = cls()
        for facts in partitions:
            offset = len(history._case_ids)
            for case_id, customer, opened in zip(
                facts.case_ids, facts.customers, facts.opened_at, strict=True
            ):
                number = history.add_case(case_id)
                if customer is not None:
                    history._customer_of[number] = history._customer_number(customer)
                history._opened_at[number] = opened
            history._close_case.extend(case + offset for case in facts.close_case)
            history._close_at.extend(facts.close_at)
            history._close_seq.extend(facts.close_seq)
        return history

    def _customer_number(self, customer: str) -> int:
        number = self._customer_numbers.get(customer)
        if number is None:
            number = self._customer_numbers[customer] = len(self._customer_names)
            self._customer_names.append(customer)
        return number

    def _sorted_closes(self) -> tuple[array[int], array[int], array[int]]:
        """The closes of cases with a known customer, ordered by customer, instant, seq (built once)."""
        if self._index is None:
            customer_of, close_case, close_at = self._customer_of, self._close_case, self._close_at
            close_seq = self._close_seq
            known = [i for i in range(len(close_case)) if customer_of[close_case[i]] != _UNKNOWN]
            known.sort(key=lambda i: (customer_of[close_case[i]], close_at[i], close_seq[i]))
            self._index = (
                array("q", (customer_of[close_case[i]] for i in known)),
                array("q", (close_at[i] for i in known)),
                array("q", (close_case[i] for i in known)),
            )
        return self._index
