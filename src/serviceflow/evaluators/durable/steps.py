"""The pieces of a compiled policy: stage nodes (matched by durable-rules) and the Python steps between them.

A policy runs, per subject, as a path through a graph. A :class:`Node` is a point where durable-rules
decides: entering it asserts a *stage fact* (``k: "s"``, the node id ``n``, a session-unique ``g`` and
the environment values its rules compare), and its rules join that fact with record and list-item
facts; the action of a matching rule continues along the graph, once per stage fact. The branch for
"no rule matched" is either rules for the negated condition or, when those cannot be written, a
*resolve* branch: after durable-rules has finished everything the stage fact set off, the driver
asserts a resolve fact and the rule ``resolve(n, g) and none(marker(n, g))`` fires exactly when no rule
of the node matched (negation as failure, decided by durable-rules; a matching rule asserts the marker).

Between nodes run small Python steps that only move values: bind a let to a pure expression, bind a
loop's next candidate, record evidence, report the verdict, and bind a named condition's answer (the
one step that runs code outside serviceflow: a plugin's predicate). Each step is a callable
``step(case, env)``; ``env`` maps names (user names and ``#``-prefixed hidden ones) to exact Python
values and is never mutated, so a path can be resumed from any stage.

A path ends in a verdict, or, when a named condition cannot decide, in an engine error for the record
being decided: the step reports it and runs nothing further, so the rest of that path never starts.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from serviceflow.conditions import ConditionError, NamedCondition
from serviceflow.evaluators.durable.encoding import CLOCK, pure_value
from serviceflow.evaluators.durable.rules import StageSchema
from serviceflow.policy import ir

if TYPE_CHECKING:
    from serviceflow.evaluators.durable.session import Case

Env = dict[str, Any]
Facts = dict[str, dict[str, Any]]
Action = Callable[["Case", Facts], None]

EVIDENCE = "#ev"
BY = "#by"
OUTER = "#outer"
DECIDING = "#deciding"
"""(policy index, record position) of the record a path decides, bound from the subject-selection probe
on (unlike :data:`EVIDENCE`, which only a started subject has): an engine error names that record."""


class Step(Protocol):
    quiet: bool

    def __call__(self, case: Case, env: Env) -> None: ...


class Node:
    """A stage of the machine: its rules (added by the compiler) decide where a path goes next."""

    quiet = False

    def __init__(self, node_id: int) -> None:
        self.id = node_id
        self.stage = StageSchema()
        self.rules: list[tuple[list[dict[str, Any]], Action]] = []
        self.resolve: Step | None = None

    def __call__(self, case: Case, env: Env) -> None:
        case.enter(self, env)

    def continue_once(self, case: Case, g: int, step: Step, env: Env) -> None:
        """Take the node's matching branch once per stage fact, however many rule matches led here."""
        if case.once((self.id, g)):
            case.mark(self, g)
            case.run(step, env)


class Assign:
    """Bind ``target`` to a pure expression (literal, reference, add/sub, coalesce) of the environment."""

    quiet = False

    def __init__(self, target: str, expr: ir.Expr, then: Step) -> None:
        self.target, self.expr, self.then = target, expr, then

    def __call__(self, case: Case, env: Env) -> None:
        self.then(case, {**env, self.target: pure_value(self.expr, env)})


class CallCondition:
    """Bind ``target`` to a named condition's answer for arguments that are bound names or literals.

    The compiler has already bound every other argument to a hidden name, in the native order. When the
    condition cannot decide (:class:`~serviceflow.conditions.ConditionError`) the record being decided
    gets an engine error and the path stops here, as the native evaluator stops deciding that subject;
    the error never reaches durable-rules, which is in the middle of an assertion.
    """

    quiet = False

    def __init__(
        self,
        target: str,
        condition: NamedCondition,
        args: tuple[tuple[str, ir.Expr], ...],
        policy_id: str,
        then: Step,
    ) -> None:
        self.target = target
        self.condition = condition
        self.args = args
        self.policy_id = policy_id
        self.then = then

    def __call__(self, case: Case, env: Env) -> None:
        values = {name: pure_value(expr, env) for name, expr in self.args}
        try:
            answer = self.condition.call(case.condition_context(self.policy_id), values)
        except ConditionError as error:
            case.engine_error(env, error)
            return
        self.then(case, {**env, self.target: answer})


