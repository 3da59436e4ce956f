"""Check the fields a policy reads against the record schemas, before any record is read.

A policy that reads ``$subject.comitment_id`` compiles (the name ``subject`` is in scope) but is never
true on any record: the field is spelled ``commitment_id``. Each :class:`~serviceflow.policy.ir.Ref`
whose root is known to hold records of certain types is checked against those types' schemas:

* ``subject`` holds the ``for_each`` types; a query's alias (``$it``, ``as: esc``) holds that query's
  types inside its ``where`` (and inside a ``fold``'s ``when``/``value`` or a ``count_distinct``'s
  ``value``); a let bound to ``latest``/``earliest`` holds the picked query's types.
* Every other root (``now``, ``acc``, a quantifier's item, a let bound to anything else, names plugins
  introduce) could hold anything, so references through it are not checked.

A path is wrong only when no type the root can hold defines it. Checking is conservative, so that a
valid policy is never rejected: it follows nested ``properties`` and stops, accepting the rest of the
path, at an array, at an object that declares no properties, and at an object that allows properties
it does not declare (``additionalProperties``/``unevaluatedProperties`` not false, ``patternProperties``,
or branches such as ``anyOf`` whose other arms might allow them). Message placeholders
(``{subject.promise}``) are checked the same way.

The compiled tree carries no source positions, so each wrong reference is located in the policy's YAML
by the string that spells it (``$it.comitment_id``); where the same spelling occurs under several
aliases of one name, the query that binds it there decides which occurrences are wrong.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from serviceflow.errors import PolicyError
from serviceflow.policy import ir
from serviceflow.policy.compiler import PolicyDefinition
from serviceflow.policy.templates import placeholders
from serviceflow.policy.yamlsource import SourceDocument, escape_pointer_token
from serviceflow.records.schemas import FieldPath, SchemaSet, schema_nodes

__all__ = ["check_field_references", "field_reference_errors"]

#: What a root can hold: the record types it ranges over, or ``None`` when it is not known.
Types = tuple[str, ...] | None
Env = Mapping[str, Types]
#: The containers of a YAML value, outermost first, each with the key (or index) taken in it.
Ancestors = tuple[tuple[Any, str], ...]

# The message placeholders evaluators fill (the same form the compiler accepts).
# Keywords under which a schema allows properties it does not name, or may, depending on the instance.
_OPENING = ("patternProperties", "anyOf", "oneOf", "if", "then", "else", "dependentSchemas")
_CLOSING = ("additionalProperties", "unevaluatedProperties")


def check_field_references(definitions: Iterable[PolicyDefinition], schemas: SchemaSet) -> list[PolicyError]:
    """Every reference, in every policy, to a field that no record type it may read defines.

    Each policy is compiled with its default parameters: parameters are constants and never change
    which fields a policy reads. Errors come in policy order, then by line.
    """
    shapes = _Shapes(schemas)
    errors: list[PolicyError] = []
    for definition in definitions:
        errors.extend(_check(definition.bind(), definition.document, shapes))
    return errors


def field_reference_errors(
    policy: ir.CompiledPolicy, document: SourceDocument, schemas: SchemaSet
) -> list[PolicyError]:
    """The wrong field references of one compiled policy, located in ``document`` (its YAML source)."""
    return _check(policy, document, _Shapes(schemas))


# --- what the schemas define -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Shape:
    """The properties declared at one object location, and whether no other property is allowed."""

    names: frozenset[str]
    closed: bool


@dataclass(frozen=True, slots=True)
class _Missing:
    """Where a path leaves its type's schema: the location reached and the undefined segment."""

    location: FieldPath
    segment: str


