"""Actions: what to do about a finding (escalate, notify, offer a concession, write to a log).

Plugins declare actions (:func:`serviceflow.hookspecs.serviceflow_actions`); :func:`run_actions`
hands each transition that breaks an obligation to each chosen action and collects what happened, so
one failing action (a CRM that is down) is reported without stopping the others. Live mode delivers
the same transitions from its outbox; the built-in ``log`` action (:mod:`.log`) writes each finding
to a log.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from serviceflow.contributions import ActionContext, ActionFunction, ActionResult
from serviceflow.errors import PLUGIN_FAILURES, ActionError
from serviceflow.findings import Evaluation
from serviceflow.transitions import Transition

__all__ = ["act", "failed", "run_actions"]


def act(name: str, function: ActionFunction, transition: Transition, context: ActionContext) -> ActionResult:
    """Run one action on one transition; a failure is a result, never an exception."""
    finding = transition.finding
    try:
        detail = function(finding, context)
    except PLUGIN_FAILURES as exc:
        retry = not isinstance(exc, ActionError) or exc.retry
        return ActionResult(
            name, finding.key, False, f"{type(exc).__name__}: {exc}", context.idempotency_key, retry
        )
    return ActionResult(name, finding.key, True, detail or "", context.idempotency_key)


def run_actions(
    changes: Iterable[Transition],
    actions: Mapping[str, ActionFunction],
    now: datetime,
    evaluation: Evaluation | None = None,
) -> list[ActionResult]:
    """Run every action on every transition, in report order; never raises for an action's failure.

    Callers pass the transitions that call for action (:data:`serviceflow.transitions.ACTIONABLE`):
    pending obligations may still be met, and engine errors are serviceflow's (or a plugin's)
    problem, not the customer's.
    """
    results: list[ActionResult] = []
    for change in changes:
        for name, function in actions.items():
            context = ActionContext(now, evaluation, change.kind.value, change.idempotency_key(name))
            results.append(act(name, function, change, context))
    return results


def failed(results: Sequence[ActionResult]) -> list[ActionResult]:
    """The results of actions that failed."""
    return [result for result in results if not result.ok]
