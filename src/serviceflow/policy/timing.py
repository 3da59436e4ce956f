"""When could a case's findings change with no new record? What a policy's use of ``$now`` allows to say.

A live service evaluates a case when a record arrives, and must evaluate it again, unprompted, when
its findings would change by the passing of time alone: a pending deadline passing, a future-dated
record becoming visible, or a policy's condition on ``$now`` turning (``le: [$due, $now]``: a
commitment's due passing). The first two the engine reads off the case and the findings; the third
needs the policy, and this module reads it off the compiled tree, once, at compile time.

A comparison of ``$now`` with a value computed from the subject and the lets (``$due``,
``{add: [$subject.at, $params.within]}``) turns at a known instant. The compiler appends a hidden let
per such comparison, holding that value (a *watch*), so that every evaluator computes it as it
computes any let, for every subject, and reports it; the instant it turns is the value, or one
microsecond after it for a strict comparison. Between now and the earliest such instant every
comparison on ``$now`` keeps its truth, the visible records stay the same, and so does every verdict.

Any other use of ``$now`` cannot be bounded this way: inside a query's or quantifier's condition (it
is decided per candidate record), in arithmetic or a let, in ``by``, in a message, or in a named
condition (Python that sees ``now``, unless it declares ``reads_now=False``). Such a policy is
*unbounded*: a case it has a subject in is evaluated again every ``recheck`` (the engine's setting,
one hour by default). The choice is safe, never silent: a change is found at most ``recheck`` late.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

from serviceflow.policy import ir
from serviceflow.policy.ir import NowWatch, Timing

__all__ = ["NowWatch", "Timing", "with_timing"]

#: Hidden let names: a let a policy author writes cannot contain ":" (the policy schema forbids it).
WATCH_PREFIX = "now:"
_MICROSECOND = timedelta(microseconds=1)
_ZERO = timedelta(0)
_NOW_PLACEHOLDER = re.compile(r"\{now[}.]")

# The instants at which ``X op $now`` turns, as offsets from X: ``X <= now`` turns true at X,
# ``X < now`` one microsecond later; ``eq``/``ne`` turn at X and again just after.
_OFFSETS_NOW_RIGHT: dict[str, tuple[timedelta, ...]] = {
    "le": (_ZERO,),
    "gt": (_ZERO,),
    "lt": (_MICROSECOND,),
    "ge": (_MICROSECOND,),
    "eq": (_ZERO, _MICROSECOND),
    "ne": (_ZERO, _MICROSECOND),
}
_MIRRORED = {"le": "ge", "ge": "le", "lt": "gt", "gt": "lt", "eq": "eq", "ne": "ne"}


def with_timing(policy: ir.CompiledPolicy) -> ir.CompiledPolicy:
    """The policy with a hidden let per comparison of ``$now`` it makes, and its :class:`Timing`."""
    finder = _Finder()
    subject_where = policy.subject.where
    if subject_where is not None:
        finder.walk(subject_where, nested=True)
    for let in policy.lets:
        finder.walk(let.expr, nested=False)
    if policy.when is not None:
        finder.walk(policy.when, nested=False)
    finder.walk(policy.require, nested=False)
    if policy.by is not None and _mentions_now(policy.by):
        finder.unbounded = finder.unbounded or "'by' depends on $now"
    for template in (policy.message, policy.pending_message or ""):
        if _NOW_PLACEHOLDER.search(template):
            finder.unbounded = finder.unbounded or "a message shows {now}"
    lets = list(policy.lets)
    watches = []
    for index, (value, offsets) in enumerate(finder.watches):
        name = f"{WATCH_PREFIX}{index}"
        lets.append(ir.Let(name, value))
        watches.append(NowWatch(name, offsets))
    return replace(policy, lets=tuple(lets), timing=Timing(tuple(watches), finder.unbounded))


class _Finder:
    """Walks a policy's tree for ``$now``: comparisons it can watch, and uses it cannot bound."""

    def __init__(self) -> None:
        self.watches: list[tuple[ir.Expr, tuple[timedelta, ...]]] = []
        self.unbounded: str | None = None

    def give_up(self, why: str) -> None:
        self.unbounded = self.unbounded or why

    def walk(self, node: ir.Expr | ir.Query | None, nested: bool) -> None:
        if node is None:
            return
        if isinstance(node, ir.Compare) and not nested and self._watch(node):
            return
        if isinstance(node, ir.Ref):
            if node.root == "now":
                where = "inside a query or quantifier" if nested else "outside a plain comparison"
                self.give_up(f"$now is used {where}")
            return
        if isinstance(node, ir.Call):
            if getattr(node.condition, "reads_now", True):
                self.give_up(f"named condition '{node.condition.name}' may read now")
            for _, argument in node.args:
                self.walk(argument, nested)
            return
        if isinstance(node, ir.Query):
            self.walk(node.where, nested=True)
            return
        if isinstance(node, ir.Quantifier):
            self.walk(node.items, nested)
            self.walk(node.where, nested=True)
            return
        if isinstance(node, ir.Fold):
            self.walk(node.query, nested)
            self.walk(node.initial, nested)
            self.walk(node.when, nested=True)
            self.walk(node.value, nested=True)
            return
        if isinstance(node, ir.CountDistinct):
            self.walk(node.query, nested)
            self.walk(node.value, nested=True)
            return
        for child in _children(node):
            self.walk(child, nested)

    def _watch(self, node: ir.Compare) -> bool:
        """Record a watch for ``X op $now`` (or ``$now op X``) with X free of ``$now``; whether it was."""
        op: str
        if _is_now(node.right) and _pure(node.left):
            value, op = node.left, node.op
        elif _is_now(node.left) and _pure(node.right):
            value, op = node.right, _MIRRORED[node.op]
        else:
            return False
        self.watches.append((value, _OFFSETS_NOW_RIGHT[op]))
        return True


