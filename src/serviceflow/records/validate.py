"""Validate records against their type's schema and turn valid ones into :class:`Record` objects.

Two validators, one verdict. :mod:`jsonschema_rs` decides, fast, whether a record is valid; only for an
invalid record does :mod:`jsonschema` run, to list every error with its JSON pointer and a message a
person can act on. For ``date-time`` jsonschema uses :func:`is_rfc3339_datetime`; jsonschema_rs uses its
native check, which accepts everything that function accepts plus leap seconds and year 0, so the fast
path also parses every date-time field strictly and hands anything that fails to jsonschema. Either way
a timestamp that passes validation parses, offset included.

Records are dispatched on their ``type`` to that type's schema rather than validated against a
``oneOf`` over all types, which would be slower and would bury the one relevant error among the
failures of every other type.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import jsonschema_rs

from serviceflow.errors import Location, RecordError, ServiceflowError
from serviceflow.records.model import Record
from serviceflow.records.schemas import (
    ITEMS,
    FieldPath,
    RecordLayout,
    SchemaSet,
    declared_properties,
    is_rfc3339_datetime,
    load_schemas,
)

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator, FormatChecker, ValidationError

__all__ = ["RecordValidator", "build_record", "json_pointer"]

_DATETIME_HINT = " (RFC 3339 with offset)"
_NO_EXTRA_PROPERTIES = ("unevaluatedProperties", "additionalProperties")


def json_pointer(path: Iterable[str | int]) -> str:
    """The RFC 6901 JSON pointer of a path (``["window", "start"]`` -> ``/window/start``)."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def build_record(
    data: dict[str, Any], origin: Location | None, layout: RecordLayout, seq: int = 0, *, strict: bool = False
) -> Record:
    """A Record from a record already known to be valid: date-times parsed, nothing re-checked.

    ``strict`` raises ValueError for a date-time field that is not RFC 3339 as serviceflow reads it.
    """
    shape, values = layout.values(data, strict=strict)
    at = values[shape["at"]]
    if not isinstance(at, datetime):
        raise ValueError(f"'at' is not an RFC 3339 date-time: {at!r}")
    envelope = (values[shape["id"]], values[shape["case_id"]], values[shape["type"]], at)
    return Record.from_values(shape, values, origin, seq, envelope)


