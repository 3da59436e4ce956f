"""Hypothesis strategies for random but plausible case histories.

Values come from small vocabularies (two commitment ids, two resources, a few minutes' granularity over
three days) so that records relate to each other often: random histories that never share a
commitment_id would exercise nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

BASE = datetime(2024, 5, 6, 8, 0, tzinfo=UTC)
ZONES = [
    UTC,
    timezone(timedelta(hours=2)),
    timezone(timedelta(hours=-5)),
    timezone(timedelta(hours=5, minutes=30)),
]
FLAGS = ["values_in_question", "policy_question", "next_steps_unclear", "customer_dissatisfied"]
STATUSES = ["open", "pending", "on_hold", "solved", "closed", "reopened"]


def _stamp(minutes: int, zone: timezone) -> str:
    return (BASE + timedelta(minutes=minutes)).astimezone(zone).isoformat()


times = st.builds(_stamp, st.integers(0, 72 * 60).map(lambda m: m - m % 15), st.sampled_from(ZONES))
commitment_ids = st.sampled_from(["k1", "k2"])
resources = st.sampled_from(["plumber", "electrician"])
channels = st.sampled_from(["phone", "email", "chat", "sms", "web", "in_person"])
actors = st.builds(
    lambda role, name: {"role": role, "id": name},
    st.sampled_from(["agent", "agent", "technician", "supervisor", "customer"]),
    st.sampled_from(["ann", "bob", "cat", "dan"]),
)
texts = st.sampled_from(
    [
        "Hello? Yep, we will send Jake.",
        "You should have called earlier.",
        "Your ticket breached our SLA.",
        "Root cause: corroded valve seat.",
        "Good morning, the technician comes tomorrow at nine.",
        "goodbye and thank you",
    ]
)


def _record(kind: str, draw: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"type": kind, "at": draw(times), "actor": draw(actors)}
    if draw(st.booleans()):
        record["channel"] = draw(channels)
    if kind in ("contact", "note") or draw(st.integers(0, 4)) == 0:
        record["text"] = draw(texts)
    if kind == "contact":
        record["direction"] = draw(st.sampled_from(["inbound", "outbound"]))
        flags = draw(st.lists(st.sampled_from(FLAGS), unique=True, max_size=2))
        if flags:
            record["flags"] = flags
    elif kind == "capacity_check":
        start = draw(times)
        record.update(resource=draw(resources), confirmed=draw(st.booleans()))
        record["window"] = {"start": start, "end": draw(times)}
        if draw(st.booleans()):
            record["materials"] = [{"item": "pipe", "available": draw(st.booleans()), "eta": draw(times)}]
    elif kind == "commitment":
        record.update(commitment_id=draw(commitment_ids), promise="send a technician", due=draw(times))
        if draw(st.booleans()):
            record["resource"] = draw(resources)
    elif kind == "reschedule":
        record.update(
            commitment_id=draw(commitment_ids), new_due=draw(times), customer_agreed=draw(st.booleans())
        )
    elif kind == "fulfillment":
        record["commitment_id"] = draw(commitment_ids)
    elif kind == "escalation":
        record.update(reason="question of policy", to="supervisor")
    elif kind == "confirmation":
        record["resolved"] = draw(st.booleans())
    elif kind == "status_change":
        record["to"] = draw(st.sampled_from(STATUSES))
    elif kind == "concession":
        record["kind"] = "gesture"
        if draw(st.booleans()):
            record["commitment_id"] = draw(commitment_ids)
    return record


KINDS = [
    "contact",
    "capacity_check",
    "commitment",
    "reschedule",
    "fulfillment",
    "escalation",
    "confirmation",
    "status_change",
    "concession",
    "note",
]


@st.composite
def case_histories(draw: Any, max_records: int = 16) -> list[dict[str, Any]]:
    """One or two interleaved cases of random records, each with a unique id."""
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=max_records))
    records = []
    for index, kind in enumerate(kinds):
        record = _record(kind, draw)
        if kind == "case_opened" and draw(st.booleans()):
            record["calendar"] = "emea"
        record["id"] = f"r{index}"
        record["case_id"] = draw(st.sampled_from(["c1", "c1", "c2"]))
        records.append(record)
    return records


EMEA = {
    "emea": {
        "timezone": "Europe/Berlin",
        "hours": {day: ["08:00-12:00", "13:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
        "holidays": ["2024-05-09"],
    }
}

nows = st.integers(0, 6 * 24 * 60).map(lambda m: BASE + timedelta(minutes=m))
