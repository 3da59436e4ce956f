"""The record schemas: where they live, how they are loaded, and what can be derived from them.

There is one JSON Schema (draft 2020-12) per record type, each referring to a shared envelope. They ship
inside the wheel at ``serviceflow/_bundled/schemas/`` and live at ``<repo>/schemas`` in a source checkout.
Plugins may add record types (``load_schemas(extra=...)``); everything that depends on a type's shape, such
as which fields hold date-times, is derived by walking its schema rather than written down twice, so
plugin types get the same treatment as the bundled ones.

``$ref`` is resolved only against the schemas loaded here: nothing is ever fetched over the network.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from serviceflow.errors import Location, ServiceflowError
from serviceflow.records.model import Shape, shape_for
from serviceflow.timeutil import parse_datetime, parse_rfc3339

if TYPE_CHECKING:
    from referencing._core import Resolver

__all__ = [
    "ENVELOPE_ID",
    "ITEMS",
    "FieldPath",
    "RecordLayout",
    "SchemaSet",
    "bundled_schema_dir",
    "datetime_paths",
    "declared_properties",
    "is_rfc3339_datetime",
    "load_schemas",
]

ENVELOPE_ID = "https://serviceflow.dev/schemas/envelope.schema.json"
#: The path segment that stands for "every element of this array" in a field path.
ITEMS = "[]"

FieldPath = tuple[str, ...]

# RFC 3339 section 5.6 ``date-time``, ASCII digits only, seconds and an offset required. Python's
# ``\d`` would accept other scripts' digits, and ``$`` would accept a trailing newline.
_RFC3339_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
    r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)

# Keywords whose subschemas apply to the same instance location as the schema holding them.
_IN_PLACE_LISTS = ("allOf", "anyOf", "oneOf")
_IN_PLACE_SINGLE = ("if", "then", "else")


def bundled_schema_dir() -> Path:
    """The directory holding ``envelope.schema.json`` and one ``<type>.schema.json`` per record type.

    An installed wheel carries the schemas as package data; a source checkout (or an editable install,
    which has no copy) uses the repository's ``schemas/`` directory, so editing a schema takes effect
    without reinstalling.
    """
    try:
        packaged = resources.files("serviceflow").joinpath("_bundled", "schemas")
    except (ModuleNotFoundError, TypeError):  # pragma: no cover - serviceflow is importable here
        packaged = None
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[3] / "schemas"
    if checkout.is_dir():
        return checkout
    raise ServiceflowError(  # pragma: no cover - only a broken installation gets here
        f"the bundled record schemas are missing (looked in {packaged} and {checkout})"
    )


def _read_schema(path: Path) -> dict[str, Any]:
    try:
        with path.open(encoding="utf-8") as handle:
            schema = json.load(handle)
    except (OSError, ValueError) as exc:
        raise ServiceflowError(f"cannot load record schema: {exc}", Location(file=str(path))) from exc
    if not isinstance(schema, dict):
        raise ServiceflowError("a record schema must be a JSON object", Location(file=str(path)))
    return schema


class SchemaSet(Mapping[str, dict[str, Any]]):
    """Record type name -> JSON Schema, plus the offline registry that resolves their ``$ref``.

    ``registry`` (a :class:`referencing.Registry`) and ``resources`` (URI -> schema, for
    :mod:`jsonschema_rs`) hold the envelope and every schema that has an ``$id``. Facts derived from a
    type's schema (its date-time fields, the properties it declares) are computed once and cached.
    """

    def __init__(self, schemas: Mapping[str, dict[str, Any]], envelope: dict[str, Any]) -> None:
        self._schemas = dict(schemas)
        self.envelope = envelope
        self.resources: dict[str, dict[str, Any]] = {envelope.get("$id", ENVELOPE_ID): envelope}
        for schema in self._schemas.values():
            if isinstance(schema.get("$id"), str):
                self.resources[schema["$id"]] = schema
        # A Registry without a ``retrieve`` callable never fetches: unknown URIs are Unresolvable.
        self.registry: Registry = (
            Registry()
            .with_resources(
                (uri, DRAFT202012.create_resource(schema)) for uri, schema in self.resources.items()
            )
            .crawl()
        )
        self._layouts: dict[str, RecordLayout] = {}
        self._declared: dict[str, dict[FieldPath, frozenset[str]]] = {}

    def __getitem__(self, type_name: str) -> dict[str, Any]:
        return self._schemas[type_name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._schemas)

    def __len__(self) -> int:
        return len(self._schemas)

    def __repr__(self) -> str:
        return f"SchemaSet({sorted(self._schemas)})"

    def layout(self, type_name: str) -> RecordLayout:
        """Where ``type_name``'s date-times and shareable values sit, ready to build records (cached)."""
        layout = self._layouts.get(type_name)
        if layout is None:
            schema = self._schemas[type_name]
            layout = RecordLayout(
                type_name, datetime_paths(schema, self.registry), shared_fields(schema, self.registry)
            )
            self._layouts[type_name] = layout
        return layout

    def declared_properties(self, type_name: str) -> dict[FieldPath, frozenset[str]]:
        """For each object location of ``type_name``, the property names its schema declares (cached)."""
        declared = self._declared.get(type_name)
        if declared is None:
            declared = declared_properties(self._schemas[type_name], self.registry)
            self._declared[type_name] = declared
        return declared


