"""Actions: what to do about a finding (escalate, notify, offer a concession, write to a log).

Plugins declare actions (:func:`serviceflow.hookspecs.serviceflow_actions`); :func:`run_actions`
hands each violation of an evaluation to each chosen action and collects what happened, so one
failing action (a CRM that is down) is reported without stopping the others. Live mode and the
connectors call the same functions; the built-in ``log`` action (:mod:`.log`) writes each finding to
a log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from serviceflow.contributions import ActionContext, ActionFunction, ActionResult
from serviceflow.findings import Evaluation


def run_actions(evaluation: Evaluation, actions: Mapping[str, ActionFunction]) -> list[ActionResult]:
    """Run every action on every violation, in report order; never raises for an action's failure.

    Pending obligations and engine errors are not acted on: the first may still be met, the second
    is serviceflow's (or a plugin's) problem, not the customer's.
    """
    context = ActionContext(now=evaluation.now, evaluation=evaluation)
    results: list[ActionResult] = []
    for finding in evaluation.findings:
        for name, act in actions.items():
            try:
                detail = act(finding, context)
            except Exception as exc:
                results.append(
                    ActionResult(name, finding.key, ok=False, detail=f"{type(exc).__name__}: {exc}")
                )
            else:
                results.append(ActionResult(name, finding.key, ok=True, detail=detail or ""))
    return results


def failed(results: Sequence[ActionResult]) -> list[ActionResult]:
    """The results of actions that failed."""
    return [result for result in results if not result.ok]
