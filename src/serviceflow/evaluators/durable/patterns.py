"""The terms durable-rules can match: fact patterns, literals over their attributes, and their algebra.

A :class:`Term` is what one durable rule can say: positive clauses (a record or list-item fact joined to
the stage fact and to earlier clauses), literals comparing attributes of those facts, and negated
clauses (``none``) placed last. A condition is a list of terms, their disjunction; :func:`product` and
:func:`union` combine such lists. Operands are fact attributes (:class:`Attr`), encoded constants
(:class:`Const`) and durable-rules arithmetic (:class:`Calc`); :mod:`.normal_form` builds them from IR
and :mod:`.rules` writes them as durable-rules JSON.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from serviceflow.evaluators.durable.encoding import MISSING, encode
from serviceflow.policy import ir

MAX_TERMS = 64
NEGATED = {"eq": "ne", "ne": "eq", "lt": "ge", "ge": "lt", "le": "gt", "gt": "le"}
MIRRORED = {"eq": "eq", "ne": "ne", "lt": "gt", "gt": "lt", "le": "ge", "ge": "le"}


class NotFlat(Exception):
    """The condition cannot be one durable rule per term; compile it step by step."""


@dataclass(frozen=True, slots=True)
class Attr:
    """An attribute of a fact in a rule: ``owner`` is ``"s"`` (the stage fact) or a clause id."""

    owner: str
    key: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Const:
    """An encoded constant."""

    value: Any


@dataclass(frozen=True, slots=True)
class Calc:
    """durable-rules arithmetic (``$add``/``$sub``) over attributes and constants."""

    op: str
    left: Operand
    right: Operand


Operand = Attr | Const | Calc


@dataclass(frozen=True, slots=True)
class Lit:
    """One comparison of encodings; ``guards`` are the presence literals it is meaningful under."""

    op: str
    left: Operand
    right: Operand
    guards: tuple[Lit, ...] = ()

    def negated(self) -> Lit:
        return Lit(NEGATED[self.op], self.left, self.right, self.guards)


@dataclass(frozen=True, slots=True)
class Records:
    """Record facts whose type is one of ``types`` (they carry a rank for this type set)."""

    types: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Items:
    """List-item facts of the list whose id is the attribute ``source``."""

    source: Attr


@dataclass(frozen=True, slots=True)
class Clause:
    """A fact pattern; a negated clause (``none``) carries its own literals."""

    cid: str
    source: Records | Items
    negated: bool = False
    lits: tuple[Lit, ...] = ()


@dataclass(frozen=True, slots=True)
class Term:
    clauses: tuple[Clause, ...] = ()
    lits: tuple[Lit, ...] = ()


@dataclass(frozen=True, slots=True)
class Bound:
    """Where a name's value lives in a rule: the stage fact's environment, or a clause's fact."""

    owner: str
    kind: str  # "env" | "record" | "item"


ENV = Bound("s", "env")
TRUE: list[Term] = [Term()]
FALSE: list[Term] = []


def owners(operand: Operand) -> set[str]:
    if isinstance(operand, Attr):
        return {operand.owner}
    if isinstance(operand, Calc):
        return owners(operand.left) | owners(operand.right)
    return set()


def lit_owners(lit: Lit) -> set[str]:
    return owners(lit.left) | owners(lit.right)


def product(*alternatives: list[Term]) -> list[Term]:
    """The conjunction of disjunctions, multiplied out; contradictory terms are dropped."""
    result = [Term()]
    for options in alternatives:
        result = [joined for left in result for right in options if (joined := _join(left, right))]
        if len(result) > MAX_TERMS:
            raise NotFlat("too many alternatives")
    return result


def union(*alternatives: Iterable[Term]) -> list[Term]:
    result = [term for options in alternatives for term in options]
    if len(result) > MAX_TERMS:
        raise NotFlat("too many alternatives")
    return result


def _join(left: Term, right: Term) -> Term | None:
    lits = list(dict.fromkeys(left.lits + right.lits))
    present = set(lits)
    if any(lit.negated() in present for lit in lits):
        return None
    return Term(left.clauses + right.clauses, tuple(lits))


def rename(lit: Lit, old: str, new: str) -> Lit:
    def move(operand: Operand) -> Operand:
        if isinstance(operand, Attr):
            return Attr(new, operand.key) if operand.owner == old else operand
        if isinstance(operand, Calc):
            return Calc(operand.op, move(operand.left), move(operand.right))
        return operand

    return Lit(lit.op, move(lit.left), move(lit.right), tuple(rename(g, old, new) for g in lit.guards))


# --- operands ------------------------------------------------------------------------------


def operand(expr: ir.Expr, scope: Mapping[str, Bound]) -> Operand:
    """The rule operand for a pure, coalesce-free expression."""
    if isinstance(expr, ir.Lit):
        return Const(encode(expr.value))
    if isinstance(expr, ir.Ref):
        bound = scope.get(expr.root)
        if bound is None:
            return Const(MISSING)
        if bound.kind == "env":
            return Attr("s", ("env", expr.root, expr.path))
        if not expr.path:
            return Attr(bound.owner, ("ident",) if bound.kind == "record" else ("value",))
        return Attr(bound.owner, ("field", expr.path))
    if isinstance(expr, ir.Arith):
        return Calc(
            "$sub" if expr.op == "sub" else "$add", operand(expr.left, scope), operand(expr.right, scope)
        )
    if isinstance(expr, ir.Find) and isinstance(expr.text, ir.Ref) and isinstance(expr.phrases, ir.Lit):
        text, phrases = expr.text, tuple(expr.phrases.value or ())
        bound = scope.get(text.root)
        if bound is None:
            return Const(MISSING)
        if bound.kind == "env":
            return Attr("s", ("find", text.root, text.path, phrases))
        return Attr(bound.owner, ("find", text.path, phrases))
    raise NotFlat(f"not an operand: {type(expr).__name__}")  # pragma: no cover - callers check purity


def seq_operand(expr: ir.Expr, scope: Mapping[str, Bound]) -> Operand:
    """A record's ``seq`` for ``before``/``after``; anything that is not a record is missing."""
    if isinstance(expr, ir.Ref) and not expr.path and expr.root in scope:
        bound = scope[expr.root]
        if bound.kind == "env":
            return Attr("s", ("seq", expr.root))
        if bound.kind == "record":
            return Attr(bound.owner, ("seq",))
    return Const(MISSING)


def list_operand(expr: ir.Ref, scope: Mapping[str, Bound]) -> Attr | None:
    bound = scope.get(expr.root)
    if bound is None:
        return None
    if bound.kind == "env":
        return Attr("s", ("list", expr.root, expr.path))
    return Attr(bound.owner, ("list", expr.path))


def presence(value: Operand, positive: bool) -> list[Term]:
    """Terms for "value is present" (or missing): an ``add``/``sub`` is missing if any operand is."""
    if isinstance(value, Const):
        return TRUE if (value.value != MISSING) == positive else FALSE
    if isinstance(value, Attr):
        return [Term(lits=(Lit("ne" if positive else "eq", value, Const(MISSING)),))]
    if positive:
        return product(presence(value.left, True), presence(value.right, True))
    return union(presence(value.left, False), presence(value.right, False))


def presence_lits(value: Operand) -> tuple[Lit, ...]:
    if isinstance(value, Attr):
        return (Lit("ne", value, Const(MISSING)),)
    if isinstance(value, Calc):
        return presence_lits(value.left) + presence_lits(value.right)
    return ()
