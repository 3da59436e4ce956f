"""The customer scope: tell a new case about the same customer's earlier case, closed shortly before.

Policies are evaluated one case at a time, which keeps memory flat and lets cases run in any order.
A few practices span cases, though: seed 001 asks to circle back when the same customer returns with
a new case soon after a close. Rather than give every evaluator a cross-case join, the store derives
one fact while the records stream in: for each case that names its customer (``customer_id`` on any
of its records), the latest close (a status change to ``closed`` or ``solved``) of another case of
that customer *before this case opened*. It is set on the case's ``case_opened`` record as
``previous_case: {case_id, closed_at}``, so both evaluators read it as an ordinary field.

Event time holds: the close is before the opening, and the opening is visible only at or after it
happened, so a policy evaluated at ``now`` never learns of a close after ``now``. A record that
already carries ``previous_case`` (an exporter that knows the customer's history) is left as it is.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from datetime import UTC, datetime, timedelta

from serviceflow.records.model import Record

#: Statuses that close a case for the customer's purposes.
CLOSING_STATUSES = frozenset({"closed", "solved"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UNKNOWN = -1
_NEVER = 2**63 - 1


class CustomerHistory:
    """Who each case is for, when it opened, and when the customer's cases closed.

    Cases are known by the dense numbers the case store gives them (:meth:`add_case` in order of
    first appearance). Everything is kept in arrays of machine integers, not per-case Python objects:
    the store holds a million records at a time, and per-case lists would cost tens of megabytes and
    give the garbage collector a hundred thousand more containers to walk.
    """

    def __init__(self) -> None:
        self._customer_numbers: dict[str, int] = {}
        self._customer_of = array("q")  # by case: customer number, or _UNKNOWN
        self._opened_at = array("q")  # by case: earliest case_opened instant, or _NEVER
        self._close_case = array("q")  # one entry per close: the case ...
        self._close_at = array("q")  # ... and when
        self._index: tuple[array[int], array[int], array[int]] | None = None

    def add_case(self) -> None:
        """Make room for the next case number."""
        self._customer_of.append(_UNKNOWN)
        self._opened_at.append(_NEVER)

    def observe(self, case: int, record: Record, instant: int) -> None:
        """Note what ``record`` of case number ``case`` says; ``instant``: its ``at`` in epoch µs."""
        fields = record.fields
        if self._customer_of[case] == _UNKNOWN:
            customer = fields.get("customer_id")
            if isinstance(customer, str) and customer:
                number = self._customer_numbers.setdefault(customer, len(self._customer_numbers))
                self._customer_of[case] = number
        if record.type == "case_opened":
            if instant < self._opened_at[case]:
                self._opened_at[case] = instant
        elif record.type == "status_change" and fields.get("to") in CLOSING_STATUSES:
            self._close_case.append(case)
            self._close_at.append(instant)
            self._index = None

    def previous_case(self, case: int) -> tuple[int, datetime] | None:
        """The number of the customer's other case that closed last before ``case`` opened, and when."""
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
                return cases[position], _EPOCH + timedelta(microseconds=instants[position])
        return None

    def _sorted_closes(self) -> tuple[array[int], array[int], array[int]]:
        """The closes of cases with a known customer, ordered by customer, then instant (built once)."""
        if self._index is None:
            customer_of, close_case, close_at = self._customer_of, self._close_case, self._close_at
            known = [i for i in range(len(close_case)) if customer_of[close_case[i]] != _UNKNOWN]
            known.sort(key=lambda i: (customer_of[close_case[i]], close_at[i]))
            self._index = (
                array("q", (customer_of[close_case[i]] for i in known)),
                array("q", (close_at[i] for i in known)),
                array("q", (close_case[i] for i in known)),
            )
        return self._index
