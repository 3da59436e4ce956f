"""Running the compiled rules: a durable-rules ruleset without threads, and one case's facts and results.

durable-rules' ``Host`` starts two timer threads that poll every ruleset; they race the synchronous
dispatch and crash the C extension under load, and we use no timers (``now`` is a fact). So the host
here overrides ``Host._run`` (where the base class starts them) with nothing, and the ruleset
(:class:`SyncRuleset`, a ``durable.engine.Ruleset``) runs the actions an assertion triggers
synchronously, in durable-rules' own order, before the assertion returns: ``start_action_for_state``,
then ``complete_and_start_action`` until no action is left, exactly as ``Ruleset.do_actions`` does, but
without the per-action bookkeeping we do not use (a ``Closure``, a state-fact update, lease timers).
The C extension is not thread-safe: all calls go through one process-wide lock.

A durable-rules session ("state") costs about half a millisecond to create and delete (it allocates
frame indexes for every join node), and a ruleset holds at most 1,024 of them. So consecutive cases
share a session: every fact carries ``z``, the number of its case, and every rule joins on it, so a
case's rules never see another case's facts. After :data:`CASES_PER_SESSION` cases (or an error, or
:meth:`Runtime.close`) the session is deleted and the next case opens a fresh one.

A :class:`Case` drives one evaluation: it asserts the record and list-item facts, a ``now`` fact, and
each policy's start stage; then, while stages wait for their resolve branch, it asserts the resolve
facts one at a time (each only after everything before it has run to completion, which is what makes
the "no rule matched" branch sound).

A named condition that cannot decide is not a failure of the case: its step reports an engine error for
the record being decided and ends that path (:class:`~.steps.CallCondition`), the other paths and the
session carry on, and the error finding takes the place the native evaluator gives it.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
from collections import defaultdict, deque
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import durable_rules_engine
from durable import engine

from serviceflow.calendars import Calendar
from serviceflow.conditions import ConditionContext
from serviceflow.errors import EvaluatorError
from serviceflow.evaluators.base import (
    RUNTIME_ERRORS,
    CaseFindings,
    CaseView,
    engine_error,
    evidence_ids,
    policy_clock,
    render,
    watch_changes,
)
from serviceflow.evaluators.durable.encoding import encode
from serviceflow.evaluators.durable.facts import FactWriter
from serviceflow.evaluators.durable.steps import BY, DECIDING, EVIDENCE, Env, Facts, Node, Step
from serviceflow.findings import Finding, Status
from serviceflow.records.model import Record

if TYPE_CHECKING:
    from serviceflow.evaluators.durable.machine import Program

LOCK = threading.RLock()
CASES_PER_SESSION = 16
_NAMES = itertools.count()


_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class QuietHost(engine.Host):
    """A durable-rules host that starts no background threads (see the module docstring)."""

    def _run(self) -> None:
        """The base class starts its timer and dispatch threads here; this host needs neither."""


class SyncRuleset(engine.Ruleset):
    """A ruleset whose assertions run the actions they trigger before returning (see the docstring)."""

    def assert_fact(self, fact: dict[str, Any]) -> Any:
        return self._handle_result(durable_rules_engine.assert_fact(self._handle, _ENCODE(fact)), fact)

    def assert_facts(self, facts: list[dict[str, Any]]) -> Any:
        return self._handle_result(durable_rules_engine.assert_facts(self._handle, _ENCODE(facts)), facts)

    def dispatch(self, state: int) -> None:
        """Run every action pending in session ``state``, one at a time, as durable-rules orders them."""
        result = durable_rules_engine.start_action_for_state(self._handle, state)
        messages = result[1] if result else None
        while messages:
            for rule, matched in json.loads(messages).items():
                self._actions[rule]._func(matched)
            messages = durable_rules_engine.complete_and_start_action(self._handle, state)


class Runtime:
    """One evaluator's ruleset in durable-rules, and the case being evaluated."""

    def __init__(self, program: Program, calendars: Mapping[str, Calendar]) -> None:
        self.program = program
        self.calendars = calendars
        self.name = f"serviceflow-{next(_NAMES)}"
        self.current: Case | None = None
        definitions = self._definitions()
        _check_limits(program, definitions)
        with LOCK:
            self.host = QuietHost()
            self.ruleset = SyncRuleset(self.name, self.host, definitions)
        self.closed = False
        self._keys: dict[str, list[tuple[tuple[Any, ...], str]]] = {}
        self._cases = itertools.count(1)
        self._stages = itertools.count()
        self.session: str | None = None
        self._session_cases = 0

    def open_case(self) -> tuple[str, int]:
        """The session the next case runs in, and the case's number (its facts' ``z``)."""
        if self.session is None or self._session_cases >= CASES_PER_SESSION:
            self.end_session()
            self.session = f"{self.name}-{next(_NAMES)}"
        self._session_cases += 1
        return self.session, next(self._cases)

    def stage_id(self) -> int:
        """A stage fact's ``g``: unique in the session, so stages of different cases never meet."""
        return next(self._stages)

    def end_session(self) -> None:
        """Delete the current session (each case in it has fired the ``now`` rule, so this is safe)."""
        session, self.session, self._session_cases = self.session, None, 0
        if session is not None:
            with contextlib.suppress(
                durable_rules_engine.error
            ):  # it never received a fact: nothing to delete
                self.ruleset.delete_state(session)

    def keys_for(self, record_type: str) -> list[tuple[tuple[Any, ...], str]]:
        """The attributes a record fact of this type carries (computed once per type)."""
        keys = self._keys.get(record_type)
        if keys is None:
            keys = self._keys[record_type] = self.program.schema.keys_for(record_type)
        return keys

    def _definitions(self) -> dict[str, Any]:
        rules: dict[str, Any] = {}
        for node in self.program.nodes:
            for clauses, action in node.rules:
                rules[f"r{len(rules)}"] = {"all": clauses, "dist": 0, "run": self._action(action)}
            if node.resolve is not None:
                rules[f"r{len(rules)}"] = {"all": _resolve_clauses(node.id), "run": self._resolved(node)}
        # A fact that reaches no rule is rejected ("not handled", and a batch holding one loses its
        # actions), and deleting a session in which no rule fired crashes: a never-firing rule per kind
        # of fact, and one that fires once on ``now``, take care of both.
        for kind in ("r", "i", "s", "m", "x"):
            rules[f"r{len(rules)}"] = {"all": [{"a": {"k": kind}}, {"b": {"k": "!never"}}], "run": _nothing}
        rules[f"r{len(rules)}"] = {"all": [{"a": {"k": "n"}}], "run": _nothing}
        return rules

    def _action(self, action: Any) -> Any:
        def run(matched: Facts) -> None:
            case = self.current
            if case is None or case.error is not None:
                return
            case.depth += 1
            try:
                action(case, matched)
            except Exception as exc:  # reported by the driver once the assertion returns
                case.fail(exc)
            finally:
                case.depth -= 1

        return run

    def _resolved(self, node: Node) -> Any:
        def resolved(case: Case, facts: Facts) -> None:
            g = facts["x"]["g"]
            assert node.resolve is not None
            case.run(node.resolve, case.envs[g])

        return self._action(resolved)

    def assert_fact(self, fact: dict[str, Any], inside_action: bool) -> None:
        """Assert one fact; from the driver (not inside an action) also run what it triggers."""
        state = self.ruleset.assert_fact(fact)
        if not inside_action:
            self.ruleset.dispatch(state)

    def assert_facts(self, facts: list[dict[str, Any]]) -> None:
        self.ruleset.dispatch(self.ruleset.assert_facts(facts))

    def close(self) -> None:
        with LOCK:
            if not self.closed:
                self.closed = True
                self.end_session()
                durable_rules_engine.delete_ruleset(self.ruleset._handle)


