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

from bisect import bisect_left
from datetime import UTC, datetime, timedelta

from serviceflow.records.model import Record

#: Statuses that close a case for the customer's purposes.
CLOSING_STATUSES = frozenset({"closed", "solved"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class CustomerHistory:
    """Who each case is for, when it opened, and when the customer's cases closed."""

    def __init__(self) -> None:
        self._customer: dict[str, str] = {}
        self._opened: dict[str, int] = {}
        # Closes are filed under their case while records stream in (the case's customer_id may come
        # on a later record), and indexed by customer once, when the first question is asked.
        self._case_closes: dict[str, list[int]] = {}
        self._by_customer: dict[str, list[tuple[int, str]]] | None = None

    def observe(self, record: Record, instant: int) -> None:
        """Note what ``record`` says about its case; ``instant`` is its ``at`` in epoch microseconds."""
        case_id = record.case_id
        customer = record.fields.get("customer_id")
        if isinstance(customer, str) and customer and case_id not in self._customer:
            self._customer[case_id] = customer
        if record.type == "case_opened":
            known = self._opened.get(case_id)
            self._opened[case_id] = instant if known is None else min(known, instant)
        elif record.type == "status_change" and record.fields.get("to") in CLOSING_STATUSES:
            self._case_closes.setdefault(case_id, []).append(instant)
        self._by_customer = None

    def previous_case(self, case_id: str) -> dict[str, object] | None:
        """``{case_id, closed_at}`` of the customer's latest close before ``case_id`` opened, if any."""
        customer = self._customer.get(case_id)
        opened = self._opened.get(case_id)
        if customer is None or opened is None:
            return None
        closes = self._index().get(customer, [])
        position = bisect_left(closes, (opened, ""))
        while position > 0:
            position -= 1
            instant, other = closes[position]
            if other != case_id:
                return {"case_id": other, "closed_at": _EPOCH + timedelta(microseconds=instant)}
        return None

    def _index(self) -> dict[str, list[tuple[int, str]]]:
        if self._by_customer is None:
            self._by_customer = {}
            for case_id, instants in self._case_closes.items():
                customer = self._customer.get(case_id)
                if customer is not None:
                    self._by_customer.setdefault(customer, []).extend((at, case_id) for at in instants)
            for closes in self._by_customer.values():
                closes.sort()
        return self._by_customer
