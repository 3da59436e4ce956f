"""The bundled record schemas: each type accepts its example and rejects each kind of mistake.

Every rejection is checked on both validators: jsonschema_rs (the fast verdict) must say invalid, and
jsonschema (the explanation) must report exactly the expected JSON pointer.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from jsonschema import Draft202012Validator, FormatChecker

from serviceflow.errors import Location, ServiceflowError
from serviceflow.records import RecordValidator, SchemaSet, bundled_schema_dir, load_schemas
from serviceflow.records.schemas import ENVELOPE_ID, datetime_paths, declared_properties, is_rfc3339_datetime

DATA = Path(__file__).parent / "data" / "records"
EXAMPLES: dict[str, dict[str, Any]] = {
    record["type"]: record
    for record in map(json.loads, (DATA / "examples.jsonl").read_text(encoding="utf-8").splitlines())
}
ORIGIN = Location("examples.jsonl", 1)

SCHEMAS = load_schemas()
VALIDATOR = RecordValidator(SCHEMAS)
_RS_REGISTRY = jsonschema_rs.Registry(list(SCHEMAS.resources.items()))
_FORMATS = FormatChecker()
_FORMATS.checks("date-time")(is_rfc3339_datetime)


@functools.cache
def _rs_validator(type_name: str) -> Any:
    return jsonschema_rs.validator_for(SCHEMAS[type_name], validate_formats=True, registry=_RS_REGISTRY)


def rs_is_valid(data: dict[str, Any]) -> bool:
    """jsonschema_rs on its own, configured as RecordValidator configures it."""
    return _rs_validator(data["type"]).is_valid(data)


def jsonschema_paths(data: dict[str, Any]) -> list[list[str | int]]:
    """jsonschema on its own: the instance path of every raw error."""
    validator = Draft202012Validator(
        SCHEMAS[data["type"]], registry=SCHEMAS.registry, format_checker=_FORMATS
    )
    return [list(error.absolute_path) for error in validator.iter_errors(data)]


def example(type_name: str) -> dict[str, Any]:
    return copy.deepcopy(EXAMPLES[type_name])


def assert_rejected_at(data: dict[str, Any], pointer: str, message: str | None = None) -> None:
    assert not rs_is_valid(data), "jsonschema_rs accepted it"
    assert jsonschema_paths(data), "jsonschema found no error"
    errors = VALIDATOR.iter_errors(data, ORIGIN)
    assert [error.location.pointer for error in errors] == [pointer], [str(error) for error in errors]
    if message is not None:
        assert errors[0].message == message


# --- the examples -------------------------------------------------------------------------------------


def test_there_is_an_example_of_every_bundled_type() -> None:
    assert sorted(EXAMPLES) == sorted(SCHEMAS)


@pytest.mark.parametrize("type_name", sorted(EXAMPLES))
def test_the_example_is_valid_on_both_validators(type_name: str) -> None:
    data = example(type_name)
    assert rs_is_valid(data)
    assert jsonschema_paths(data) == []
    assert VALIDATOR.iter_errors(data, ORIGIN) == []


# --- each kind of mistake, on every type --------------------------------------------------------------

OWN_REQUIRED = [
    (type_name, field) for type_name in sorted(SCHEMAS) for field in SCHEMAS[type_name].get("required", [])
]
ENVELOPE_REQUIRED = ["id", "case_id", "type", "at", "actor"]


@pytest.mark.parametrize(("type_name", "field"), OWN_REQUIRED)
def test_a_missing_required_field_is_reported_at_its_pointer(type_name: str, field: str) -> None:
    data = example(type_name)
    del data[field]
    assert_rejected_at(data, f"/{field}", f"{field!r} is a required property")


@pytest.mark.parametrize("field", [field for field in ENVELOPE_REQUIRED if field != "type"])
def test_a_missing_envelope_field_is_reported_at_its_pointer(field: str) -> None:
    data = example("commitment")
    del data[field]
    assert_rejected_at(data, f"/{field}", f"{field!r} is a required property")


MISSPELT = {
    "case_opened": ("subject", "subjct"),
    "contact": ("summary", "sumary"),
    "capacity_check": ("materials", "material"),
    "commitment": ("capacity_ref", "capacity_reff"),
    "reschedule": ("customer_agreed", "customer_agred"),
    "fulfillment": ("commitment_id", "comitment_id"),
    "escalation": ("ref", "reff"),
    "resolution": ("summary", "summry"),
    "confirmation": ("resolved", "resloved"),
    "status_change": ("from", "form"),
    "concession": ("amount", "ammount"),
    "note": ("meta", "metta"),
}


@pytest.mark.parametrize("type_name", sorted(MISSPELT))
def test_a_misspelt_top_level_field_is_reported_at_its_pointer(type_name: str) -> None:
    right, wrong = MISSPELT[type_name]
    data = example(type_name)
    value = data.pop(right, "x")
    data[wrong] = value
    if right in SCHEMAS[type_name].get("required", []):
        data[right] = value  # keep the record otherwise valid: only the typo remains
    assert_rejected_at(data, f"/{wrong}", f"additional property {wrong!r} is not allowed")


@pytest.mark.parametrize("type_name", sorted(SCHEMAS))
def test_a_misspelt_actor_field_is_reported_at_its_pointer(type_name: str) -> None:
    data = example(type_name)
    data["actor"]["nmae"] = "Ann"
    assert_rejected_at(data, "/actor/nmae", "additional property 'nmae' is not allowed")


@pytest.mark.parametrize(
    ("mutate", "pointer"),
    [
        (lambda data: data["window"].update(strat=data["window"].pop("start")), "/window/strat"),
        (lambda data: data["materials"][1].update(eat="2024-05-02T07:00:00Z"), "/materials/1/eat"),
        (lambda data: data.update(source={"system": "helpdesk", "ref": "T1", "url": "x"}), "/source/url"),
    ],
    ids=["window.strat", "materials[1].eat", "source.url"],
)
def test_a_misspelt_nested_field_is_reported_at_its_pointer(mutate: Any, pointer: str) -> None:
    data = example("capacity_check")
    mutate(data)
    errors_expected = [pointer]
    if pointer == "/window/strat":
        errors_expected = ["/window/start", "/window/strat"]  # the right name is also missing
    assert not rs_is_valid(data)
    assert jsonschema_paths(data)
    assert [error.location.pointer for error in VALIDATOR.iter_errors(data, ORIGIN)] == errors_expected


def test_meta_is_the_one_free_object() -> None:
    data = example("note")
    data["meta"] = {"anything": {"nested": [1, {"deeper": True}]}, "any_key": None}
    assert rs_is_valid(data)
    assert VALIDATOR.iter_errors(data, ORIGIN) == []


WRONG_ENUMS = [
    ("commitment", ["actor", "role"], "bot"),
    ("note", ["channel"], "fax"),
    ("case_opened", ["priority"], "asap"),
    ("contact", ["direction"], "sideways"),
    ("contact", ["flags", 1], "customer_angry"),
    ("status_change", ["to"], "done"),
    ("status_change", ["from"], "new"),
    ("concession", ["kind"], "voucher"),
]


@pytest.mark.parametrize(("type_name", "path", "value"), WRONG_ENUMS)
def test_a_value_outside_its_enum_is_reported_at_its_pointer(
    type_name: str, path: list[str | int], value: str
) -> None:
    data = example(type_name)
    parent: Any = data
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    pointer = "/" + "/".join(map(str, path))
    assert_rejected_at(data, pointer)
    assert repr(value) in VALIDATOR.iter_errors(data, ORIGIN)[0].message


NAIVE = "2024-05-02T12:00:00"
DATE_TIME_FIELDS = [
    (type_name, path) for type_name in sorted(SCHEMAS) for path in SCHEMAS.layout(type_name).paths
]


@pytest.mark.parametrize(("type_name", "path"), DATE_TIME_FIELDS)
def test_a_date_time_without_offset_is_reported_at_its_pointer(type_name: str, path: tuple[str, ...]) -> None:
    data = example(type_name)
    parent: Any = data
    pointer = ""
    for part in path[:-1]:
        if part == "[]":
            parent, pointer = parent[0], f"{pointer}/0"
        else:
            parent, pointer = parent[part], f"{pointer}/{part}"
    parent[path[-1]] = NAIVE
    pointer += f"/{path[-1]}"
    assert_rejected_at(data, pointer, f"{NAIVE!r} is not a 'date-time' (RFC 3339 with offset)")


@pytest.mark.parametrize(
    ("field", "value", "pointer"),
    [("amount", -1, "/amount"), ("currency", "eur", "/currency"), ("currency", "EURO", "/currency")],
)
def test_a_concession_needs_a_non_negative_amount_and_an_iso_currency(
    field: str, value: object, pointer: str
) -> None:
    data = example("concession")
    data[field] = value
    assert_rejected_at(data, pointer)


def test_repeated_contact_flags_are_rejected() -> None:
    data = example("contact")
    data["flags"] = ["policy_question", "policy_question"]
    assert_rejected_at(data, "/flags")


@pytest.mark.parametrize("field", ["id", "case_id"])
def test_identifiers_must_not_be_empty(field: str) -> None:
    data = example("note")
    data[field] = ""
    assert_rejected_at(data, f"/{field}")


# --- the schema files themselves ----------------------------------------------------------------------


def _schema_files() -> list[Path]:
    return sorted(bundled_schema_dir().glob("*.schema.json"))


def _properties_without_description(node: Any, where: str = "") -> list[str]:
    missing: list[str] = []
    if isinstance(node, dict):
        for name, subschema in (node.get("properties") or {}).items():
            if "description" not in subschema:
                missing.append(f"{where}/properties/{name}")
        for key, value in node.items():
            missing += _properties_without_description(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            missing += _properties_without_description(value, f"{where}/{index}")
    return missing


@pytest.mark.parametrize("path", _schema_files(), ids=lambda path: path.name)
def test_each_schema_file_is_a_documented_2020_12_schema(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"https://serviceflow.dev/schemas/{path.name}"
    assert schema["title"]
    assert schema["description"]
    assert _properties_without_description(schema) == []


@pytest.mark.parametrize("type_name", sorted(SCHEMAS))
def test_each_type_schema_builds_on_the_envelope_and_allows_nothing_else(type_name: str) -> None:
    schema = SCHEMAS[type_name]
    assert schema["$ref"] == "envelope.schema.json"
    assert schema["properties"]["type"]["const"] == type_name
    assert schema["unevaluatedProperties"] is False


def test_the_schemas_are_found_in_the_source_checkout() -> None:
    assert (bundled_schema_dir() / "envelope.schema.json").is_file()


# --- derived facts and plugin types -------------------------------------------------------------------


def test_date_time_paths_follow_the_envelope_ref_and_array_items() -> None:
    assert datetime_paths(SCHEMAS["capacity_check"], SCHEMAS.registry) == (
        ("at",),
        ("window", "start"),
        ("window", "end"),
        ("materials", "[]", "eta"),
    )
    assert datetime_paths(SCHEMAS["reschedule"]) == (("at",), ("new_due",))


def test_declared_properties_cover_nested_objects() -> None:
    declared = declared_properties(SCHEMAS["capacity_check"], SCHEMAS.registry)
    assert declared[("window",)] == {"start", "end"}
    assert declared[("materials", "[]")] == {"item", "available", "eta"}
    assert {"id", "case_id", "actor", "meta", "resource"} <= declared[()]


SITE_VISIT = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://example.com/schemas/site_visit.schema.json",
    "title": "Site visit",
    "$ref": ENVELOPE_ID,
    "properties": {
        "type": {"const": "site_visit"},
        "slots": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"from": {"$ref": f"{ENVELOPE_ID}#/$defs/dateTime"}},
                "unevaluatedProperties": False,
            },
        },
    },
    "unevaluatedProperties": False,
}


def test_a_plugin_type_gets_its_date_times_parsed() -> None:
    schemas = load_schemas(extra={"site_visit": SITE_VISIT})
    assert schemas.layout("site_visit").paths == (("at",), ("slots", "[]", "from"))
    record = RecordValidator(schemas).to_record(
        {
            **example("note"),
            "type": "site_visit",
            "slots": [{"from": "2024-05-02T08:00:00+02:00"}],
        },
        ORIGIN,
    )
    assert record.fields["slots"][0]["from"].utcoffset().total_seconds() == 7200


def test_a_plugin_type_is_validated_like_a_bundled_one() -> None:
    validator = RecordValidator(load_schemas(extra={"site_visit": SITE_VISIT}))
    data = {**example("note"), "type": "site_visit", "slots": [{"from": NAIVE, "to": "x"}]}
    pointers = [error.location.pointer for error in validator.iter_errors(data, ORIGIN)]
    assert pointers == ["/slots/0/from", "/slots/0/to"]


def test_an_invalid_plugin_schema_is_refused_with_its_type_name() -> None:
    with pytest.raises(ServiceflowError, match="'broken'"):
        load_schemas(extra={"broken": {"type": 5}})


def test_a_ref_to_an_unknown_uri_is_an_error_not_a_download() -> None:
    schemas = load_schemas(extra={"remote": {"$ref": "https://example.com/elsewhere.schema.json"}})
    with pytest.raises(ServiceflowError, match="'remote'"):
        RecordValidator(schemas)
    with pytest.raises(ServiceflowError, match="never fetched"):
        datetime_paths(schemas["remote"], schemas.registry)


def test_a_schema_set_is_a_read_only_mapping_of_types() -> None:
    assert isinstance(SCHEMAS, SchemaSet)
    assert "commitment" in SCHEMAS
    assert "envelope" not in SCHEMAS
    assert len(SCHEMAS) == 12
