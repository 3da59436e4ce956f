"""Queries that visit records: ``latest``/``earliest``, ``count``, ``fold`` and the loops behind them.

A query that only needs "is there a match" or "which match is last" is one node: the match joined to
the stage fact, with ``none`` of a later (earlier) match for ``latest`` (``earliest``). ``count`` and
``fold`` walk the matches in case order with a loop: a stage fact holds the position (the rank of the
last record visited in the order :class:`~serviceflow.evaluators.base.CaseView` gives), one rule finds
the next match (a match after the position with ``none`` in between), the body runs with the match
bound, and :class:`~.steps.Continue` re-enters the loop one record further. When the query's where
does not fit in that rule, the loop visits every record of the query's types and decides the where in
its body, exactly as the native evaluator tests each candidate. Lists bound at run time are walked the
same way over their item facts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from serviceflow.evaluators.durable.patterns import (
    Attr,
    Bound,
    Clause,
    Items,
    Lit,
    NotFlat,
    Records,
    Term,
    list_operand,
    product,
)
from serviceflow.evaluators.durable.steps import (
    OUTER,
    Assign,
    Continue,
    Env,
    Evidence,
    Facts,
    Gather,
    Leave,
    Node,
    SetValue,
    Size,
    Step,
)
from serviceflow.policy import ir

if TYPE_CHECKING:
    from serviceflow.evaluators.durable.machine import Program
    from serviceflow.evaluators.durable.normal_form import Normalizer

Scope = frozenset[str]


def scope_map(scope: Scope) -> dict[str, Bound]:
    """Every name of the environment lives in the stage fact."""
    return dict.fromkeys(scope, Bound("s", "env"))


class QueryCompiler:
    """The query half of the policy compiler (see :mod:`.machine` for conditions and values)."""

    program: Program
    normalizer: Normalizer

    def cond(self, cond: ir.Cond, scope: Scope, yes: Step, no: Step, collect: bool) -> Step:
        raise NotImplementedError  # pragma: no cover - provided by the policy compiler

    def value(self, expr: ir.Expr, scope: Scope, target: str, then: Step, collect: bool) -> Step:
        raise NotImplementedError  # pragma: no cover - provided by the policy compiler

    def pick(self, expr: ir.Pick, scope: Scope, target: str, then: Step, collect: bool) -> Step:
        """``latest``/``earliest``: bind the record (and add it to the evidence) or nothing."""
        query, latest = expr.query, expr.which == "latest"
        bound = Evidence(target, then) if collect else then
        try:
            terms = self._pick_terms(query, scope, latest)
            return self.program.branch(
                self.program.node(),
                terms,
                lambda node, term: _on_pick(node, term, target, bound),
                lambda: self.normalizer.terms(ir.Exists(query), False, scope_map(scope)),
                SetValue(target, None, then),
            )
        except NotFlat:
            pass
        if not latest:
            return self.walk(
                scope,
                query,
                (),
                lambda loop, more: Assign(target, ir.Ref(query.alias), Leave(loop, bound, (target,))),
                SetValue(target, None, then),
                collect,
            )
        best = self.program.hidden("best")
        end = Assign(target, ir.Ref(best), bound)
        return SetValue(
            best,
            None,
            self.walk(
                scope | {best},
                query,
                (best,),
                lambda loop, more: Assign(best, ir.Ref(query.alias), more.keeping(best)),
                end,
                collect,
            ),
        )

    def _pick_terms(self, query: ir.Query, scope: Scope, latest: bool) -> list[Term]:
        rank = ("rank", query.types)
        first = self.normalizer.cid()
        terms = self._matches(query, scope, first)
        other = self.normalizer.cid()
        later = Lit("gt" if latest else "lt", Attr(other, rank), Attr(first, rank))
        rivals = product(self._matches(query, scope, other, join=False), [Term(lits=(later,))])
        blocked = self.normalizer.joined(other, Records(query.types), rivals, positive=False)
        return product(terms, blocked)

    def _matches(self, query: ir.Query, scope: Scope, cid: str, join: bool = True) -> list[Term]:
        """Terms for "record ``cid`` matches the query" (with the record's clause first when ``join``)."""
        inner = {**scope_map(scope), query.alias: Bound(cid, "record")}
        where = self.normalizer.terms(query.where, True, inner) if query.where is not None else [Term()]
        if not join:
            return where
        return [Term((Clause(cid, Records(query.types)), *term.clauses), term.lits) for term in where]

    def count(self, query: ir.Query, scope: Scope, target: str, then: Step, collect: bool) -> Step:
        total = self.program.hidden("n")
        bump = ir.Arith("add", ir.Ref(total), ir.Lit(1))
        walk = self.walk(
            scope | {total},
            query,
            (total,),
            lambda loop, more: Assign(total, bump, more.keeping(total)),
            Assign(target, ir.Ref(total), then),
            collect,
        )
        return SetValue(total, 0, walk)

    def count_distinct(
        self, expr: ir.CountDistinct, scope: Scope, target: str, then: Step, collect: bool
    ) -> Step:
        """Walk the matches, gathering ``value`` of each into a set; count what is not missing."""
        query = expr.query
        seen, value = self.program.hidden("seen"), self.program.hidden("value")
        inner = scope | {seen, query.alias}

        def on_match(loop: Node, more: Continue) -> Step:
            return self.value(expr.value, inner, value, Gather(seen, value, more.keeping(seen)), collect)

        walk = self.walk(scope | {seen}, query, (seen,), on_match, Size(target, seen, then), collect)
        return SetValue(seen, frozenset(), walk)

    def fold(self, expr: ir.Fold, scope: Scope, target: str, then: Step, collect: bool) -> Step:
        """Walk the matches with the accumulator bound to ``acc``; a record that changes it is evidence."""
        query = expr.query
        acc = self.program.hidden("acc")
        inner = scope | {acc, query.alias, "acc"}

        def on_match(loop: Node, more: Continue) -> Step:
            keep = more.keeping(acc)
            changed: Step = Evidence(query.alias, keep) if collect else keep
            update = self.value(expr.value, inner, acc, changed, collect)
            return update if expr.when is None else self.cond(expr.when, inner, update, more, collect)

        walk = self.walk(
            scope | {acc}, query, (acc,), on_match, Assign(target, ir.Ref(acc), then), collect, acc
        )
        return self.value(expr.initial, scope, acc, walk, collect)

    def walk(
        self,
        scope: Scope,
        query: ir.Query,
        carry: tuple[str, ...],
        on_match: Callable[[Node, Continue], Step],
        end: Step,
        collect: bool,
        acc: str | None = None,
    ) -> Step:
        """Visit the query's matches in case order, running ``on_match`` for each; then ``end``.

        When the query's where fits in the successor rule, only matches are visited; otherwise every
        record of the query's types is, and the where is decided for each, as the native evaluator does.
        """
        where = query.where
        if where is None:
            return self.loop(scope, query, None, carry, on_match, end, acc)
        try:
            return self.loop(scope, query, where, carry, on_match, end, acc)
        except NotFlat:
            pass
        inner = scope | {query.alias} | ({"acc"} if acc else set())

        def body(loop: Node, more: Continue) -> Step:
            return self.cond(where, inner, on_match(loop, more), more, collect)

        return self.loop(scope, query, None, carry, body, end, acc)

    # --- loops -----------------------------------------------------------------------------------

    def loop(
        self,
        scope: Scope,
        query: ir.Query,
        where: ir.Cond | None,
        carry: tuple[str, ...],
        body: Callable[[Node, Continue], Step],
        end: Step,
        acc: str | None = None,
    ) -> Step:
        """Visit, in case order, the records of the query's types satisfying ``where`` (None: all)."""
        node = self.program.node()
        position, current = self.program.hidden("pos"), self.program.hidden("cur")
        rank = ("rank", query.types)
        first, other = self.normalizer.cid(), self.normalizer.cid()
        after = Lit("gt", Attr(first, rank), Attr("s", ("env", position, ())))
        narrowed = ir.Query(query.types, where, query.alias)
        terms = product(self._matches(narrowed, scope | {position}, first), [Term(lits=(after,))])
        between = (
            Lit("gt", Attr(other, rank), Attr("s", ("env", position, ()))),
            Lit("lt", Attr(other, rank), Attr(first, rank)),
        )
        rivals = product(self._matches(narrowed, scope | {position}, other, join=False), [Term(lits=between)])
        terms = product(terms, self.normalizer.joined(other, Records(query.types), rivals, positive=False))
        entry = body(node, Continue(node, position, current, carry))

        def exhausted() -> list[Term]:
            later = product(
                self._matches(narrowed, scope | {position}, other, join=False),
                [Term(lits=(Lit("gt", Attr(other, rank), Attr("s", ("env", position, ()))),))],
            )
            return self.normalizer.joined(other, Records(query.types), later, positive=False)

        self.program.branch(
            node,
            terms,
            lambda node, term: _on_next(node, term, query.alias, rank, current, acc, entry, record=True),
            exhausted,
            end,
        )
        return SetValue(position, -1, node)

    def item_loop(
        self,
        scope: Scope,
        items: ir.Ref,
        alias: str,
        body: Callable[[Node, Continue], Step],
        end: Step,
    ) -> Step:
        """Visit, in list order, the items of a list bound in the environment."""
        node = self.program.node()
        position, current = self.program.hidden("pos"), self.program.hidden("cur")
        source = list_operand(items, scope_map(scope))
        assert source is not None
        first, other = self.normalizer.cid(), self.normalizer.cid()
        here = Attr("s", ("env", position, ()))
        term = Term(
            (
                Clause(first, Items(source)),
                Clause(
                    other,
                    Items(source),
                    True,
                    (
                        Lit("gt", Attr(other, ("index",)), here),
                        Lit("lt", Attr(other, ("index",)), Attr(first, ("index",))),
                    ),
                ),
            ),
            (Lit("gt", Attr(first, ("index",)), here),),
        )
        entry = body(node, Continue(node, position, current))
        last = other + "e"
        exhausted = Term((Clause(last, Items(source), True, (Lit("gt", Attr(last, ("index",)), here),)),))
        self.program.branch(
            node,
            [term],
            lambda node, term: _on_next(node, term, alias, ("index",), current, None, entry, record=False),
            lambda: [exhausted],
            end,
        )
        return SetValue(position, -1, node)


def _on_pick(node: Node, term: Term, target: str, then: Step) -> Callable[[Any, Facts], None]:
    cid = term.clauses[0].cid

    def picked(case: Any, facts: Facts) -> None:
        g = facts["s"]["g"]
        node.continue_once(case, g, then, {**case.envs[g], target: case.record(facts[cid])})

    return picked


def _on_next(
    node: Node,
    term: Term,
    alias: str,
    rank: tuple[Any, ...],
    current: str,
    acc: str | None,
    body: Step,
    record: bool,
) -> Callable[[Any, Facts], None]:
    cid = term.clauses[0].cid

    def visit(case: Any, facts: Facts) -> None:
        g = facts["s"]["g"]
        env: Env = case.envs[g]
        fact = facts[cid]
        value = case.record(fact) if record else case.item(fact)
        inner = {**env, alias: value, current: case.rank(fact, rank, record), OUTER + str(node.id): env}
        if acc is not None:
            inner["acc"] = env[acc]
        node.continue_once(case, g, body, inner)

    return visit