def load_schemas(extra: Mapping[str, dict[str, Any]] | None = None) -> SchemaSet:
    """Load the bundled record schemas, plus ``extra`` ones (type name -> schema) from plugins.

    An extra schema may refer to the envelope by its ``$id``
    (``https://serviceflow.dev/schemas/envelope.schema.json``). An extra type with the name of a bundled
    one replaces it. An extra schema that is not a valid draft 2020-12 schema raises ServiceflowError.
    """
    directory = bundled_schema_dir()
    envelope = _read_schema(directory / "envelope.schema.json")
    schemas: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.schema.json")):
        type_name = path.name.removesuffix(".schema.json")
        if type_name != "envelope":
            schemas[type_name] = _read_schema(path)
    if extra:
        # Imported here: jsonschema is slow to import and only plugin schemas need checking.
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        for type_name, schema in extra.items():
            try:
                Draft202012Validator.check_schema(schema)
            except SchemaError as exc:
                raise ServiceflowError(
                    f"the schema of record type {type_name!r} is invalid: {exc.message}"
                ) from exc
            schemas[type_name] = dict(schema)
    return SchemaSet(schemas, envelope)


def _bundled_registry() -> Registry:
    return load_schemas().registry


def schema_nodes(
    schema: Mapping[str, Any], registry: Registry
) -> Iterator[tuple[FieldPath, Mapping[str, Any]]]:
    """Every subschema that applies at some instance location, with that location as a field path.

    Follows ``$ref`` (through ``registry``), the in-place applicators (allOf, anyOf, oneOf, if/then/else,
    dependentSchemas), ``properties`` and array ``items``. Positional ``prefixItems`` and
    ``additionalProperties``/``patternProperties`` are not followed: their locations have no fixed name.
    A ``$ref`` already being walked further up is not entered again, so recursive schemas terminate.
    """
    resolver = registry.resolver_with_root(DRAFT202012.create_resource(schema))
    yield from _walk(schema, resolver, (), frozenset())


