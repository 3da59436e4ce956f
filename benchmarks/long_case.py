"""The long case the latency rows measure: 100 records, as a help desk's busiest cases look.

Shared by ``benchmarks/worker.py`` (``evaluate_case`` and ``check`` in-process) and
``benchmarks/live.py`` (the gate in the service and over HTTP), so both measure the same case.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from serviceflow.timeutil import format_datetime

START = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)


def hundred_record_case(case: str) -> list[dict[str, Any]]:
    """A realistic long case: opened, a commitment kept, many contacts and notes; 100 records."""
    agent = {"role": "agent", "id": "billy"}
    records: list[dict[str, Any]] = [
        {
            "id": f"{case}-open",
            "case_id": case,
            "type": "case_opened",
            "at": format_datetime(START),
            "actor": {"role": "customer", "id": "c1"},
            "channel": "phone",
            "customer_id": "acme",
            "subject": "Leaking pipe",
        },
        {
            "id": f"{case}-cap",
            "case_id": case,
            "type": "capacity_check",
            "at": format_datetime(START + timedelta(minutes=5)),
            "actor": agent,
            "resource": "plumber",
            "confirmed": True,
            "window": {
                "start": format_datetime(START + timedelta(hours=2)),
                "end": format_datetime(START + timedelta(hours=8)),
            },
        },
        {
            "id": f"{case}-commit",
            "case_id": case,
            "type": "commitment",
            "at": format_datetime(START + timedelta(minutes=6)),
            "actor": agent,
            "channel": "email",
            "commitment_id": "fix",
            "promise": "Plumber today",
            "due": format_datetime(START + timedelta(hours=8)),
            "resource": "plumber",
        },
    ]
    for number in range(97):
        when = format_datetime(START + timedelta(minutes=10 + 7 * number))
        if number % 3 == 0:
            records.append(
                {
                    "id": f"{case}-k{number}",
                    "case_id": case,
                    "type": "contact",
                    "at": when,
                    "actor": agent,
                    "channel": "email",
                    "direction": "outbound",
                    "summary": f"Update {number}",
                }
            )
        else:
            records.append(
                {
                    "id": f"{case}-n{number}",
                    "case_id": case,
                    "type": "note",
                    "at": when,
                    "actor": agent,
                    "text": f"Working on it ({number})",
                }
            )
    return records


def close_proposal(case: str, number: int, now: datetime) -> dict[str, Any]:
    """A close without the customer's confirmation: the gate says no, with the reason."""
    return {
        "id": f"{case}-close-{number}",
        "case_id": case,
        "type": "status_change",
        "at": format_datetime(now),
        "actor": {"role": "agent", "id": "billy"},
        "to": "closed",
    }
