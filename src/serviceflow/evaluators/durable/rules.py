"""From a :class:`~.patterns.Term` to the JSON of one durable-rules rule, in the only shape that is safe.

durable-rules 2.0.28 evaluates the reference comparisons of a clause (its "beta" expressions) with an
index that overshoots when a comparison short-circuits, and it loses the first nested group of an
``$or``/``$and``. Measured on this machine, the shape below is the one that matches correctly in every
case we fuzzed (and never crashes):

* every clause is one flat ``$and``: constant comparisons first, then comparisons with earlier facts,
  then ``z == c.s.z``. ``z`` is the case a fact belongs to (one durable-rules session holds several
  cases, see :mod:`.session`), so this keeps each join inside one case, and, being always true there,
  it also means the last comparison never short-circuits;
* no ``$or`` anywhere (disjunction is separate rules), no ``$iall``/``$iany`` with references;
* ``none`` clauses come last; several may follow each other;
* a comparison's left side is an attribute of the clause's own fact, its right side a constant,
  another fact's attribute or ``$add``/``$sub`` of those; a literal is rearranged (it is linear) so that
  exactly one attribute of the clause's fact is alone on the left;
* a comparison between two attributes of the stage fact joins the stage fact to itself (clause
  ``s2``, same ``g``), since a clause cannot reference its own fact.

``sid`` and ``id`` are never referenced: durable-rules keeps dangling pointers to them in stored facts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from serviceflow.evaluators.durable.patterns import (
    MIRRORED,
    Attr,
    Calc,
    Clause,
    Const,
    Lit,
    NotFlat,
    Operand,
    Records,
    Term,
    lit_owners,
    owners,
)

DURABLE_OP = {"eq": None, "ne": "$neq", "lt": "$lt", "le": "$lte", "gt": "$gt", "ge": "$gte"}
SENTINEL = {"z": {"s": "z"}}
# A clause's reference comparisons are one expression sequence of at most 32 entries in durable-rules
# (with ``$and``, its end marker and the sentinel): more comparisons than this go to separate stages.
MAX_COMPARISONS = 28


@dataclass
class FactSchema:
    """Attribute names of record and list-item facts, allocated as rules ask for them.

    A record fact carries only the attributes some clause over its type reads (``record_types``).
    """

    record_keys: dict[tuple[Any, ...], str] = field(default_factory=dict)
    record_types: dict[tuple[Any, ...], set[str]] = field(default_factory=dict)
    item_keys: dict[tuple[Any, ...], str] = field(default_factory=dict)

    def record(self, key: tuple[Any, ...], types: tuple[str, ...] = ()) -> str:
        self.record_types.setdefault(key, set()).update(types)
        return _name(self.record_keys, key, {"ident": "r", "seq": "q"})

    def keys_for(self, record_type: str) -> list[tuple[tuple[Any, ...], str]]:
        """The attributes a record of ``record_type`` carries."""
        return [
            (key, name) for key, name in self.record_keys.items() if record_type in self.record_types[key]
        ]

    def item(self, key: tuple[Any, ...]) -> str:
        return _name(self.item_keys, key, {"value": "v", "listid": "l", "index": "x"})


@dataclass
class StageSchema:
    """Attribute names of one stage node's facts (environment values the node's rules read)."""

    keys: dict[tuple[Any, ...], str] = field(default_factory=dict)

    def name(self, key: tuple[Any, ...]) -> str:
        if key not in self.keys:
            self.keys[key] = f"a{len(self.keys)}"
        return self.keys[key]


_PREFIX = {"field": "f", "rank": "y", "list": "l", "match": "m", "find": "p"}


def _name(table: dict[tuple[Any, ...], str], key: tuple[Any, ...], fixed: dict[str, str]) -> str:
    if key not in table:
        table[key] = fixed.get(key[0]) or f"{_PREFIX[key[0]]}{len(table)}"
    return table[key]


def rule_clauses(term: Term, node_id: int, stage: StageSchema, schema: FactSchema) -> list[dict[str, Any]]:
    """The ``all`` list of a rule matching ``term`` for stage facts of node ``node_id``."""
    positives = [clause for clause in term.clauses if not clause.negated]
    negatives = [clause for clause in term.clauses if clause.negated]
    order = ["s", "s2", *(c.cid for c in positives), *(c.cid for c in negatives)]
    kinds = {clause.cid: clause for clause in term.clauses}
    builder = _Builder(order, kinds, stage, schema)
    for clause in term.clauses:
        builder.source(clause)
    for lit in term.lits:
        builder.place(lit, None)
    for clause in negatives:
        for lit in clause.lits:
            builder.place(lit, clause.cid)
    if any(len(comparisons) > MAX_COMPARISONS for comparisons in builder.beta.values()):
        raise NotFlat("too many comparisons in one clause")
    stage_clause = {"$and": [{"k": "s"}, {"n": node_id}, *builder.alpha["s"]]}
    clauses: list[dict[str, Any]] = [{"s": stage_clause}]
    if builder.beta["s2"]:
        parts = [{"k": "s"}, {"n": node_id}, {"g": {"s": "g"}}, *builder.beta["s2"], SENTINEL]
        clauses.append({"s2": {"$and": parts}})
    for clause in positives + negatives:
        kind = "r" if isinstance(clause.source, Records) else "i"
        parts = [{"k": kind}, *builder.alpha[clause.cid], *builder.beta[clause.cid], SENTINEL]
        alias = f"{clause.cid}$not" if clause.negated else clause.cid
        clauses.append({alias: {"$and": parts}})
    return clauses


class _Builder:
    def __init__(
        self, order: list[str], clauses: dict[str, Clause], stage: StageSchema, schema: FactSchema
    ) -> None:
        self.order = order
        self.clauses = clauses
        self.stage = stage
        self.schema = schema
        self.alpha: dict[str, list[dict[str, Any]]] = {alias: [] for alias in order}
        self.beta: dict[str, list[dict[str, Any]]] = {alias: [] for alias in order}

    def attr_name(self, attr: Attr) -> str:
        if attr.owner == "s":
            return self.stage.name(attr.key)
        source = self.clauses[attr.owner].source
        if isinstance(source, Records):
            return self.schema.record(attr.key, source.types)
        return self.schema.item(attr.key)

    def json(self, value: Operand) -> Any:
        if isinstance(value, Const):
            return value.value
        if isinstance(value, Attr):
            return {value.owner: self.attr_name(value)}
        return {value.op: {"$l": self.json(value.left), "$r": self.json(value.right)}}

    def source(self, clause: Clause) -> None:
        if isinstance(clause.source, Records):
            rank = self.schema.record(("rank", clause.source.types), clause.source.types)
            self.alpha[clause.cid].append({"$neq": {rank: "!"}})
        else:
            self.beta[clause.cid].append({self.schema.item(("listid",)): self.json(clause.source.source)})

    def place(self, lit: Lit, forced: str | None) -> None:
        found = lit_owners(lit)
        if forced is not None and forced not in found:
            raise NotFlat("a none literal that does not mention its fact")  # pragma: no cover
        target = forced or max(found, key=self.order.index)
        isolated = isolate(lit, target)
        if isolated is None:
            raise NotFlat("a literal with its fact on both sides")
        attr, op, rest = isolated
        key = DURABLE_OP[op]
        name = self.attr_name(attr)
        leaf = {name: self.json(rest)} if key is None else {key: {name: self.json(rest)}}
        if isinstance(rest, Const):
            self.alpha[target].append(leaf)
        else:
            self.beta["s2" if target == "s" else target].append(leaf)


def isolate(lit: Lit, target: str) -> tuple[Attr, str, Operand] | None:
    """Rewrite ``lit`` as ``attr op rest`` with ``attr`` the only mention of ``target``'s fact.

    For the stage fact (``target == "s"``) ``attr`` is read from the self-join ``s2`` and ``rest``
    from ``s``, so ``rest`` may mention the stage fact too.
    """
    left, right = lit.left, lit.right
    if isinstance(left, Attr) and left.owner == target and (target == "s" or target not in owners(right)):
        return left, lit.op, right
    if isinstance(right, Attr) and right.owner == target and (target == "s" or target not in owners(left)):
        return right, MIRRORED[lit.op], left
    terms = _signed(left, 1) + _signed(right, -1)
    mine = [index for index, (_, value) in enumerate(terms) if target in owners(value)]
    if not mine or not isinstance(terms[mine[0]][1], Attr) or (target != "s" and len(mine) != 1):
        return None
    sign, attr = terms[mine[0]]
    others = [(-sign * sign_, value) for index, (sign_, value) in enumerate(terms) if index != mine[0]]
    assert isinstance(attr, Attr)
    return attr, lit.op if sign == 1 else MIRRORED[lit.op], _summed(others)


def _signed(value: Operand, sign: int) -> list[tuple[int, Operand]]:
    if isinstance(value, Calc):
        inner = -sign if value.op == "$sub" else sign
        return _signed(value.left, sign) + _signed(value.right, inner)
    return [(sign, value)]


def _summed(terms: list[tuple[int, Operand]]) -> Operand:
    positive = [value for sign, value in terms if sign == 1]
    negative = [value for sign, value in terms if sign == -1]
    total: Operand = positive[0] if positive else Const(0)
    for value in positive[1:]:
        total = Calc("$add", total, value)
    for value in negative:
        total = Calc("$sub", total, value)
    return total
