"""IR rewrites the durable compiler needs: finding value nodes, splitting coalesce, substituting constants.

These change the shape of a condition, never its meaning under the native evaluator's rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from serviceflow.evaluators.durable.encoding import walk
from serviceflow.policy import ir


def operands(cond: ir.Cond) -> tuple[ir.Expr, ...]:
    if isinstance(cond, ir.Compare | ir.Order):
        return (cond.left, cond.right)
    if isinstance(cond, ir.Intersects):
        return (cond.left, cond.right)
    if isinstance(cond, ir.In):
        return (cond.item, cond.options)
    if isinstance(cond, ir.Present | ir.Matches):
        return (cond.expr,)
    if isinstance(cond, ir.Quantifier):
        return (cond.items,)
    return ()


def has_value_node(expr: ir.Expr, clocked: bool = False) -> bool:
    """Whether evaluating ``expr`` needs more than a rule operand can say.

    Queries and conditions used as values always do; so does ``add``/``sub`` when the policy counts
    time on a calendar (``clocked``): business-hours arithmetic is not durable-rules' ``$add``. A
    ``find`` of literal phrases in a bound text is an operand: the fact carries its result.
    """
    if isinstance(expr, ir.Lit | ir.Ref):
        return False
    if isinstance(expr, ir.Arith):
        return clocked or has_value_node(expr.left) or has_value_node(expr.right)
    if isinstance(expr, ir.Coalesce):
        return any(has_value_node(item, clocked) for item in expr.items)
    if isinstance(expr, ir.Find):
        return not (isinstance(expr.text, ir.Ref) and isinstance(expr.phrases, ir.Lit))
    return True


def is_pure(expr: ir.Expr, clocked: bool = False) -> bool:
    """A rule operand: a value durable-rules can compare (see :func:`has_value_node`)."""
    return not has_value_node(expr, clocked)


def computable(expr: ir.Expr) -> bool:
    """A value Python computes from bound values alone (no query, no condition)."""
    if isinstance(expr, ir.Lit | ir.Ref):
        return True
    if isinstance(expr, ir.Arith):
        return computable(expr.left) and computable(expr.right)
    if isinstance(expr, ir.Coalesce):
        return all(computable(item) for item in expr.items)
    if isinstance(expr, ir.Find):
        return computable(expr.text) and computable(expr.phrases)
    return False


def roots(cond: ir.Cond) -> set[str]:
    found: set[str] = set()

    def visit(expr: ir.Expr) -> None:
        if isinstance(expr, ir.Ref):
            found.add(expr.root)
        elif isinstance(expr, ir.Arith):
            visit(expr.left)
            visit(expr.right)
        elif isinstance(expr, ir.Coalesce):
            for item in expr.items:
                visit(item)

    for expr in operands(cond):
        visit(expr)
    return found


def expand_coalesce(cond: ir.Cond) -> ir.Cond | None:
    """Split a leaf whose operand holds a ``coalesce`` into the cases of which item is chosen."""
    for index, expr in enumerate(operands(cond)):
        found = _first_coalesce(expr)
        if found is None:
            continue
        coalesce, rebuild = found
        cases: list[ir.Cond] = []
        for position, item in enumerate(coalesce.items):
            earlier = tuple(ir.Present(prior, negate=True) for prior in coalesce.items[:position])
            chosen = _with_operand(cond, index, rebuild(item))
            cases.append(ir.All((*earlier, ir.Present(item), chosen)))
        none_present = tuple(ir.Present(item, negate=True) for item in coalesce.items)
        cases.append(ir.All((*none_present, _with_operand(cond, index, rebuild(ir.Lit(None))))))
        return ir.AnyOf(tuple(cases))
    return None


def _first_coalesce(expr: ir.Expr) -> tuple[ir.Coalesce, Callable[[ir.Expr], ir.Expr]] | None:
    if isinstance(expr, ir.Coalesce):
        return expr, lambda replacement: replacement
    if isinstance(expr, ir.Arith):
        for side in ("left", "right"):
            found = _first_coalesce(getattr(expr, side))
            if found is not None:
                coalesce, rebuild = found
                return coalesce, lambda item, side=side, rebuild=rebuild: replace(
                    expr, **{side: rebuild(item)}
                )
    return None


def _with_operand(cond: ir.Cond, index: int, value: ir.Expr) -> ir.Cond:
    names = {
        ir.Compare: ("left", "right"),
        ir.Order: ("left", "right"),
        ir.Intersects: ("left", "right"),
        ir.In: ("item", "options"),
        ir.Present: ("expr",),
        ir.Matches: ("expr",),
        ir.Quantifier: ("items",),
    }[type(cond)]
    return replace(cond, **{names[index]: value})  # type: ignore[arg-type]


def substitute(node: Any, alias: str, value: Any) -> Any:
    """``node`` with ``$alias.path`` replaced by the constant it denotes (respecting shadowing)."""
    if isinstance(node, ir.Ref):
        if node.root != alias:
            return node
        return ir.Lit(walk(value, node.path))
    if isinstance(node, ir.Lit) or node is None:
        return node
    if isinstance(node, ir.Query):
        where = node.where if node.alias == alias else substitute(node.where, alias, value)
        return replace(node, where=where)
    if isinstance(node, ir.Quantifier):
        where = node.where if node.alias == alias else substitute(node.where, alias, value)
        return replace(node, items=substitute(node.items, alias, value), where=where)
    if isinstance(node, ir.CountDistinct):
        shadowed = node.query.alias == alias
        return replace(
            node,
            query=substitute(node.query, alias, value),
            value=node.value if shadowed else substitute(node.value, alias, value),
        )
    if isinstance(node, ir.Fold):
        shadowed = alias in (node.query.alias, "acc")
        return replace(
            node,
            query=substitute(node.query, alias, value),
            initial=substitute(node.initial, alias, value),
            when=node.when if shadowed else substitute(node.when, alias, value),
            value=node.value if shadowed else substitute(node.value, alias, value),
        )
    if isinstance(node, ir.All | ir.AnyOf | ir.Coalesce):
        return replace(node, items=tuple(substitute(item, alias, value) for item in node.items))
    if isinstance(node, ir.Call):
        return replace(node, args=tuple((name, substitute(expr, alias, value)) for name, expr in node.args))
    changes = {
        name: substitute(getattr(node, name), alias, value)
        for name in ("left", "right", "item", "options", "expr", "query", "text", "phrases")
        if hasattr(node, name)
    }
    return replace(node, **changes)