class _Shapes:
    """Object shapes of each record type, derived from its schema once per check."""

    def __init__(self, schemas: SchemaSet) -> None:
        self.schemas = schemas
        self._by_type: dict[str, dict[FieldPath, _Shape]] = {}

    def of(self, type_name: str) -> dict[FieldPath, _Shape] | None:
        if type_name not in self.schemas:
            return None
        shapes = self._by_type.get(type_name)
        if shapes is None:
            shapes = _object_shapes(self.schemas[type_name], self.schemas)
            self._by_type[type_name] = shapes
        return shapes

    def missing(self, type_name: str, path: FieldPath) -> _Missing | None:
        """Where ``path`` leaves ``type_name``'s schema, or ``None`` if it may exist (or type unknown)."""
        shapes = self.of(type_name)
        if shapes is None:
            return None
        location: FieldPath = ()
        for segment in path:
            shape = shapes.get(location)
            if shape is None:
                return None  # an array, a scalar or a free-form object: nothing more is known
            if segment not in shape.names:
                return _Missing(location, segment) if shape.closed else None
            location = (*location, segment)
        return None

    def names_at(self, types: Iterable[str], location: FieldPath) -> list[str]:
        names: set[str] = set()
        for type_name in types:
            shape = (self.of(type_name) or {}).get(location)
            if shape is not None:
                names |= shape.names
        return sorted(names)


def _object_shapes(schema: dict[str, Any], schemas: SchemaSet) -> dict[FieldPath, _Shape]:
    nodes_at: dict[FieldPath, list[Mapping[str, Any]]] = {}
    for path, node in schema_nodes(schema, schemas.registry):
        nodes_at.setdefault(path, []).append(node)
    shapes: dict[FieldPath, _Shape] = {}
    for path, nodes in nodes_at.items():
        names = frozenset(name for node in nodes for name in node.get("properties") or ())
        if not names:
            continue
        closes = any(node.get(keyword) is False for node in nodes for keyword in _CLOSING)
        opens = any(
            any(keyword in node for keyword in _OPENING)
            or any(keyword in node and node[keyword] is not False for keyword in _CLOSING)
            for node in nodes
        )
        shapes[path] = _Shape(names, closes and not opens)
    return shapes


# --- walking the compiled policy ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _BadRef:
    root: str
    path: FieldPath
    types: tuple[str, ...]
    missing: _Missing
    placeholder: bool = False

    @property
    def spelling(self) -> str:
        dotted = ".".join((self.root, *self.path))
        return f"{{{dotted}}}" if self.placeholder else f"${dotted}"


def _check(policy: ir.CompiledPolicy, document: SourceDocument, shapes: _Shapes) -> list[PolicyError]:
    walker = _Walker(shapes)
    env: dict[str, Types] = {"now": None}
    walker.query(policy.subject, env)
    env["subject"] = policy.subject.types
    for let in policy.own_lets:
        walker.expr(let.expr, env)
        env[let.name] = _types_of(let.expr, env)
    for node in (policy.when, policy.require, policy.by):
        if node is not None:
            walker.expr(node, env)
    for template in (policy.message, policy.pending_message):
        if template is not None:
            walker.template(template, env)
    errors: dict[str, PolicyError] = {}
    for bad in dict.fromkeys(walker.found):
        for pointer in _locate(bad, document, env):
            errors.setdefault(pointer, _error(policy.id, bad, document, pointer, shapes))
    return sorted(errors.values(), key=lambda error: (error.location.line or 0, error.location.pointer or ""))


def _types_of(expr: ir.Expr, env: Env) -> Types:
    """What a let holds: the picked query's records, the same as another name, or unknown."""
    if isinstance(expr, ir.Pick):
        return expr.query.types
    if isinstance(expr, ir.Ref) and not expr.path:
        return env.get(expr.root)
    return None


class _Walker:
    """Visits every expression with the record types each name holds there, collecting bad refs."""

    def __init__(self, shapes: _Shapes) -> None:
        self.shapes = shapes
        self.found: list[_BadRef] = []

    def ref(self, root: str, path: FieldPath, env: Env, placeholder: bool = False) -> None:
        types = env.get(root)
        if not path or not types:
            return
        missing = [self.shapes.missing(type_name, path) for type_name in types]
        if all(item is not None for item in missing):
            # Report where the path leaves the schema soonest, the likeliest place of the typo.
            first = min((item for item in missing if item is not None), key=lambda item: len(item.location))
            self.found.append(_BadRef(root, path, types, first, placeholder))

    def template(self, text: str, env: Env) -> None:
        for root, path, _ in placeholders(text):
            self.ref(root, path, env, placeholder=True)

    def query(self, query: ir.Query, env: Env) -> None:
        if query.where is not None:
            self.expr(query.where, {**env, query.alias: query.types})

    def expr(self, node: Any, env: Env) -> None:
        if isinstance(node, ir.Lit):
            return
        if isinstance(node, ir.Ref):
            self.ref(node.root, node.path, env)
        elif isinstance(node, ir.Query):
            self.query(node, env)
        elif isinstance(node, ir.CountDistinct):
            self.query(node.query, env)
            self.expr(node.value, {**env, node.query.alias: node.query.types})
        elif isinstance(node, ir.Fold):
            self.query(node.query, env)
            self.expr(node.initial, env)
            inner = {**env, node.query.alias: node.query.types, "acc": None}
            self.expr(node.when, inner)
            self.expr(node.value, inner)
        elif isinstance(node, ir.Quantifier):
            self.expr(node.items, env)
            self.expr(node.where, {**env, node.alias: None})
        else:
            # Every other node binds no name: its parts see the same names (this also covers nodes
            # added to the language later, such as a named condition's arguments).
            for part in _parts(node):
                self.expr(part, env)


