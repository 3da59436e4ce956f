"""The policy revision: one hash of everything that decides a verdict besides the records and ``now``.

Every decision and every finding row carries it, so that a finding can be traced to the rules that
produced it, and a service that starts with another revision than its store's cases knows they must be
evaluated again. It covers the compiled policies (their YAML as loaded, parameters, severity, calendar
choice), the calendars, the evaluator, the enrichers' configuration and the plugins' versions (whose
named conditions policies call).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from serviceflow.calendars import Calendar
from serviceflow.config import Config
from serviceflow.engine import Engine

__all__ = ["policy_revision"]

_LENGTH = 20


def policy_revision(engine: Engine, config: Config | None = None) -> str:
    """A short, stable hex digest of the engine's policies, calendars and configuration."""
    policies = [
        {
            "id": policy.id,
            "severity": policy.severity.value,
            "calendar": policy.calendar,
            "params": policy.params,
            "document": policy.document.data if policy.document is not None else repr(policy),
        }
        for policy in sorted(engine.policies, key=lambda policy: policy.id)
    ]
    plugins = sorted((info.name, info.version or "") for info in engine.plugins.plugins())
    material: dict[str, Any] = {
        "policies": policies,
        "calendars": _calendars(engine.calendars),
        "evaluator": engine.evaluator_name,
        "enrichers": config.enrichers if config is not None else {},
        "plugins": plugins,
    }
    text = json.dumps(material, sort_keys=True, default=_plain, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:_LENGTH]


def _calendars(calendars: Mapping[str, Calendar]) -> list[Any]:
    described = []
    for name in sorted(calendars):
        calendar = calendars[name]
        described.append(
            [
                name,
                calendar.timezone,
                {
                    str(day): [repr(interval) for interval in hours]
                    for day, hours in calendar.weekly_hours.items()
                },
                sorted(day.isoformat() for day in calendar.holidays),
                [repr(closure) for closure in calendar.closures],
            ]
        )
    return described


def _plain(value: Any) -> Any:
    if isinstance(value, set | frozenset):
        return sorted(map(repr, value))
    return repr(value)
