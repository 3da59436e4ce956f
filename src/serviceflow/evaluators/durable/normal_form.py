"""Normal forms: an IR condition as the list of :class:`~.patterns.Term` whose disjunction it is.

:class:`Normalizer` pushes negation down to the literals (negation normal form) and multiplies out
``all``/``any`` (disjunctive normal form), following the native evaluator's meaning exactly:

* ``eq``/``ne`` compare encodings directly (``None`` is the MISSING sentinel, so ``None == None``);
  ``lt``/``le``/``gt``/``ge`` are guarded by "both present", and their negation is "either missing or
  the opposite comparison";
* ``coalesce`` in an operand splits into the cases "item k is the first present one";
* ``exists`` is a positive clause over records of its types; its negation (and ``none``) a negated
  clause. A ``none`` pattern must be one fact, so literals in it that do not mention its record are
  factored out (``none(x: P(x) and S)`` is ``not S or none(x: P(x))``);
* ``every``/``some`` over a list bound at run time join list-item facts (``every`` is "no item fails");
  over a literal list they are unrolled; ``in`` and ``intersects`` are ``some`` over items (``in`` a
  literal list is a disjunction of ``eq``);
* ``before``/``after`` compare the records' ``seq``; ``matches`` reads a flag the fact carries, and so
  does ``in`` a string (a substring test);
* ``present``/``absent`` test the MISSING sentinel (an ``add``/``sub`` is missing if an operand is).

What cannot be said this way (a value node such as ``latest`` inside the condition, a named condition,
a ``none`` whose evidence matters, a join inside ``none``, too many alternatives) raises
:class:`~.patterns.NotFlat`; the caller then compiles the condition step by step instead.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from serviceflow.evaluators.durable.encoding import MISSING, iteration, local_truth, matches
from serviceflow.evaluators.durable.patterns import (
    ENV,
    FALSE,
    NEGATED,
    TRUE,
    Attr,
    Bound,
    Calc,
    Clause,
    Const,
    Items,
    Lit,
    NotFlat,
    Operand,
    Records,
    Term,
    list_operand,
    lit_owners,
    operand,
    presence,
    presence_lits,
    product,
    rename,
    seq_operand,
    union,
)
from serviceflow.evaluators.durable.rewrite import (
    expand_coalesce,
    has_value_node,
    operands,
    roots,
    substitute,
)
from serviceflow.policy import ir


@dataclass
class Normalizer:
    """Builds terms; clause ids are unique across everything one normalizer builds."""

    counter: Callable[[], int] = field(default_factory=lambda: itertools.count().__next__)
    hidden: Callable[[], int] = field(default_factory=lambda: itertools.count().__next__)
    local_conds: list[ir.Cond] = field(default_factory=list)
    clocked: bool = False
    """Time arithmetic follows a calendar: ``add``/``sub`` in a condition must be computed first."""

    def cid(self) -> str:
        return f"c{self.counter()}"

    def terms(
        self, cond: ir.Cond, positive: bool, scope: Mapping[str, Bound], nones: str = "no"
    ) -> list[Term]:
        """Terms whose disjunction is ``cond`` (or its negation when ``positive`` is false).

        ``nones`` says when a ``none`` (whose matches are evidence) may be matched as a plain negated
        clause: ``"any"`` where evidence is discarded (subject selection), ``"all"`` where it is reached
        only through ``all`` and its evidence cannot reach a finding, ``"no"`` otherwise.
        """
        inner = "any" if nones == "any" else "no"
        if isinstance(cond, ir.All | ir.AnyOf):
            conjunctive = isinstance(cond, ir.All) == positive
            keep = nones if isinstance(cond, ir.All) and positive else inner
            parts = [self.terms(item, positive, scope, keep) for item in cond.items]
            return product(*parts) if conjunctive else union(*parts)
        if isinstance(cond, ir.Not):
            return self.terms(cond.item, not positive, scope, inner)
        if isinstance(cond, ir.Exists):
            if cond.negate and not (nones == "any" or (nones == "all" and positive)):
                raise NotFlat("a none whose evidence may matter")
            return self.exists(cond.query, positive != cond.negate, scope, inner)
        if isinstance(cond, ir.Quantifier):
            if has_value_node(cond.items, self.clocked):
                raise NotFlat("value node in a quantifier")
            return self.quantifier(cond, positive, scope, inner)
        if isinstance(cond, ir.Call):
            raise NotFlat("a named condition is Python: its answer is computed, then decided")
        if any(has_value_node(expr, self.clocked) for expr in operands(cond)):
            raise NotFlat("value node in a condition")
        expanded = expand_coalesce(cond)
        if expanded is not None:
            return self.terms(expanded, positive, scope, inner)
        return self.leaf(cond, positive, scope)

    # --- leaves -----------------------------------------------------------------------------

    def leaf(self, cond: ir.Cond, positive: bool, scope: Mapping[str, Bound]) -> list[Term]:
        if isinstance(cond, ir.Compare):
            return self.compare(cond.op, operand(cond.left, scope), operand(cond.right, scope), positive)
        if isinstance(cond, ir.Present):
            return presence(operand(cond.expr, scope), positive != cond.negate)
        if isinstance(cond, ir.Order):
            op = "lt" if cond.op == "before" else "gt"
            return self.compare(op, seq_operand(cond.left, scope), seq_operand(cond.right, scope), positive)
        if isinstance(cond, ir.Matches):
            return self.matches(cond, positive, scope)
        if isinstance(cond, ir.In):
            return self.membership(cond, positive, scope)
        if isinstance(cond, ir.Intersects):
            return self.intersects(cond, positive, scope)
        raise NotFlat(f"unsupported condition {type(cond).__name__}")  # pragma: no cover

    def compare(self, op: str, left: Operand, right: Operand, positive: bool) -> list[Term]:
        if isinstance(left, Const) and isinstance(right, Const):
            return TRUE if _static_compare(op, left.value, right.value) == positive else FALSE
        guards = presence_lits(left) + presence_lits(right)
        if op in ("eq", "ne"):
            wants_equal = (op == "eq") == positive
            if not isinstance(left, Calc) and not isinstance(right, Calc):
                return [Term(lits=(Lit("eq" if wants_equal else "ne", left, right),))]
            both = product(presence(left, True), presence(right, True))
            if wants_equal:
                return union(
                    product(both, [Term(lits=(Lit("eq", left, right, guards),))]),
                    product(presence(left, False), presence(right, False)),
                )
            return union(
                product(both, [Term(lits=(Lit("ne", left, right, guards),))]),
                product(presence(left, True), presence(right, False)),
                product(presence(left, False), presence(right, True)),
            )
        both = product(presence(left, True), presence(right, True))
        if positive:
            return product(both, [Term(lits=(Lit(op, left, right, guards),))])
        return union(
            presence(left, False),
            presence(right, False),
            product(both, [Term(lits=(Lit(NEGATED[op], left, right, guards),))]),
        )

    def matches(self, cond: ir.Matches, positive: bool, scope: Mapping[str, Bound]) -> list[Term]:
        expr = cond.expr
        if isinstance(expr, ir.Lit):
            return TRUE if bool(matches(expr.value, cond.pattern)) == positive else FALSE
        if isinstance(expr, ir.Ref) and expr.root in scope:
            bound = scope[expr.root]
            key = (
                ("match", expr.root, expr.path, cond.pattern)
                if bound.kind == "env"
                else ("match", expr.path, cond.pattern)
            )
            return [Term(lits=(Lit("eq", Attr(bound.owner, key), Const(int(positive))),))]
        return self.flag(cond, positive, scope)

    def flag(self, cond: ir.Cond, positive: bool, scope: Mapping[str, Bound]) -> list[Term]:
        """A stage-local condition whose truth the stage fact carries (see encoding.local_truth)."""
        if any(scope.get(root, ENV).kind != "env" for root in roots(cond)):
            raise NotFlat("a local condition over a joined fact")
        self.local_conds.append(cond)
        key = ("truth", len(self.local_conds) - 1)
        return [Term(lits=(Lit("eq", Attr("s", key), Const(int(positive))),))]

    def membership(self, cond: ir.In, positive: bool, scope: Mapping[str, Bound]) -> list[Term]:
        options = cond.options
        if isinstance(options, ir.Lit):
            values = options.value
            if values is None:
                return FALSE if positive else TRUE
            if isinstance(values, str):
                if isinstance(cond.item, ir.Lit):
                    return TRUE if (cond.item.value in values) == positive else FALSE
                return self.flag(cond, positive, scope)
            choices = iteration(values)
            if choices is None:
                return self.flag(cond, positive, scope)
            alternatives = tuple(ir.Compare("eq", cond.item, ir.Lit(value)) for value in choices)
            return (
                self.terms(ir.AnyOf(alternatives), positive, scope)
                if alternatives
                else (FALSE if positive else TRUE)
            )
        alias = f"#in{self.hidden()}"
        items = self.quantifier(
            ir.Quantifier("some", options, alias, ir.Compare("eq", ir.Ref(alias), cond.item)), positive, scope
        )
        if any(scope.get(root, ENV).kind != "env" for root in roots(cond)):
            return items
        # ``in`` a string is a substring test: the stage fact says so when the options are a string.
        self.local_conds.append(cond)
        substring = Attr("s", ("substring", len(self.local_conds) - 1))
        if positive:
            return union(items, [Term(lits=(Lit("eq", substring, Const(1)),))])
        return product(items, [Term(lits=(Lit("eq", substring, Const(0)),))])

    def intersects(self, cond: ir.Intersects, positive: bool, scope: Mapping[str, Bound]) -> list[Term]:
        left, right = cond.left, cond.right
        if isinstance(left, ir.Lit) and not isinstance(right, ir.Lit):
            left, right = right, left
        if isinstance(right, ir.Lit):
            values = right.value
            if isinstance(left, ir.Lit) or not values:
                try:
                    truth = bool(local_truth(ir.Intersects(left, right), {}))
                except TypeError:
                    truth = False
                return TRUE if truth == positive else FALSE
            alias = f"#x{self.hidden()}"
            member = ir.In(ir.Ref(alias), ir.Lit(tuple(iteration(values) or ())))
            return self.quantifier(ir.Quantifier("some", left, alias, member), positive, scope)
        outer, inner = f"#x{self.hidden()}", f"#x{self.hidden()}"
        shared = ir.Quantifier("some", right, inner, ir.Compare("eq", ir.Ref(outer), ir.Ref(inner)))
        return self.quantifier(ir.Quantifier("some", left, outer, shared), positive, scope)

    # --- joins --------------------------------------------------------------------------------

    def exists(
        self, query: ir.Query, positive: bool, scope: Mapping[str, Bound], nones: str = "no"
    ) -> list[Term]:
        """``exists`` (positive) or its negation over the query's records."""
        cid = self.cid()
        inner = {**scope, query.alias: Bound(cid, "record")}
        where = self.terms(query.where, True, inner, nones) if query.where is not None else TRUE
        return self.joined(cid, Records(query.types), where, positive)

    def quantifier(
        self, node: ir.Quantifier, positive: bool, scope: Mapping[str, Bound], nones: str = "no"
    ) -> list[Term]:
        items = node.items
        expanded = expand_coalesce(node)
        if expanded is not None:
            return self.terms(expanded, positive, scope, nones)
        if isinstance(items, ir.Lit):
            values = iteration(items.value) if items.value is not None else []
            if values is None:
                raise NotFlat("iterating a constant that is not a list")
            parts = tuple(substitute(node.where, node.alias, value) for value in values)
            combined: ir.Cond = ir.All(parts) if node.kind == "every" else ir.AnyOf(parts)
            if not parts:
                return TRUE if (node.kind == "every") == positive else FALSE
            return self.terms(combined, positive, scope, nones)
        if not isinstance(items, ir.Ref):
            raise NotFlat("iterating a computed value")
        source = list_operand(items, scope)
        if source is None:
            return TRUE if (node.kind == "every") == positive else FALSE
        cid = self.cid()
        inner = {**scope, node.alias: Bound(cid, "item")}
        some = node.kind == "some"
        where = self.terms(node.where, some, inner, nones)
        return self.joined(cid, Items(source), where, some == positive)

    def joined(self, cid: str, source: Records | Items, where: list[Term], positive: bool) -> list[Term]:
        """``some fact of source satisfies where`` (positive) or ``none does``.

        "None does" is one ``none`` clause per term of ``where``. A ``none`` pattern is one fact, so a
        term's literals that do not mention the fact are factored out: ``none(x: P(x) and S)`` is
        ``not S or (S and none(x: P(x)))``; literals every term shares are factored out once.
        """
        if positive:
            return [Term((Clause(cid, source), *term.clauses), term.lits) for term in where]
        patterns = []
        for index, term in enumerate(where):
            if term.clauses:
                raise NotFlat("a join inside none")
            copy = f"{cid}n{index}"
            lits = tuple(rename(lit, cid, copy) for lit in term.lits)
            inside = tuple(lit for lit in lits if copy in lit_owners(lit))
            outside = tuple(lit for lit in lits if copy not in lit_owners(lit))
            patterns.append((Clause(copy, source, True, inside), outside))
        shared = [lit for lit in (patterns[0][1] if patterns else ()) if all(lit in p[1] for p in patterns)]
        parts = [[Term(lits=tuple(shared))]]
        for clause, outside in patterns:
            own = tuple(lit for lit in outside if lit not in shared)
            parts.append(union(_escapes(own), [Term((clause,), own)]) if own else [Term((clause,))])
        return union(_escapes(tuple(shared)), product(*parts))


def _escapes(lits: tuple[Lit, ...]) -> list[Term]:
    """The terms of ``not (l1 and l2 ...)``, each literal negated where its guards hold."""
    return [Term(lits=(lit.negated(), *lit.guards)) for lit in lits]


def _static_compare(op: str, left: Any, right: Any) -> bool:
    if op == "eq":
        return bool(left == right)
    if op == "ne":
        return bool(left != right)
    if left == MISSING or right == MISSING:
        return False
    try:
        return bool({"lt": left < right, "le": left <= right, "gt": left > right, "ge": left >= right}[op])
    except TypeError:
        return False