def _walk(
    node: Any, resolver: Resolver, path: FieldPath, active: frozenset[int]
) -> Iterator[tuple[FieldPath, Mapping[str, Any]]]:
    if not isinstance(node, Mapping) or id(node) in active:
        return
    active = active | {id(node)}
    if isinstance(node.get("$id"), str):
        resolver = resolver.in_subresource(DRAFT202012.create_resource(node))
    yield path, node
    ref = node.get("$ref")
    if isinstance(ref, str):
        try:
            resolved = resolver.lookup(ref)
        except Unresolvable as exc:
            raise ServiceflowError(f"cannot resolve $ref {ref!r} (schemas are never fetched): {exc}") from exc
        yield from _walk(resolved.contents, resolved.resolver, path, active)
    for keyword in _IN_PLACE_LISTS:
        for subschema in node.get(keyword) or ():
            yield from _walk(subschema, resolver, path, active)
    for keyword in _IN_PLACE_SINGLE:
        yield from _walk(node.get(keyword), resolver, path, active)
    dependent = node.get("dependentSchemas")
    if isinstance(dependent, Mapping):
        for subschema in dependent.values():
            yield from _walk(subschema, resolver, path, active)
    properties = node.get("properties")
    if isinstance(properties, Mapping):
        for name, subschema in properties.items():
            yield from _walk(subschema, resolver, (*path, name), active)
    yield from _walk(node.get("items"), resolver, (*path, ITEMS), active)


def datetime_paths(schema: Mapping[str, Any], registry: Registry | None = None) -> tuple[FieldPath, ...]:
    """The paths of the fields with ``format: date-time`` in records following ``schema``.

    ``("at",)``, ``("window", "start")``, ``("materials", "[]", "eta")``: a ``"[]"`` segment means every
    element of an array. ``registry`` resolves ``$ref`` (the bundled schemas' registry by default).
    """
    found = (
        path
        for path, node in schema_nodes(schema, registry if registry is not None else _bundled_registry())
        if node.get("format") == "date-time"
    )
    return tuple(dict.fromkeys(found))


def declared_properties(
    schema: Mapping[str, Any], registry: Registry | None = None
) -> dict[FieldPath, frozenset[str]]:
    """For each object location in ``schema`` (a field path), the property names declared there.

    Used to name exactly which keys of an object are not allowed, whatever ``$ref`` and applicators
    the schema uses to declare the allowed ones.
    """
    declared: dict[FieldPath, set[str]] = {}
    for path, node in schema_nodes(schema, registry if registry is not None else _bundled_registry()):
        properties = node.get("properties")
        if isinstance(properties, Mapping):
            declared.setdefault(path, set()).update(properties)
    return {path: frozenset(names) for path, names in declared.items()}


def is_rfc3339_datetime(value: object) -> bool:
    """The ``date-time`` format of record schemas; jsonschema checks it with exactly this function.

    RFC 3339 with ``T``, seconds and ``Z`` or an offset, naming a real instant that
    :func:`~serviceflow.timeutil.parse_datetime` accepts: no leap second, no year 0, no 30 February.
    Values that are not strings pass, as JSON Schema formats only constrain strings.
    """
    if not isinstance(value, str):
        return True
    if _RFC3339_DATETIME.fullmatch(value) is None:
        return False
    try:
        parse_datetime(value)
    except ValueError:
        return False
    return True


