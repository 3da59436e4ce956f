"""Compile a policy's IR into the stage machine of :mod:`.steps`, following the native order of evaluation.

Per subject the native evaluator computes the lets in order, then ``when``, ``require`` and ``by``,
short-circuiting ``all``/``any`` and stopping a query at its first match where it only needs one. The
machine follows exactly that order, so the records it visits, and therefore the evidence, are the same
(the package docstring lists how each IR node compiles). Here:

* a condition becomes one :class:`~.steps.Node` with a rule per term of its normal form
  (:mod:`.normal_form`) and, for "no rule matched", rules for the terms of its negation when those fit
  (:meth:`Program.branch`), else the resolve branch. When the condition itself does not fit,
  ``all``/``any``/``not`` become a chain of nodes and each leaf is decided on its own;
* a value becomes Python steps (:class:`~.steps.Assign`) when it needs no query, else the query's
  stages (:mod:`.queries`) bind it;
* an operand that needs a query is computed first into a hidden name, left to right;
* a named condition (``ir.Call``) is opaque Python: its arguments are bound in order, the predicate's
  answer is computed into a hidden name (:class:`~.steps.CallCondition`), and a node decides
  ``eq(answer, true)``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from serviceflow.errors import EvaluatorError
from serviceflow.evaluators.durable.normal_form import Normalizer
from serviceflow.evaluators.durable.patterns import NotFlat, Term
from serviceflow.evaluators.durable.queries import QueryCompiler, Scope, scope_map
from serviceflow.evaluators.durable.rewrite import computable, is_pure, substitute
from serviceflow.evaluators.durable.rules import FactSchema, rule_clauses
from serviceflow.evaluators.durable.steps import (
    BY,
    DECIDING,
    Assign,
    CallCondition,
    CheckDeadline,
    Continue,
    Evidence,
    Facts,
    Leave,
    Node,
    SetValue,
    StartSubject,
    Step,
    Stop,
    Verdict,
)
from serviceflow.policy import ir


class Program:
    """Every policy of one evaluator, compiled once: the nodes, their rules, the fact schema."""

    def __init__(self, policies: list[ir.CompiledPolicy]) -> None:
        self.policies = policies
        self.schema = FactSchema()
        self.normalizer = Normalizer()
        self.nodes: list[Node] = []
        self._ids = itertools.count()
        self._names = itertools.count()
        self.starts = [
            _PolicyCompiler(self, index, policy).compile() for index, policy in enumerate(policies)
        ]

    def hidden(self, stem: str) -> str:
        return f"#{stem}{next(self._names)}"

    def node(self) -> Node:
        return Node(next(self._ids))

    def register(self, node: Node, terms: list[Term], action: Callable[[Node, Term], Any]) -> Node:
        """Give ``node`` one rule per term (all or none of them: a term that does not fit raises)."""
        rules = [(rule_clauses(term, node.id, node.stage, self.schema), action(node, term)) for term in terms]
        node.rules.extend(rules)
        self.nodes.append(node)
        return node

    def branch(
        self,
        node: Node,
        terms: list[Term],
        action: Callable[[Node, Term], Any],
        negation: Callable[[], list[Term]],
        otherwise: Step,
    ) -> Node:
        """Rules for ``terms``; for "no term matched", rules for ``negation()`` if it fits, else resolve.

        Direct rules for the negation save the resolve round trip; the resolve branch is the fallback
        that always works.
        """
        rules = [(rule_clauses(term, node.id, node.stage, self.schema), action(node, term)) for term in terms]
        try:
            negated = negation()
            rules += [
                (rule_clauses(term, node.id, node.stage, self.schema), on_match(node, otherwise))
                for term in negated
            ]
        except NotFlat:
            node.resolve = otherwise
        node.rules.extend(rules)
        self.nodes.append(node)
        return node


class _PolicyCompiler(QueryCompiler):
    def __init__(self, program: Program, index: int, policy: ir.CompiledPolicy) -> None:
        self.program = program
        self.index = index
        self.policy = policy
        self.normalizer = program.normalizer

    def compile(self) -> Node:
        """The policy's start node (entered once per case with only ``now`` bound).

        Subject selection counts plain elapsed time, as the native evaluator's probe does; from then on
        time arithmetic follows the policy's calendar, if it has one.
        """
        policy = self.policy
        self.normalizer.clocked = policy.calendar is not None
        names = ["now", "subject", *(let.name for let in policy.lets)]
        final: Scope = frozenset(names)
        if policy.by is None:
            violated: Step = Verdict(pending=False)
        else:
            verdict = self.cond(
                ir.Compare("gt", ir.Ref(BY), ir.Ref("now")), final | {BY}, Verdict(True), Verdict(False), True
            )
            violated = self.value(policy.by, final, BY, CheckDeadline(verdict), True)
        entry = self.cond(policy.require, final, Stop(), violated, True)
        # As natively: the lets ``when`` does not need come after it (ir.deferred_lets), the others
        # before; each in the lets' order, seeing the lets written before it.
        deferred = ir.deferred_lets(policy)
        for position in reversed(range(len(policy.lets))):
            let = policy.lets[position]
            if let.name in deferred:
                entry = self.value(let.expr, frozenset(names[: position + 2]), let.name, entry, True)
        if policy.when is not None:
            entry = self.cond(policy.when, final, entry, Stop(), True)
        for position in reversed(range(len(policy.lets))):
            let = policy.lets[position]
            if let.name not in deferred:
                entry = self.value(let.expr, frozenset(names[: position + 2]), let.name, entry, True)
        self.normalizer.clocked = False
        return self.selection(entry)

    # --- subject selection ----------------------------------------------------------------------

    def selection(self, pipeline: Step) -> Node:
        query = self.policy.subject
        start = self.program.node()
        try:
            terms = self.normalizer.terms(ir.Exists(query), True, scope_map(frozenset({"now"})), "any")
            return self.program.register(
                start, terms, lambda node, term: self._select(term, query.alias, pipeline)
            )
        except NotFlat:
            pass
        assert query.where is not None  # without a where, selection is always one rule
        record = self.program.hidden("rec")
        scope = frozenset({"now", query.alias})
        probe = self.cond(query.where, scope, StartSubject(self.index, record, pipeline), Stop(), False)
        terms = self.normalizer.terms(ir.Exists(ir.Query(query.types)), True, scope_map(frozenset({"now"})))
        return self.program.register(
            start, terms, lambda node, term: self._probe(term, query.alias, record, probe)
        )

    def _select(self, term: Term, alias: str, pipeline: Step) -> Callable[[Any, Facts], None]:
        cid = term.clauses[0].cid
        start = StartSubject(self.index, alias, pipeline)

        def select(case: Any, facts: Facts) -> None:
            env = case.envs[facts["s"]["g"]]
            case.run(start, {**env, alias: case.record(facts[cid])})

        return select

    def _probe(self, term: Term, alias: str, record_name: str, probe: Step) -> Callable[[Any, Facts], None]:
        cid = term.clauses[0].cid

        def select(case: Any, facts: Facts) -> None:
            env = case.envs[facts["s"]["g"]]
            record = case.record(facts[cid])
            deciding = (self.index, case.position(record))
            case.run(probe, {"now": env["now"], alias: record, record_name: record, DECIDING: deciding})

        return select

    # --- conditions ------------------------------------------------------------------------------

    def cond(self, cond: ir.Cond, scope: Scope, yes: Step, no: Step, collect: bool) -> Step:
        """Steps deciding ``cond`` then continuing to ``yes`` or ``no``.

        ``collect``: evidence gathered here may reach a finding (false in the subject-selection probe).
        """
        nones = "any" if not collect else ("all" if no.quiet else "no")
        try:
            return self.decide(cond, scope, yes, no, nones)
        except NotFlat:
            pass
        if isinstance(cond, ir.All):
            step = yes
            for item in reversed(cond.items):
                step = self.cond(item, scope, step, no, collect)
            return step
        if isinstance(cond, ir.AnyOf):
            step = no
            for item in reversed(cond.items):
                step = self.cond(item, scope, yes, step, collect)
            return step
        if isinstance(cond, ir.Not):
            return self.cond(cond.item, scope, no, yes, collect)
        if isinstance(cond, ir.Exists):
            return self.exists(cond, scope, yes, no, collect)
        if isinstance(cond, ir.Quantifier):
            return self.quantifier(cond, scope, yes, no, collect)
        return self.leaf(cond, scope, yes, no, collect)

    def decide(self, cond: ir.Cond, scope: Scope, yes: Step, no: Step, nones: str) -> Step:
        terms = self.normalizer.terms(cond, True, scope_map(scope), nones)
        if not terms:
            return no
        if terms == [Term()]:
            return yes
        node = self.program.node()
        return self.program.branch(
            node,
            terms,
            lambda node, term: on_match(node, yes),
            lambda: self.normalizer.terms(cond, False, scope_map(scope), nones),
            no,
        )

    def exists(self, cond: ir.Exists, scope: Scope, yes: Step, no: Step, collect: bool) -> Step:
        query = cond.query
        found, absent = (no, yes) if cond.negate else (yes, no)
        evidence = cond.negate and collect
        nones = "no" if collect else "any"
        try:
            terms = self.normalizer.terms(ir.Exists(query), True, scope_map(scope), nones)
            return self.program.branch(
                self.program.node(),
                terms,
                lambda node, term: _on_found(node, term, found, evidence),
                lambda: self.normalizer.terms(ir.Exists(query), False, scope_map(scope), nones),
                absent,
            )
        except NotFlat:
            pass
        if not cond.negate:
            return self.walk(scope, query, (), lambda loop, more: Leave(loop, found), absent, collect)
        flag = self.program.hidden("found")
        end = self.decide(ir.Compare("eq", ir.Ref(flag), ir.Lit(True)), scope | {flag}, found, absent, "no")

        def matched(loop: Node, more: Continue) -> Step:
            keep = more.keeping(flag)
            return SetValue(flag, True, Evidence(query.alias, keep) if evidence else keep)

        return SetValue(flag, False, self.walk(scope | {flag}, query, (flag,), matched, end, collect))

    def quantifier(self, cond: ir.Quantifier, scope: Scope, yes: Step, no: Step, collect: bool) -> Step:
        items = cond.items
        if isinstance(items, ir.Lit):
            values = items.value if items.value is not None else ()
            parts = tuple(substitute(cond.where, cond.alias, value) for value in values)
            if not parts:
                return yes if cond.kind == "every" else no
            return self.cond(
                ir.All(parts) if cond.kind == "every" else ir.AnyOf(parts), scope, yes, no, collect
            )
        if not isinstance(items, ir.Ref) or items.root not in scope:
            name = self.program.hidden("items")
            rest = self.quantifier(
                ir.Quantifier(cond.kind, ir.Ref(name), cond.alias, cond.where),
                scope | {name},
                yes,
                no,
                collect,
            )
            return self.value(items, scope, name, rest, collect)
        every = cond.kind == "every"
        inner = scope | {cond.alias}

        def body(loop: Node, more: Continue) -> Step:
            if every:
                return self.cond(cond.where, inner, more, Leave(loop, no), collect)
            return self.cond(cond.where, inner, Leave(loop, yes), more, collect)

        return self.item_loop(scope, items, cond.alias, body, yes if every else no)

    def leaf(self, cond: ir.Cond, scope: Scope, yes: Step, no: Step, collect: bool) -> Step:
        """A comparison whose operands need queries: compute them first, left to right, then decide."""
        if isinstance(cond, ir.Call):
            answer = self.program.hidden("call")
            decided = ir.Compare("eq", ir.Ref(answer), ir.Lit(True))
            test = self.decide(decided, scope | {answer}, yes, no, "no")
            return self.call(cond, scope, answer, test, collect)
        clocked = self.normalizer.clocked
        if isinstance(cond, ir.In) and not (is_pure(cond.options, clocked) and is_pure(cond.item, clocked)):
            # Native order: the options first; the item only when there are options.
            options: ir.Expr = cond.options
            inner = scope
            if not is_pure(options, clocked):
                name = self.program.hidden("options")
                options, inner = ir.Ref(name), scope | {name}
            item, known = cond.item, inner
            if not is_pure(item, clocked):
                name = self.program.hidden("item")
                item, known = ir.Ref(name), inner | {name}
            test = self.decide(ir.In(item, options), known, yes, no, "no")
            if item is not cond.item:
                test = self.value(cond.item, inner, item.root, test, collect)  # type: ignore[union-attr]
            check = self.decide(ir.Present(options), inner, test, no, "no")
            if options is not cond.options:
                check = self.value(cond.options, scope, options.root, check, collect)  # type: ignore[union-attr]
            return check
        fields = _OPERANDS.get(type(cond), ())
        names: dict[str, str] = {}
        for name in fields:
            if not is_pure(getattr(cond, name), clocked):
                names[name] = self.program.hidden("v")
        if not names:
            try:
                return self.decide(cond, scope, yes, no, "no")
            except NotFlat as exc:  # pragma: no cover - every pure leaf over bound values fits a rule
                raise EvaluatorError(f"durable evaluator cannot express {cond!r}: {exc}") from None
        rewritten = replace(cond, **{field: ir.Ref(name) for field, name in names.items()})  # type: ignore[arg-type]
        step = self.leaf(rewritten, scope | set(names.values()), yes, no, collect)
        for name in reversed(fields):
            if name in names:
                bound = scope | {names[f] for f in fields[: fields.index(name)] if f in names}
                step = self.value(getattr(cond, name), frozenset(bound), names[name], step, collect)
        return step

    def call(self, call: ir.Call, scope: Scope, target: str, then: Step, collect: bool) -> Step:
        """Steps binding ``target`` to a named condition's answer.

        The native evaluator evaluates the arguments left to right and then calls the predicate. A
        literal or a reference cannot fail nor visit a record, so the predicate's step reads it itself;
        every other argument (a ``latest``, a ``count``, arithmetic, a condition) is bound to a hidden
        name first, in that order, so the records its queries visit, and the evidence, are the native ones.
        """
        args: list[tuple[str, ir.Expr]] = []
        hoisted: list[tuple[ir.Expr, str, Scope]] = []
        known = scope
        for name, expr in call.args:
            if isinstance(expr, ir.Lit | ir.Ref):
                args.append((name, expr))
                continue
            hidden = self.program.hidden("arg")
            args.append((name, ir.Ref(hidden)))
            hoisted.append((expr, hidden, known))
            known = known | {hidden}
        step: Step = CallCondition(target, call.condition, tuple(args), self.policy.id, then)
        for expr, hidden, bound in reversed(hoisted):
            step = self.value(expr, bound, hidden, step, collect)
        return step

    # --- values ----------------------------------------------------------------------------------

    def value(self, expr: ir.Expr, scope: Scope, target: str, then: Step, collect: bool) -> Step:
        """Steps binding ``target`` to the value of ``expr``."""
        if computable(expr):
            return Assign(target, expr, then)
        if isinstance(expr, ir.Pick):
            return self.pick(expr, scope, target, then, collect)
        if isinstance(expr, ir.Count):
            return self.count(expr.query, scope, target, then, collect)
        if isinstance(expr, ir.CountDistinct):
            return self.count_distinct(expr, scope, target, then, collect)
        if isinstance(expr, ir.Find):
            text, phrases = self.program.hidden("text"), self.program.hidden("phrases")
            found = Assign(target, ir.Find(ir.Ref(text), ir.Ref(phrases)), then)
            after_text = self.value(expr.phrases, scope | {text}, phrases, found, collect)
            return self.value(expr.text, scope, text, after_text, collect)
        if isinstance(expr, ir.Fold):
            return self.fold(expr, scope, target, then, collect)
        if isinstance(expr, ir.Arith):
            left, right = self.program.hidden("l"), self.program.hidden("r")
            combine = Assign(target, ir.Arith(expr.op, ir.Ref(left), ir.Ref(right)), then)
            after_left = self.value(expr.right, scope | {left}, right, combine, collect)
            return self.value(expr.left, scope, left, after_left, collect)
        if isinstance(expr, ir.Coalesce):
            step: Step = SetValue(target, None, then)
            for item in reversed(expr.items):
                name = self.program.hidden("c")
                chosen = Assign(target, ir.Ref(name), then)
                check = self.decide(ir.Present(ir.Ref(name)), scope | {name}, chosen, step, "no")
                step = self.value(item, scope, name, check, collect)
            return step
        if isinstance(expr, ir.Call):
            return self.call(expr, scope, target, then, collect)
        assert isinstance(expr, _CONDITIONS), f"not an expression the compiler builds: {expr!r}"
        return self.cond(expr, scope, SetValue(target, True, then), SetValue(target, False, then), collect)


_CONDITIONS = (
    ir.Compare, ir.In, ir.Intersects, ir.Present, ir.Exists, ir.Order, ir.Quantifier, ir.Matches,
    ir.All, ir.AnyOf, ir.Not,
)  # fmt: skip
_OPERANDS: dict[type, tuple[str, ...]] = {
    ir.Compare: ("left", "right"),
    ir.Order: ("left", "right"),
    ir.Intersects: ("left", "right"),
    ir.In: ("item", "options"),
    ir.Present: ("expr",),
    ir.Matches: ("expr",),
}


# --- rule actions ---------------------------------------------------------------------------------


def on_match(node: Node, then: Step) -> Callable[[Any, Facts], None]:
    def matched(case: Any, facts: Facts) -> None:
        g = facts["s"]["g"]
        node.continue_once(case, g, then, case.envs[g])

    return matched


def _on_found(node: Node, term: Term, then: Step, evidence: bool) -> Callable[[Any, Facts], None]:
    cid = term.clauses[0].cid

    def found(case: Any, facts: Facts) -> None:
        g = facts["s"]["g"]
        env = case.envs[g]
        if evidence:
            case.add_evidence(env, case.record(facts[cid]))
        node.continue_once(case, g, then, env)

    return found