class SetValue:
    quiet = False

    def __init__(self, target: str, value: Any, then: Step) -> None:
        self.target, self.value, self.then = target, value, then

    def __call__(self, case: Case, env: Env) -> None:
        self.then(case, {**env, self.target: self.value})


class Gather:
    """Add the value bound to ``name`` to the set bound to ``into`` (``count_distinct``)."""

    quiet = False

    def __init__(self, into: str, name: str, then: Step) -> None:
        self.into, self.name, self.then = into, name, then

    def __call__(self, case: Case, env: Env) -> None:
        self.then(case, {**env, self.into: env[self.into] | {env[self.name]}})


class Size:
    """Bind ``target`` to how many values other than missing the set ``source`` holds."""

    quiet = False

    def __init__(self, target: str, source: str, then: Step) -> None:
        self.target, self.source, self.then = target, source, then

    def __call__(self, case: Case, env: Env) -> None:
        self.then(case, {**env, self.target: len(env[self.source] - {None})})


class Evidence:
    """Add the record bound to ``name`` (if any) to the subject's evidence."""

    quiet = False

    def __init__(self, name: str, then: Step) -> None:
        self.name, self.then = name, then

    def __call__(self, case: Case, env: Env) -> None:
        case.add_evidence(env, env.get(self.name))
        self.then(case, env)


class Continue:
    """Back to a loop's stage, past the current candidate, keeping ``carry`` (accumulators)."""

    quiet = False

    def __init__(self, loop: Node, position: str, current: str, carry: tuple[str, ...] = ()) -> None:
        self.loop, self.position, self.current, self.carry = loop, position, current, carry

    def __call__(self, case: Case, env: Env) -> None:
        outer = env[OUTER + str(self.loop.id)]
        self.loop(case, {**outer, self.position: env[self.current], **{k: env[k] for k in self.carry}})

    def keeping(self, *names: str) -> Continue:
        """The same continuation, also carrying ``names`` (accumulators the body updated)."""
        return Continue(self.loop, self.position, self.current, self.carry + names)


class Leave:
    """Out of a loop's body to ``then``, restoring the names the body bound, keeping ``carry``."""

    quiet = False

    def __init__(self, loop: Node, then: Step, carry: tuple[str, ...] = ()) -> None:
        self.loop, self.then, self.carry = loop, then, carry

    def __call__(self, case: Case, env: Env) -> None:
        outer = env[OUTER + str(self.loop.id)]
        self.then(case, {**outer, **{k: env[k] for k in self.carry}})


class CheckDeadline:
    """The native rule: ``by`` must give a date-time (or nothing)."""

    quiet = False

    def __init__(self, then: Step) -> None:
        self.then = then

    def __call__(self, case: Case, env: Env) -> None:
        deadline = env.get(BY)
        if deadline is not None and not isinstance(deadline, datetime):
            raise TypeError(f"'by' must give a date-time, got {deadline!r}")
        self.then(case, env)


class StartSubject:
    """A subject passed selection: start its evaluation with ``now``, ``subject`` and the policy's clock."""

    quiet = False

    def __init__(self, policy_index: int, record_name: str, then: Step) -> None:
        self.policy_index, self.record_name, self.then = policy_index, record_name, then

    def __call__(self, case: Case, env: Env) -> None:
        subject = env[self.record_name]
        key = (self.policy_index, case.position(subject))
        if case.once(("subject", key)):
            case.started.add(key)
            clock = case.clocks[self.policy_index]
            start = {"now": env["now"], "subject": subject, EVIDENCE: key, DECIDING: key, CLOCK: clock}
            # Through case.run, so that a value error on this subject's path is its engine error.
            case.run(self.then, start)


class Verdict:
    """The obligation is not met: a finding, pending when ``pending`` (the deadline is after now)."""

    quiet = False

    def __init__(self, pending: bool) -> None:
        self.pending = pending

    def __call__(self, case: Case, env: Env) -> None:
        case.conclude(env, finding=True, pending=self.pending)


class Stop:
    """No finding (the policy does not apply, or the obligation is met)."""

    quiet = True

    def __call__(self, case: Case, env: Env) -> None:
        case.conclude(env, finding=False, pending=False)