def _parts(node: Any) -> tuple[Any, ...]:
    """The children of a node of the compiled tree (or of a tuple of them); nothing for anything else."""
    if isinstance(node, tuple):
        return node
    if dataclasses.is_dataclass(node) and type(node).__module__ == ir.__name__:
        return tuple(getattr(node, field.name) for field in dataclasses.fields(node))
    return ()


# --- locating and wording ----------------------------------------------------------------------------


def _locate(bad: _BadRef, document: SourceDocument, env: Env) -> list[str]:
    """The pointers of the YAML strings that spell ``bad`` where its root holds the same types."""
    spelled: list[tuple[str, Ancestors]]
    if bad.placeholder:
        data = document.data
        spelled = [
            (f"/{key}", ((data, key),))
            for key in ("message", "pending_message")
            if bad.spelling in str(data.get(key, ""))
        ]
    else:
        spelled = list(_spellings(document.data, "", bad))
    wanted = frozenset(bad.types)
    matching = [
        pointer
        for pointer, ancestors in spelled
        if frozenset(_binding(ancestors, bad.root, env) or ()) == wanted
    ]
    if matching:
        return matching
    return [pointer for pointer, _ in spelled] or [""]


def _spellings(
    data: Any, pointer: str, bad: _BadRef, ancestors: Ancestors = ()
) -> Iterator[tuple[str, Ancestors]]:
    """Where ``bad`` is written, with the containers (and the key taken in each) leading there."""
    if isinstance(data, str):
        if data == bad.spelling:
            yield pointer, ancestors
    elif isinstance(data, dict):
        for key, value in data.items():
            child = f"{pointer}/{escape_pointer_token(key)}"
            yield from _spellings(value, child, bad, (*ancestors, (data, key)))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _spellings(value, f"{pointer}/{index}", bad, (*ancestors, (data, str(index))))


def _binding(ancestors: Ancestors, root: str, env: Env) -> Types:
    """The types ``root`` holds at a place in the YAML: the innermost construct that binds it decides."""
    for container, key in reversed(ancestors):
        if not isinstance(container, dict):
            continue
        if key == "where" and "type" in container and container.get("as", "it") == root:
            types = container["type"]
            return (types,) if isinstance(types, str) else tuple(types)
        if key in ("when", "value") and isinstance(container.get("over"), dict):
            over = container["over"]
            if over.get("as", "it") == root and "type" in over:
                types = over["type"]
                return (types,) if isinstance(types, str) else tuple(types)
        if key == "where" and "in" in container and container.get("as", "item") == root:
            return None
    return env.get(root)


def _error(
    policy_id: str, bad: _BadRef, document: SourceDocument, pointer: str, shapes: _Shapes
) -> PolicyError:
    field = ".".join(bad.path)
    types = " or ".join(bad.types)
    which = "its schema does not define" if len(bad.types) == 1 else "their schemas do not define"
    message = f"policy '{policy_id}' reads '{field}' of {types}, which {which}"
    known = shapes.names_at(bad.types, bad.missing.location)
    close = difflib.get_close_matches(bad.missing.segment, known, n=1)
    if close:
        message += f" (did you mean '{'.'.join((*bad.missing.location, close[0]))}'?)"
    return PolicyError(message, document.location(pointer), policy_id=policy_id)