class RecordLayout:
    """Where the date-times and the shareable values of one record type sit, derived from its schema.

    Built once per type. :meth:`values` turns a valid record's JSON object into the compact form of
    :class:`~serviceflow.records.model.Record` (a shared shape and a tuple of values) with every
    date-time parsed, in one pass over its top-level keys: the work per record is proportional to its
    date-time fields, never a walk of the schema. Plans are cached per key order, since records of a
    type come in few key orders.

    *Shared* values are kept once however many records repeat them: the top-level fields whose schema
    allows only a few values (``enum``, ``const``), the case and customer ids and the actor, and any
    other top-level string field that turns out to repeat (a desk's canned summaries, a resource's
    name). Whether a field repeats is learnt from its first :data:`_LEARN_FROM` values: a field of
    unique values (ids, free text) stops being looked up, so it costs nothing and fills no cache.
    """

    __slots__ = (
        "_learning",
        "_nested",
        "_plans",
        "_repeating",
        "_shared",
        "_top",
        "_unique",
        "paths",
        "type_name",
    )

    def __init__(self, type_name: str, paths: tuple[FieldPath, ...], shared: frozenset[str] = frozenset()):
        self.type_name = type_name
        self.paths = paths
        self._top = frozenset(path[0] for path in paths if len(path) == 1)
        self._nested: dict[str, dict[str, Any]] = {}
        for path in paths:
            if len(path) > 1:
                node = self._nested.setdefault(path[0], {})
                for segment in path[1:]:
                    node = node.setdefault(segment, {})
        self._shared = shared
        self._plans: dict[tuple[str, ...], _Plan] = {}
        self._learning: dict[str, list[int]] = {}  # key -> [values seen, of which repeats]
        self._repeating: set[str] = set()
        self._unique: set[str] = {"id"}

    def values(self, data: dict[str, Any], *, strict: bool = True) -> tuple[Shape, tuple[Any, ...]]:
        """The shape and values of a valid record, date-times parsed.

        ``strict`` raises ValueError for a date-time field that is not RFC 3339 as serviceflow reads it
        (the fast path then lets jsonschema explain); otherwise such a string is left as it is, which
        after validation happens only where a schema allows another kind of value there (``anyOf``).
        """
        keys = tuple(data)
        plan = self._plans.get(keys)
        if plan is None:
            plan = self._plan(keys)
        values = list(data.values())
        for index in plan.date_times:
            value = values[index]
            parsed = parse_rfc3339(value) if type(value) is str else None
            values[index] = parsed if parsed is not None else _parse_date_time(value, strict)
        for index, tree in plan.nested:
            values[index] = _parse_tree(values[index], tree, strict)
        shared_get = _SHARED.get
        for index in plan.shared:
            value = values[index]
            if type(value) is str:
                known = shared_get(value)
                if known is not None:
                    values[index] = known
                elif len(_SHARED) < _MAX_SHARED:
                    _SHARED[value] = value
            elif type(value) is dict:
                values[index] = _share_object(value)
        if plan.learning:
            self._learn(plan, values)
        values.append(None)
        return plan.shape, tuple(values)

    def _learn(self, plan: _Plan, values: list[Any]) -> None:
        """Share the learning fields' strings, and decide, once enough are seen, whether they repeat."""
        decided = False
        for index in plan.learning:
            value = values[index]
            if type(value) is not str or len(value) > _MAX_SHARED_LENGTH:
                continue
            key = plan.keys[index]
            stats = self._learning.get(key)
            if stats is None:
                stats = self._learning[key] = [0, 0]
            shared = _SHARED.get(value)
            if shared is None:
                if len(_SHARED) < _MAX_SHARED:
                    _SHARED[value] = value
            else:
                values[index] = shared
                stats[1] += 1
            stats[0] += 1
            if stats[0] >= _LEARN_FROM:
                (self._repeating if stats[1] * 4 >= stats[0] else self._unique).add(key)
                del self._learning[key]
                decided = True
        if decided:
            self._plans.clear()

    def _plan(self, keys: tuple[str, ...]) -> _Plan:
        settled = self._top | self._nested.keys()
        shared = self._shared | self._repeating
        plan = _Plan(
            keys,
            shape_for(keys),
            tuple(i for i, key in enumerate(keys) if key in self._top),
            tuple((i, self._nested[key]) for i, key in enumerate(keys) if key in self._nested),
            tuple(i for i, key in enumerate(keys) if key in shared and key not in settled),
            tuple(
                i
                for i, key in enumerate(keys)
                if key not in settled and key not in shared and key not in self._unique
            ),
        )
        if len(self._plans) < _MAX_PLANS:
            self._plans[keys] = plan
        return plan

    def parse(self, data: dict[str, Any], *, strict: bool = False) -> dict[str, Any]:
        """A copy of ``data`` whose date-time strings are datetimes (for callers that want a dict)."""
        shape, values = self.values(data, strict=strict)
        return dict(zip(shape, values, strict=False))