class RecordValidator:
    """Validates records of every type in a :class:`SchemaSet`; build it once and reuse it.

    The fast validators are compiled in the constructor; the error-reporting ones on first need.
    """

    def __init__(self, schemas: SchemaSet | None = None) -> None:
        self.schemas = schemas if schemas is not None else load_schemas()
        registry = jsonschema_rs.Registry(list(self.schemas.resources.items()))
        # jsonschema_rs keeps its native date-time check: a Python format callback would cost ~3 us per
        # field. Its check accepts a superset of is_rfc3339_datetime (leap seconds, year 0), so the
        # fast path re-checks the date-time fields strictly while it parses them.
        self._fast = {
            type_name: _compile_fast(type_name, schema, registry)
            for type_name, schema in self.schemas.items()
        }
        self._layouts = {type_name: self.schemas.layout(type_name) for type_name in self.schemas}
        self._format_checker: FormatChecker | None = None
        self._detailed: dict[str, Draft202012Validator] = {}
        self._envelope: Draft202012Validator | None = None
        self._envelope_declared: dict[FieldPath, frozenset[str]] = {}
        self._known = ", ".join(sorted(self.schemas))

    def to_record(self, data: Any, origin: Location | None, seq: int = 0) -> Record:
        """The Record for ``data`` (its place in ingestion order: ``seq``), or RecordError for its
        first error in document order.

        The record id, when readable, is on the error; its location is ``origin`` plus a JSON pointer.
        """
        record = self._fast_record(data, origin, seq)
        if record is not None:
            return record
        errors = self._errors(data, origin)
        if not errors:
            # Both validators accept it; only a date-time field failed the strict re-check, which
            # happens where the schema allows a non-date-time alternative (anyOf) for that field.
            return build_record(data, origin, self._layouts[data["type"]], seq)
        raise min(errors, key=lambda item: item[0])[1]

    def iter_errors(self, data: Any, origin: Location | None) -> list[RecordError]:
        """Every error in ``data``, each with its own JSON pointer, sorted by pointer; [] when valid.

        A missing property is reported at the pointer it would have (``/due``), an unexpected one at
        its own (``/window/strat``).
        """
        if self._fast_record(data, origin) is not None:
            return []
        return [error for _, error, _ in sorted(self._errors(data, origin), key=lambda item: item[2])]

    def _fast_record(self, data: Any, origin: Location | None, seq: int = 0) -> Record | None:
        """The Record when the fast checks pass, else None (then jsonschema must explain why).

        The hot path of every admission, so it is written out flat rather than as calls.
        """
        if type(data) is not dict:
            return None
        type_name = data.get("type")
        fast = self._fast.get(type_name) if type(type_name) is str else None
        if fast is None:
            return None
        try:
            if not fast.is_valid(data):
                return None
            shape, values = self._layouts[type_name].values(data, strict=True)  # type: ignore[index]
        except ValueError:  # a value jsonschema_rs cannot represent, or a date-time that does not parse
            return None
        at = values[shape["at"]]
        if type(at) is not datetime:
            return None
        record = _new_record(Record)
        record.shape, record.values, record.seq = shape, values, seq
        if origin is None:
            record.file = record.line = record.pointer = None
        else:
            record.file, record.line, record.pointer = origin.file, origin.line, origin.pointer
        record.id, record.case_id, record.at = values[shape["id"]], values[shape["case_id"]], at
        record.type = type_name  # type: ignore[assignment]  # a str: it chose the validator
        return record

    def _detailed_validator(self, schema: dict[str, Any]) -> Draft202012Validator:
        # jsonschema is imported only when a record is invalid: importing it (with its format
        # checkers) costs far more than validating a whole file of valid records.
        from jsonschema import Draft202012Validator, FormatChecker

        if self._format_checker is None:
            self._format_checker = FormatChecker()
            self._format_checker.checks("date-time")(is_rfc3339_datetime)
        return Draft202012Validator(
            schema, registry=self.schemas.registry, format_checker=self._format_checker
        )

    def _errors(
        self, data: Any, origin: Location | None
    ) -> list[tuple[tuple[int, ...], RecordError, tuple[Any, ...]]]:
        """(document position, error, pointer sort key) for every error; never empty for invalid data."""
        record_id = _record_id(data)
        found: list[tuple[list[str | int], str]] = []
        if not isinstance(data, dict):
            found.append(([], f"a record must be a JSON object, not {_json_type(data)}"))
        else:
            type_name = data.get("type")
            if type_name is None:
                found.append((["type"], f"'type' is a required property; known record types: {self._known}"))
                found.extend(self._envelope_errors(data))
            elif not isinstance(type_name, str) or type_name not in self.schemas:
                found.append((["type"], self._unknown_type(type_name)))
                found.extend(self._envelope_errors(data))
            else:
                found.extend(self._schema_errors(type_name, data))
                if not found:
                    found.extend(self._fast_errors(type_name, data))
        unique = list(dict.fromkeys((tuple(path), message) for path, message in found))
        return [
            (
                _document_position(data, path),
                RecordError(
                    message,
                    Location(
                        origin.file if origin else None, origin.line if origin else None, json_pointer(path)
                    ),
                    record_id,
                ),
                (_pointer_key(path), message),
            )
            for path, message in unique
        ]

    def _unknown_type(self, type_name: object) -> str:
        message = f"unknown record type {type_name!r}; known: {self._known}"
        if isinstance(type_name, str):
            close = difflib.get_close_matches(type_name, list(self.schemas), n=1)
            if close:
                message += f" (did you mean {close[0]!r}?)"
        return message

    def _envelope_errors(self, data: dict[str, Any]) -> list[tuple[list[str | int], str]]:
        # Without a known type only the envelope can be checked; its verdict on `type` is already given.
        if self._envelope is None:
            self._envelope = self._detailed_validator(self.schemas.envelope)
            self._envelope_declared = declared_properties(self.schemas.envelope, self.schemas.registry)
        found: list[tuple[list[str | int], str]] = []
        for error in self._envelope.iter_errors(data):
            for path, message in _describe(error, self._envelope_declared):
                if path[:1] != ["type"]:
                    found.append((path, message))
        return found

    def _schema_errors(self, type_name: str, data: dict[str, Any]) -> list[tuple[list[str | int], str]]:
        declared = self.schemas.declared_properties(type_name)
        found: list[tuple[list[str | int], str]] = []
        validator = self._detailed.get(type_name)
        if validator is None:
            validator = self._detailed[type_name] = self._detailed_validator(self.schemas[type_name])
        for error in validator.iter_errors(data):
            found.extend(_describe(error, declared))
        return found

    def _fast_errors(self, type_name: str, data: dict[str, Any]) -> list[tuple[list[str | int], str]]:
        # Reached only if the two validators disagree (a format only jsonschema_rs checks, in a plugin's
        # schema): report what the fast one says rather than accept a record it rejected.
        try:
            return [
                (list(error.instance_path), error.message)
                for error in self._fast[type_name].iter_errors(data)
            ]
        except ValueError as exc:
            return [([], f"cannot be validated: {exc}")]