def _is_now(node: ir.Expr) -> bool:
    return isinstance(node, ir.Ref) and node.root == "now" and not node.path


def _pure(node: ir.Expr) -> bool:
    """A value computed from constants, the subject and lets only: no query, no ``$now``, no call."""
    if isinstance(node, ir.Lit):
        return True
    if isinstance(node, ir.Ref):
        return node.root != "now"
    if isinstance(node, ir.Arith):
        return _pure(node.left) and _pure(node.right)
    if isinstance(node, ir.Coalesce):
        return all(_pure(item) for item in node.items)
    return False


def _mentions_now(node: ir.Expr | ir.Query | None) -> bool:
    if node is None:
        return False
    if isinstance(node, ir.Ref):
        return node.root == "now"
    if isinstance(node, ir.Call):
        return getattr(node.condition, "reads_now", True) or any(_mentions_now(a) for _, a in node.args)
    return any(_mentions_now(child) for child in _children(node))


def _children(node: ir.Expr | ir.Query) -> list[ir.Expr | ir.Query]:
    """The sub-expressions, conditions and queries of a node (literals and references have none)."""
    if isinstance(node, ir.All | ir.AnyOf):
        return list(node.items)
    if isinstance(node, ir.Not):
        return [node.item]
    if isinstance(node, ir.Compare | ir.Intersects | ir.Arith | ir.Order):
        return [node.left, node.right]
    if isinstance(node, ir.In):
        return [node.item, node.options]
    if isinstance(node, ir.Present):
        return [node.expr]
    if isinstance(node, ir.Matches):
        return [node.expr]
    if isinstance(node, ir.Exists | ir.Pick | ir.Count):
        return [node.query]
    if isinstance(node, ir.Coalesce):
        return list(node.items)
    if isinstance(node, ir.Find):
        return [node.text, node.phrases]
    if isinstance(node, ir.Query):
        return [node.where] if node.where is not None else []
    if isinstance(node, ir.Quantifier):
        return [node.items, node.where]
    if isinstance(node, ir.Fold):
        return [node.query, node.initial, *([node.when] if node.when is not None else []), node.value]
    if isinstance(node, ir.CountDistinct):
        return [node.query, node.value]
    if isinstance(node, ir.Call):
        return [argument for _, argument in node.args]
    return []