class _Plan:
    """For one key order of one type: the shape, and which positions to parse or share."""

    __slots__ = ("date_times", "keys", "learning", "nested", "shape", "shared")

    def __init__(
        self,
        keys: tuple[str, ...],
        shape: Shape,
        date_times: tuple[int, ...],
        nested: tuple[tuple[int, dict[str, Any]], ...],
        shared: tuple[int, ...],
        learning: tuple[int, ...],
    ) -> None:
        self.keys, self.shape, self.date_times, self.nested = keys, shape, date_times, nested
        self.shared, self.learning = shared, learning


#: Key orders remembered per record type (a hostile input with ever new key orders gets no more).
_MAX_PLANS = 1024
#: Distinct shared values remembered; past it, new values are kept as they are (correct, just larger).
_MAX_SHARED = 200_000
#: How many values of a field decide whether it repeats (shared when a quarter or more are repeats).
_LEARN_FROM = 512
#: Longer strings are never looked up: free text rarely repeats, and hashing it would cost.
_MAX_SHARED_LENGTH = 200
_SHARED: dict[Any, Any] = {}


_BY_ID: dict[Any, list[dict[str, Any]]] = {}
_BY_ID_SIZE = [0]


def _share_object(value: dict[str, Any]) -> dict[str, Any]:
    """One object for equal flat objects (an actor), looked up by their ``id`` first: cheaper than
    hashing every key and value. An id can come with several variants (a name spelt two ways)."""
    try:
        variants = _BY_ID.get(value.get("id"))
    except TypeError:  # an unhashable id: schemas make it a string, but a plugin's type may not
        return value
    if variants is None:
        if _BY_ID_SIZE[0] >= _MAX_SHARED:
            return value
        _BY_ID[value.get("id")] = [value]
        _BY_ID_SIZE[0] += 1
        return value
    for known in variants:
        if known == value:
            return known
    if len(variants) < 8:
        variants.append(value)
    return value


def share(value: Any) -> Any:
    """One object for equal short strings and flat objects of strings (actors), within a bound."""
    if type(value) is str:
        key: Any = value
    elif type(value) is dict:
        try:
            key = tuple(value.items())
            hash(key)
        except TypeError:
            return value
    else:
        return value
    shared = _SHARED.get(key)
    if shared is None:
        if len(_SHARED) >= _MAX_SHARED:
            return value
        _SHARED[key] = shared = value
    return shared


def _parse_date_time(value: Any, strict: bool) -> Any:
    if type(value) is not str:
        return value
    parsed = parse_rfc3339(value)
    if parsed is not None:
        return parsed
    if strict:
        raise ValueError(f"not an RFC 3339 date-time: {value!r}")
    try:
        return parse_datetime(value) if _RFC3339_DATETIME.fullmatch(value) else value
    except ValueError:
        return value


def _parse_tree(value: Any, tree: dict[str, dict[str, Any]], strict: bool) -> Any:
    if not tree:
        return _parse_date_time(value, strict)
    if isinstance(value, dict):
        copied = dict(value)
        for key, subtree in tree.items():
            if key in copied:
                copied[key] = _parse_tree(copied[key], subtree, strict)
        return copied
    if isinstance(value, list) and ITEMS in tree:
        subtree = tree[ITEMS]
        return [_parse_tree(element, subtree, strict) for element in value]
    return value


def shared_fields(schema: Mapping[str, Any], registry: Registry) -> frozenset[str]:
    """Top-level fields whose values are worth sharing: enumerations, constants, ids and the actor."""
    found = {"case_id", "customer_id", "actor", "channel"}
    for path, node in schema_nodes(schema, registry):
        if len(path) == 1 and ("enum" in node or "const" in node):
            found.add(path[0])
    return frozenset(found)
