"""CaseBuffer: records of interleaved cases come out case by case, in case order, compactly kept."""

from __future__ import annotations

import copy
import gc
import json
import tracemalloc
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from serviceflow.errors import Location
from serviceflow.records import CaseBuffer, Record, RecordValidator, load_schemas

DATA = Path(__file__).parent / "data" / "records"
EXAMPLES: dict[str, dict[str, Any]] = {
    record["type"]: record
    for record in map(json.loads, (DATA / "examples.jsonl").read_text(encoding="utf-8").splitlines())
}
SCHEMAS = load_schemas()
VALIDATOR = RecordValidator(SCHEMAS)


_SEQ = iter(range(10**9))


def note(record_id: str, case_id: str, at: str, line: int = 1, file: str = "in.jsonl") -> Record:
    """A valid note, numbered in ingestion order as admission would (``seq`` grows call by call)."""
    data = {**copy.deepcopy(EXAMPLES["note"]), "id": record_id, "case_id": case_id, "at": at}
    return VALIDATOR.to_record(data, Location(file, line), next(_SEQ))


def grouped(store: CaseBuffer) -> list[tuple[str, list[str]]]:
    return [(case_id, [record.id for record in records]) for case_id, records in store.cases()]


def test_interleaved_cases_come_out_one_by_one_in_order_of_first_appearance() -> None:
    store = CaseBuffer()
    for index, (record_id, case_id, at) in enumerate(
        [
            ("b1", "B", "2024-05-01T10:00:00Z"),
            ("a1", "A", "2024-05-01T09:00:00Z"),
            ("b2", "B", "2024-05-01T08:00:00Z"),
            ("c1", "C", "2024-05-01T07:00:00Z"),
            ("a2", "A", "2024-05-01T08:30:00Z"),
        ],
        start=1,
    ):
        assert store.add(note(record_id, case_id, at, line=index)) is None
    assert grouped(store) == [("B", ["b2", "b1"]), ("A", ["a2", "a1"]), ("C", ["c1"])]
    assert len(store) == 5
    assert store.case_count == 3


def test_seq_is_kept_as_admitted_and_breaks_ties_only() -> None:
    store = CaseBuffer()
    made = [
        note(record_id, "A", at)
        for record_id, at in [
            ("x", "2024-05-01T10:00:00Z"),
            ("y", "2024-05-01T09:00:00Z"),
            ("z", "2024-05-02T00:00:00Z"),
        ]
    ]
    for record in made:
        store.add(record)
    [(_, records)] = list(store.cases())
    assert [record.id for record in records] == ["y", "x", "z"]
    assert [record.seq for record in records] == [made[1].seq, made[0].seq, made[2].seq]


def test_the_same_instant_is_ordered_by_seq_whatever_the_order_of_adding() -> None:
    late_in_input = note("second", "A", "2024-05-01T10:00:00Z")
    early_in_input = Record.from_values(
        late_in_input.shape,
        late_in_input.values,
        late_in_input.origin,
        late_in_input.seq - 1000,
        ("first", "A", "note", late_in_input.at),
    )
    store = CaseBuffer()
    store.add(late_in_input)
    store.add(early_in_input)
    assert grouped(store) == [("A", ["first", "second"])]


def test_records_at_the_same_instant_keep_their_input_order() -> None:
    store = CaseBuffer()
    for record_id in ["first", "second", "third"]:
        store.add(note(record_id, "A", "2024-05-01T10:00:00Z"))
    store.add(note("earlier", "A", "2024-05-01T09:59:59.999999Z"))
    store.add(note("same-instant-other-zone", "A", "2024-05-01T12:00:00+02:00"))
    assert grouped(store) == [("A", ["earlier", "first", "second", "third", "same-instant-other-zone"])]