# durable-rules 2.0.28's fixed sizes: rules per ruleset, children of one constant test (every stage
# node is a child of ``k == "s"``), and properties per fact (ours, plus sid, id, z, k and a key or two).
MAX_RULES = 4000
MAX_NODES = 500
MAX_ATTRIBUTES = 240


def _check_limits(program: Program, definitions: dict[str, Any]) -> None:
    too_big = []
    if len(definitions) > MAX_RULES:
        too_big.append(f"{len(definitions)} rules (at most {MAX_RULES})")
    if len(program.nodes) > MAX_NODES:
        too_big.append(f"{len(program.nodes)} stages (at most {MAX_NODES})")
    widest = max([len(node.stage.keys) for node in program.nodes] + [len(program.schema.record_keys)])
    if max(widest, len(program.schema.item_keys)) > MAX_ATTRIBUTES:
        too_big.append(f"facts of more than {MAX_ATTRIBUTES} attributes")
    if too_big:
        raise EvaluatorError(
            "these policies are too large for one durable-rules ruleset: "
            + ", ".join(too_big)
            + "; use the native evaluator or split the policies between engines"
        )


def _resolve_clauses(node_id: int) -> list[dict[str, Any]]:
    marker = {"$and": [{"k": "m"}, {"n": node_id}, {"g": {"x": "g"}}, {"z": {"x": "z"}}]}
    return [{"x": {"$and": [{"k": "x"}, {"n": node_id}]}}, {"m$not": marker}]


