"""RecordValidator: valid records become Records, invalid ones explain themselves precisely."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker

from serviceflow.errors import Location, RecordError
from serviceflow.records import Record, RecordValidator, load_schemas
from serviceflow.records.schemas import is_rfc3339_datetime
from serviceflow.records.validate import json_pointer

DATA = Path(__file__).parent / "data" / "records"
EXAMPLES: dict[str, dict[str, Any]] = {
    record["type"]: record
    for record in map(json.loads, (DATA / "examples.jsonl").read_text(encoding="utf-8").splitlines())
}
ORIGIN = Location("cases.jsonl", 7)
VALIDATOR = RecordValidator()


def example(type_name: str) -> dict[str, Any]:
    return copy.deepcopy(EXAMPLES[type_name])


def pointers(errors: list[RecordError]) -> list[str | None]:
    return [error.location.pointer for error in errors]


# --- valid records ------------------------------------------------------------------------------------


def test_a_valid_record_becomes_a_record_with_aware_date_times() -> None:
    record = VALIDATOR.to_record(example("commitment"), ORIGIN)
    assert isinstance(record, Record)
    assert (record.id, record.case_id, record.type) == ("r4", "C-100", "commitment")
    assert record.at == datetime(2024, 5, 1, 8, 12, tzinfo=UTC)
    assert record.fields["due"] == datetime(2024, 5, 2, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    assert record.fields["at"] is record.at
    assert record.origin == ORIGIN
    assert record.get("actor.id") == "a7"


def test_date_times_in_nested_objects_and_arrays_are_parsed() -> None:
    record = VALIDATOR.to_record(example("capacity_check"), ORIGIN)
    assert isinstance(record.get("window.start"), datetime)
    assert isinstance(record.get("window.end"), datetime)
    assert record.fields["materials"][0]["eta"] == datetime(2024, 5, 2, 7, tzinfo=UTC)
    assert "eta" not in record.fields["materials"][1]


def test_the_input_dict_is_left_untouched() -> None:
    data = example("capacity_check")
    before = copy.deepcopy(data)
    VALIDATOR.to_record(data, ORIGIN)
    assert data == before


def test_a_valid_record_has_no_errors() -> None:
    assert VALIDATOR.iter_errors(example("note"), ORIGIN) == []


# --- invalid records ----------------------------------------------------------------------------------


def test_the_first_error_in_document_order_is_raised_with_file_line_pointer_and_id() -> None:
    data = example("commitment")
    del data["promise"]  # missing: sorts after every key the record has
    data["due"] = "Tomorrow"
    data["comitment_id"] = data.pop("commitment_id")  # now the last key, but before the missing one
    with pytest.raises(RecordError) as raised:
        VALIDATOR.to_record(data, ORIGIN)
    error = raised.value
    assert error.location == Location("cases.jsonl", 7, "/due")
    assert error.message == "'Tomorrow' is not a 'date-time' (RFC 3339 with offset)"
    assert error.record_id == "r4"
    assert str(error) == "cases.jsonl:7: /due: 'Tomorrow' is not a 'date-time' (RFC 3339 with offset)"


def test_every_error_is_listed_sorted_by_pointer_with_human_messages() -> None:
    data = example("commitment")
    del data["promise"]
    data["due"] = "Tomorrow"
    data["comitment_id"] = data.pop("commitment_id")
    data["actor"]["role"] = "robot"
    errors = VALIDATOR.iter_errors(data, ORIGIN)
    assert [(error.location.pointer, error.message) for error in errors] == [
        ("/actor/role", "'robot' is not one of ['customer', 'agent', 'technician', 'supervisor', 'system']"),
        ("/comitment_id", "additional property 'comitment_id' is not allowed"),
        ("/commitment_id", "'commitment_id' is a required property"),
        ("/due", "'Tomorrow' is not a 'date-time' (RFC 3339 with offset)"),
        ("/promise", "'promise' is a required property"),
    ]
    assert {error.record_id for error in errors} == {"r4"}
    assert {(error.location.file, error.location.line) for error in errors} == {("cases.jsonl", 7)}


def test_array_indices_sort_numerically() -> None:
    data = example("capacity_check")
    data["materials"] = [{"item": f"part-{index}", "available": True} for index in range(12)]
    data["materials"][2]["available"] = "yes"
    data["materials"][10]["available"] = "no"
    assert pointers(VALIDATOR.iter_errors(data, ORIGIN)) == [
        "/materials/2/available",
        "/materials/10/available",
    ]


def test_an_unknown_type_names_the_known_ones_and_the_likely_one() -> None:
    data = example("commitment")
    data["type"] = "comitment"
    with pytest.raises(RecordError) as raised:
        VALIDATOR.to_record(data, ORIGIN)
    assert raised.value.location.pointer == "/type"
    assert raised.value.message.startswith(
        "unknown record type 'comitment'; known: capacity_check, case_opened,"
    )
    assert "did you mean 'commitment'?" in raised.value.message


def test_a_record_without_a_type_still_gets_its_envelope_checked() -> None:
    data = example("note")
    del data["type"]
    data["at"] = "2024-05-01 08:00"
    errors = VALIDATOR.iter_errors(data, ORIGIN)
    assert pointers(errors) == ["/at", "/type"]
    assert errors[1].message.startswith("'type' is a required property; known record types: capacity_check")


@pytest.mark.parametrize("type_value", [5, None, ["note"], ""])
def test_a_type_that_is_not_a_known_name_is_reported_at_type(type_value: object) -> None:
    data = {**example("note"), "type": type_value}
    errors = VALIDATOR.iter_errors(data, ORIGIN)
    assert pointers(errors) == ["/type"]


@pytest.mark.parametrize(("data", "kind"), [([1, 2], "an array"), ("note", "a string"), (None, "null")])
def test_a_record_that_is_not_an_object_is_rejected_as_a_whole(data: object, kind: str) -> None:
    with pytest.raises(RecordError) as raised:
        VALIDATOR.to_record(data, ORIGIN)
    assert raised.value.location.pointer == ""
    assert raised.value.message == f"a record must be a JSON object, not {kind}"
    assert raised.value.record_id is None


def test_an_unreadable_id_leaves_the_error_without_record_id() -> None:
    data = example("note")
    data["id"] = 42
    with pytest.raises(RecordError) as raised:
        VALIDATOR.to_record(data, ORIGIN)
    assert raised.value.record_id is None
    assert raised.value.location.pointer == "/id"


def test_json_pointers_escape_slash_and_tilde() -> None:
    assert json_pointer(["meta", "a/b", "c~d", 0]) == "/meta/a~1b/c~0d/0"
    assert json_pointer([]) == ""


def test_a_misspelt_key_with_a_slash_gets_an_escaped_pointer() -> None:
    data = {**example("note"), "a/b": 1}
    assert pointers(VALIDATOR.iter_errors(data, ORIGIN)) == ["/a~1b"]


# --- date-time: both validators agree -----------------------------------------------------------------

_FORMATS = FormatChecker()
_FORMATS.checks("date-time")(is_rfc3339_datetime)
_SCHEMAS = load_schemas()
_RS = jsonschema_rs.validator_for(
    _SCHEMAS["note"], validate_formats=True, registry=jsonschema_rs.Registry(list(_SCHEMAS.resources.items()))
)
_PY = Draft202012Validator(_SCHEMAS["note"], registry=_SCHEMAS.registry, format_checker=_FORMATS)

ACCEPTED = [
    "2024-05-01T09:30:00Z",
    "2024-05-01T09:30:00+02:00",
    "2024-05-01T09:30:00-00:00",
    "2024-05-01T09:30:00.123456789+05:45",
    "2024-05-01t09:30:00z",
    "2024-02-29T23:59:59-23:59",
]
REJECTED = [
    "2024-05-01T09:30:00",  # no offset
    "2024-05-01T09:30",  # no seconds, no offset
    "2024-05-01T09:30Z",  # no seconds
    "2024-05-01 09:30:00Z",  # space instead of T
    "2024-05-01T09:30:00+0200",  # offset without colon
    "2024-05-01T09:30:00+24:00",
    "2024-05-01T09:30:00+02:60",
    "2024-05-01T24:00:00Z",
    "2023-02-29T09:30:00Z",
    "2024-05-01T09:30:00Z\n",
    "2024-05-01",
    "Tomorrow",
]
# jsonschema_rs alone accepts these; the fast path's strict re-check rejects them like jsonschema does.
RS_ONLY = ["2024-12-31T23:59:60Z", "0000-01-01T00:00:00Z"]


@pytest.mark.parametrize("text", ACCEPTED)
def test_an_rfc3339_date_time_with_offset_passes_both_validators(text: str) -> None:
    data = {**example("note"), "at": text}
    assert _RS.is_valid(data)
    assert list(_PY.iter_errors(data)) == []
    assert isinstance(VALIDATOR.to_record(data, ORIGIN).at.utcoffset(), timedelta)


@pytest.mark.parametrize("text", REJECTED)
def test_a_date_time_without_offset_or_otherwise_malformed_fails_both_validators(text: str) -> None:
    data = {**example("note"), "at": text}
    assert not _RS.is_valid(data)
    assert [list(error.absolute_path) for error in _PY.iter_errors(data)] == [["at"]]
    assert pointers(VALIDATOR.iter_errors(data, ORIGIN)) == ["/at"]


@pytest.mark.parametrize("text", RS_ONLY)
def test_a_leap_second_or_year_zero_is_rejected_although_jsonschema_rs_accepts_it(text: str) -> None:
    data = {**example("note"), "at": text}
    assert _RS.is_valid(data)
    assert [list(error.absolute_path) for error in _PY.iter_errors(data)] == [["at"]]
    with pytest.raises(RecordError) as raised:
        VALIDATOR.to_record(data, ORIGIN)
    assert raised.value.location.pointer == "/at"


@settings(max_examples=300, deadline=None)
@given(
    moment=st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
    offset_minutes=st.integers(-(23 * 60 + 59), 23 * 60 + 59),
    fraction_digits=st.integers(0, 9),
    zulu=st.booleans(),
)
def test_jsonschema_rs_accepts_every_date_time_that_jsonschema_accepts(
    moment: datetime, offset_minutes: int, fraction_digits: int, zulu: bool
) -> None:
    # The fast path relies on this: a date-time jsonschema_rs rejected would be one jsonschema accepts,
    # and the record would be refused with the fast validator's message instead of jsonschema's.
    fraction = f".{moment.microsecond:06d}000"[: fraction_digits + 1] if fraction_digits else ""
    sign = "-" if offset_minutes < 0 else "+"
    offset = "Z" if zulu else f"{sign}{abs(offset_minutes) // 60:02d}:{abs(offset_minutes) % 60:02d}"
    text = f"{moment:%Y-%m-%dT%H:%M:%S}"
    text = f"{moment.year:04d}{text[text.index('-') :]}{fraction}{offset}"
    assert is_rfc3339_datetime(text)
    assert _RS.is_valid({**example("note"), "at": text})