def test_offsets_are_ordered_on_the_real_timeline() -> None:
    store = CaseBuffer()
    store.add(note("utc", "A", "2024-05-01T09:30:00Z"))  # 09:30 UTC
    store.add(note("berlin", "A", "2024-05-01T10:00:00+02:00"))  # 08:00 UTC
    store.add(note("new-york", "A", "2024-05-01T05:00:00-04:00"))  # 09:00 UTC
    assert grouped(store) == [("A", ["berlin", "new-york", "utc"])]


def test_a_duplicate_id_is_refused_with_where_it_was_first_seen() -> None:
    store = CaseBuffer()
    assert store.add(note("r1", "A", "2024-05-01T09:00:00Z", line=3, file="a.jsonl")) is None
    error = store.add(note("r1", "B", "2024-05-01T10:00:00Z", line=8, file="b.jsonl"))
    assert error is not None
    assert error.message == "duplicate record id 'r1' (first at a.jsonl:3)"
    assert error.location == Location("b.jsonl", 8, "/id")
    assert error.record_id == "r1"
    assert len(store) == 1
    assert grouped(store) == [("A", ["r1"])]


def test_records_come_back_as_they_went_in() -> None:
    store = CaseBuffer()
    originals = [
        VALIDATOR.to_record(copy.deepcopy(data), Location("examples.jsonl", line))
        for line, data in enumerate(EXAMPLES.values(), start=1)
    ]
    for record in originals:
        store.add(record)
    [(case_id, records)] = list(store.cases())
    assert case_id == "C-100"
    by_id = {record.id: record for record in originals}
    for record in records:
        original = by_id[record.id]
        assert record.fields == original.fields
        assert (record.case_id, record.type, record.at, record.origin) == (
            original.case_id,
            original.type,
            original.at,
            original.origin,
        )
        assert record.at.utcoffset() == original.at.utcoffset()
    capacity = next(record for record in records if record.type == "capacity_check")
    assert capacity.fields["materials"][0]["eta"] == datetime(2024, 5, 2, 7, tzinfo=UTC)
    assert capacity.get("window.start") == datetime(2024, 5, 2, 8, tzinfo=timezone(timedelta(hours=2)))


def test_a_record_of_a_type_the_schemas_do_not_know_keeps_its_date_times() -> None:
    store = CaseBuffer()
    at = datetime(2024, 5, 1, 9, tzinfo=UTC)
    visit_at = datetime(2024, 5, 3, 9, tzinfo=timezone(timedelta(hours=-5)))
    fields = {"id": "p1", "case_id": "A", "type": "site_visit", "at": at, "slots": [{"from": visit_at}]}
    store.add(Record(id="p1", case_id="A", type="site_visit", at=at, fields=fields))
    [(_, [record])] = list(store.cases())
    assert record.fields == fields
    assert record.origin is None


def test_a_hand_built_record_without_envelope_fields_round_trips() -> None:
    store = CaseBuffer()
    at = datetime(2024, 5, 1, 9, tzinfo=UTC)
    store.add(Record(id="h1", case_id="A", type="note", at=at, fields={"text": "hi"}))
    [(_, [record])] = list(store.cases())
    assert (record.id, record.case_id, record.type, record.at, record.fields) == (
        "h1",
        "A",
        "note",
        at,
        {"text": "hi"},
    )


def test_each_kept_record_costs_a_few_hundred_bytes() -> None:
    # A record as a dict with its datetimes costs over a kilobyte; a million must fit well under 1 GB.
    template = EXAMPLES["commitment"]
    count = 10_000
    lines = [
        json.dumps({**template, "id": f"rec-{index:07d}", "case_id": f"case-{index // 8:06d}"}).encode()
        for index in range(count)
    ]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        store = CaseBuffer()
        for index, line in enumerate(lines):
            store.add(VALIDATOR.to_record(json.loads(line), Location("big.jsonl", index + 1), index))
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    per_record = kept / count
    payload = len(json.dumps(template, separators=(",", ":")))
    assert len(store) == count
    assert per_record < 600, f"{per_record:.0f} bytes per record (its JSON: {payload} bytes)"