def _nothing(matched: Any) -> None:
    """A rule that only has to exist."""


class Case:
    """One case's evaluation: its facts in durable-rules, its environments, evidence and verdicts."""

    def __init__(self, runtime: Runtime, case_id: str, records: Sequence[Record], now: datetime) -> None:
        self.runtime = runtime
        self.program = runtime.program
        self.view = CaseView(case_id, records, now)
        self.sid, self.z = runtime.open_case()
        self.records = self.view.records
        self.positions = {id(record): index for index, record in enumerate(self.records)}
        self.envs: dict[int, Env] = {}
        self.seen: set[Any] = set()
        self.pending: deque[tuple[int, int]] = deque()
        self.evidence: dict[tuple[int, int], set[int]] = defaultdict(set)
        self.outcomes: list[tuple[tuple[int, int], bool, Env]] = []
        self.errors: list[tuple[tuple[int, int], Exception]] = []
        self.changes: list[datetime] = []
        self._contexts: dict[str, ConditionContext] = {}
        self.started: set[tuple[int, int]] = set()
        self.finished: set[tuple[int, int]] = set()
        self.error: BaseException | None = None
        self.depth = 0
        self.writer = FactWriter(
            runtime.program, runtime.keys_for, self.view, self.positions, self.sid, self.z
        )
        self.clocks = [policy_clock(policy, self.view, runtime.calendars) for policy in self.program.policies]

    # --- driving -----------------------------------------------------------------------------------

    def evaluate(self) -> CaseFindings:
        runtime = self.runtime
        runtime.current = self
        try:
            # First a fact whose (no-op) rule fires, so that deleting the session is safe whatever follows.
            self._assert({"sid": self.sid, "z": self.z, "k": "n", "now": encode(self.view.now)})
            facts = self.writer.record_facts()
            if facts:
                runtime.assert_facts(facts)
            # Each policy's start stage carries ``now``; asserted last, it is what sets the rules going.
            for start in self.program.starts:
                self.run(start, {"now": self.view.now})
            while self.pending and self.error is None:
                node_id, g = self.pending.popleft()
                self._assert({"sid": self.sid, "z": self.z, "k": "x", "n": node_id, "g": g})
        except BaseException as exc:
            runtime.end_session()  # a case left half-evaluated must not share a session with the next
            if isinstance(exc, Exception) and not isinstance(exc, EvaluatorError):
                raise EvaluatorError(f"durable-rules failed on case '{self.view.case_id}': {exc}") from exc
            raise
        finally:
            runtime.current = None
        if self.error is not None:
            runtime.end_session()
            raise self.error
        if self.started != self.finished:  # pragma: no cover - a safety net: every path ends in a verdict
            raise EvaluatorError(f"durable evaluator lost track of case '{self.view.case_id}'")
        return CaseFindings(self._findings(), self.changes)

    def _assert(self, fact: dict[str, Any]) -> None:
        self.runtime.assert_fact(fact, inside_action=self.depth > 0)
        if self.error is not None and self.depth == 0:
            raise self.error

    def run(self, step: Step, env: Env) -> None:
        """Run a step, turning a Python error in value plumbing into the native evaluator's error."""
        try:
            step(self, env)
        except RUNTIME_ERRORS as exc:
            # As natively: the record being decided gets an engine error and its path ends; outside
            # a record's path (no such record), the case cannot be evaluated at all.
            if DECIDING in env:
                self.engine_error(env, exc)
            else:
                self.fail(self._explain(exc, env))

    def fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = (
                exc
                if isinstance(exc, EvaluatorError)
                else EvaluatorError(f"durable evaluator failed on case '{self.view.case_id}': {exc!r}")
            )

    def _explain(self, exc: Exception, env: Env) -> EvaluatorError:
        key = env.get(EVIDENCE)
        if key is None:
            return EvaluatorError(f"durable evaluator failed on case '{self.view.case_id}': {exc}")
        policy = self.program.policies[key[0]]
        subject = self.records[key[1]]
        return EvaluatorError(
            f"policy '{policy.id}' failed on record '{subject.id}' of case '{self.view.case_id}': {exc}"
        )

    # --- what steps and actions call ---------------------------------------------------------------

    def once(self, key: Any) -> bool:
        if key in self.seen:
            return False
        self.seen.add(key)
        return True

    def enter(self, node: Node, env: Env) -> None:
        g = self.runtime.stage_id()
        self.envs[g] = env
        for fact in self.writer.stage_facts(node, env, g):
            self._assert(fact)
        if node.resolve is not None:
            self.pending.append((node.id, g))

    def mark(self, node: Node, g: int) -> None:
        if node.resolve is not None:
            self._assert({"sid": self.sid, "z": self.z, "k": "m", "n": node.id, "g": g})

    def record(self, fact: dict[str, Any]) -> Record:
        return self.records[fact["o"]]

    def item(self, fact: dict[str, Any]) -> Any:
        return self.writer.items[fact["l"]][fact["x"]]

    def rank(self, fact: dict[str, Any], key: tuple[Any, ...], record: bool) -> int:
        return fact[self.program.schema.record(key)] if record else fact["x"]

    def position(self, record: Record) -> int:
        return self.positions[id(record)]

    def add_evidence(self, env: Env, record: Any) -> None:
        key = env.get(EVIDENCE)
        if key is not None and isinstance(record, Record):
            self.evidence[key].add(self.positions[id(record)])

    def condition_context(self, policy_id: str) -> ConditionContext:
        """What a named condition called by this policy sees of the case (built once per policy)."""
        context = self._contexts.get(policy_id)
        if context is None:
            view = self.view
            context = ConditionContext(view.case_id, view.now, view.records, policy_id)
            self._contexts[policy_id] = context
        return context

    def engine_error(self, env: Env, error: Exception) -> None:
        """The record this path decides gets an engine error instead of a verdict; its path ends here."""
        key = env[DECIDING]
        if self.once(("error", key)):
            self.errors.append((key, error))
        if key in self.started:
            self.finished.add(key)

    def conclude(self, env: Env, finding: bool, pending: bool) -> None:
        key = env.get(EVIDENCE)
        if key is None:
            return
        self.finished.add(key)
        if finding:
            self.outcomes.append((key, pending, env))
        policy = self.program.policies[key[0]]
        if policy.timing.watches:
            self.changes.extend(watch_changes(policy, env, self.view.now))

    # --- results -----------------------------------------------------------------------------------

    def _findings(self) -> list[Finding]:
        """Verdicts and engine errors in the native order: by policy, then by subject in case order."""
        order: dict[tuple[int, int], int] = {}
        for index, policy in enumerate(self.program.policies):
            for rank, record in enumerate(self.view.of_types(policy.subject.types)):
                order[(index, self.positions[id(record)])] = rank
        results = [(key, self._finding(key, pending, env)) for key, pending, env in self.outcomes]
        for key, error in self.errors:
            policy, subject = self.program.policies[key[0]], self.records[key[1]]
            results.append((key, engine_error(policy, self.view.case_id, subject, error)))
        results.sort(key=lambda result: (result[0][0], order[result[0]]))
        return [finding for _, finding in results]

    def _finding(self, key: tuple[int, int], pending: bool, env: Env) -> Finding:
        policy = self.program.policies[key[0]]
        subject = self.records[key[1]]
        deadline = env.get(BY)
        template = policy.message_for_pending if pending else policy.message
        evidence = [self.records[o] for o in self.evidence.get(key, ())]
        return Finding(
            policy=policy.id,
            severity=policy.severity,
            status=Status.PENDING if pending else Status.VIOLATION,
            case_id=self.view.case_id,
            record_id=subject.id,
            message=render(template, env, policy.params, deadline),
            evidence=evidence_ids(subject, evidence, self.view),
            deadline=deadline if pending else None,
            origin=subject.origin,
        )
