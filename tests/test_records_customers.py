"""The customer scope: a case learns of the same customer's latest close before it opened."""

from __future__ import annotations

from datetime import UTC, datetime

from serviceflow.errors import Location
from serviceflow.records import CaseBuffer, RecordValidator
from support import with_defaults


def store_of(records: list[dict]) -> dict[str, list]:
    validator = RecordValidator()
    store = CaseBuffer()
    for seq, item in enumerate(with_defaults(records)):
        assert store.add(validator.to_record(item, Location("test.jsonl", 1), seq)) is None
    return dict(store.cases())


def opened(records: list) -> dict:
    (record,) = [r for r in records if r.type == "case_opened"]
    return record.fields


def test_the_latest_close_of_another_case_before_the_opening_is_named() -> None:
    cases = store_of(
        [
            {
                "id": "o2",
                "case_id": "c2",
                "type": "case_opened",
                "at": "2024-05-05T09:00:00Z",
                "customer_id": "k",
            },
            {
                "id": "o1",
                "case_id": "c1",
                "type": "case_opened",
                "at": "2024-05-01T09:00:00Z",
                "customer_id": "k",
            },
            {
                "id": "x1",
                "case_id": "c1",
                "type": "status_change",
                "at": "2024-05-02T09:00:00Z",
                "to": "closed",
            },
            {
                "id": "s0",
                "case_id": "c0",
                "type": "status_change",
                "at": "2024-05-04T07:00:00+02:00",
                "to": "solved",
            },
            {
                "id": "m0",
                "case_id": "c0",
                "type": "note",
                "at": "2024-05-01T09:00:00Z",
                "text": "x",
                "customer_id": "k",
            },
            {
                "id": "x9",
                "case_id": "c9",
                "type": "status_change",
                "at": "2024-05-05T08:00:00Z",
                "to": "closed",
            },
        ]
    )
    assert opened(cases["c2"])["previous_case"] == {
        "case_id": "c0",
        "closed_at": datetime(2024, 5, 4, 5, 0, tzinfo=UTC),
    }
    assert "previous_case" not in opened(cases["c1"])


def test_a_case_never_counts_its_own_close_and_a_later_close_does_not_count() -> None:
    cases = store_of(
        [
            {
                "id": "x2",
                "case_id": "c2",
                "type": "status_change",
                "at": "2024-05-01T09:00:00Z",
                "to": "closed",
            },
            {
                "id": "o2",
                "case_id": "c2",
                "type": "case_opened",
                "at": "2024-05-05T09:00:00Z",
                "customer_id": "k",
            },
            {
                "id": "o1",
                "case_id": "c1",
                "type": "case_opened",
                "at": "2024-05-01T09:00:00Z",
                "customer_id": "k",
            },
            {
                "id": "x1",
                "case_id": "c1",
                "type": "status_change",
                "at": "2024-05-05T09:00:00Z",
                "to": "closed",
            },
        ]
    )
    assert "previous_case" not in opened(cases["c2"])