def _describe(
    error: ValidationError, declared: Mapping[FieldPath, frozenset[str]]
) -> list[tuple[list[str | int], str]]:
    """(path, message) pairs for one jsonschema error, worded for people and pointing at the field."""
    path: list[str | int] = list(error.absolute_path)
    keyword = error.validator
    if keyword == "required" and isinstance(error.instance, dict):
        for name in error.validator_value:
            if name not in error.instance and error.message == f"{name!r} is a required property":
                return [([*path, name], error.message)]
    elif keyword in _NO_EXTRA_PROPERTIES and error.validator_value is False:
        allowed = declared.get(_field_path(path))
        if allowed is not None and isinstance(error.instance, dict):
            extra = [name for name in error.instance if name not in allowed]
            if extra:
                return [([*path, name], f"additional property {name!r} is not allowed") for name in extra]
    elif keyword == "format" and error.validator_value == "date-time":
        return [(path, error.message + _DATETIME_HINT)]
    return [(path, error.message)]


def _compile_fast(type_name: str, schema: dict[str, Any], registry: jsonschema_rs.Registry) -> Any:
    try:
        return jsonschema_rs.validator_for(schema, validate_formats=True, registry=registry, offline=True)
    except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError, ValueError) as exc:
        message = str(exc).split("\n", 1)[0]
        raise ServiceflowError(
            f"the schema of record type {type_name!r} does not compile: {message}"
        ) from exc


_new_record = object.__new__


def _fast_is_valid(fast: Any, data: dict[str, Any]) -> bool:
    try:
        return bool(fast.is_valid(data))
    except ValueError:  # a value jsonschema_rs cannot represent; let jsonschema explain
        return False


def _record_id(data: Any) -> str | None:
    if isinstance(data, dict):
        record_id = data.get("id")
        if isinstance(record_id, str) and record_id:
            return record_id
    return None


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if value is None:
        return "null"
    return type(value).__name__


def _field_path(path: Sequence[str | int]) -> tuple[str, ...]:
    return tuple(ITEMS if isinstance(part, int) else part for part in path)


def _pointer_key(path: Sequence[str | int]) -> tuple[tuple[int, int | str], ...]:
    # Array indices sort numerically (/materials/2 before /materials/10), then names.
    return tuple((0, part) if isinstance(part, int) else (1, part) for part in path)


def _document_position(data: Any, path: Sequence[str | int]) -> tuple[int, ...]:
    """Where ``path`` is in the document: the index of each step among its siblings, in input order.

    A key that is missing (a required property) sorts after all the keys its object has.
    """
    position: list[int] = []
    node = data
    for part in path:
        if isinstance(node, dict):
            keys = list(node)
            if part in node:
                position.append(keys.index(part))
                node = node[part]
            else:
                position.append(len(keys))
                node = None
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            position.append(part)
            node = node[part]
        else:
            position.append(0)
            node = None
    return tuple(position)
