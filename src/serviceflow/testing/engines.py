"""Engines for tests: the built-ins plus the plugins a test names, never what happens to be installed.

A plugin's tests must pass or fail the same on every machine, so nothing here calls
:func:`~serviceflow.plugins.discover`: a host starts with serviceflow's own plugin only and gets what
the test registers. Hosts are strict by default: a plugin that fails to register, or whose hook raises,
fails the test with the plugin's name and error instead of being skipped as the CLI would skip it.
No configuration file is read either: policies run with their defaults unless the test sets them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from serviceflow.config import Config, PolicySettings
from serviceflow.engine import Engine
from serviceflow.findings import Evaluation, Finding
from serviceflow.plugins import PluginHost, registered
from serviceflow.records.model import Record
from serviceflow.timeutil import parse_datetime

#: Per-policy settings as ``[policies.ID]`` would give them: ``{"params": {...}, "severity": "error"}``.
Settings = Mapping[str, Mapping[str, Any]]


def plugin_name(plugin: object) -> str:
    """The name a plugin is registered under when the test gives none: its module's or class's name."""
    if isinstance(plugin, ModuleType):
        return plugin.__name__
    return getattr(plugin, "__name__", type(plugin).__name__)


def make_host(*plugins: object, strict: bool = True) -> PluginHost:
    """A host with serviceflow's built-ins and ``plugins`` (modules or objects), nothing installed."""
    host = PluginHost(strict=strict)
    for plugin in plugins:
        host.register(plugin, plugin_name(plugin))
    return host


@contextmanager
def registered_plugin(host: PluginHost, plugin: object, name: str | None = None) -> Iterator[PluginHost]:
    """Register ``plugin`` on ``host`` for a ``with`` block; a plugin that fails to load raises."""
    with registered(host, plugin, name or plugin_name(plugin)) as same_host:
        yield same_host


def config_with(settings: Settings | None = None) -> Config:
    """A configuration with only these per-policy settings (no file, no user's policy paths)."""
    policies = {
        policy_id: PolicySettings(
            enabled=table.get("enabled", True),
            severity=table.get("severity"),
            params=dict(table.get("params", {})),
            calendar=table.get("calendar"),
        )
        for policy_id, table in (settings or {}).items()
    }
    return Config(policies=policies)


def make_engine(
    host: PluginHost | None = None,
    *,
    policies: Sequence[Path | str] = (),
    bundled: bool = False,
    evaluator: str = "native",
    settings: Settings | None = None,
) -> Engine:
    """An engine with the host's policy packs, ``policies`` (files or directories) and their settings.

    ``bundled`` is off by default: a plugin's test is about the plugin's policies, and the core ones
    would add findings of their own to the same records. Close the engine (or use it in ``with``).
    """
    return Engine.from_config(
        policy_paths=policies,
        config=config_with(settings),
        evaluator=evaluator,
        bundled=bundled,
        plugins=host if host is not None else make_host(),
    )


def as_now(now: datetime | str) -> datetime:
    """``now`` as given, or parsed from RFC 3339 text (``"2024-05-08T00:00:00Z"``)."""
    return parse_datetime(now) if isinstance(now, str) else now


def evaluate(
    engine: Engine,
    records: Iterable[Mapping[str, Any] | Record],
    now: datetime | str,
    *,
    allow_invalid: bool = False,
) -> Evaluation:
    """Evaluate ``records`` at ``now``; an invalid record raises unless ``allow_invalid``.

    The engine skips invalid records and goes on, which is right for a help desk's export but hides a
    mistake in a test's records: the policy would be "passing" on records it never saw.
    """
    evaluation = engine.evaluate(records, now=as_now(now))
    if evaluation.input_errors and not allow_invalid:
        raise InvalidTestRecords(evaluation)
    return evaluation


def outcomes(evaluation: Evaluation) -> list[tuple[str, str, str]]:
    """``(policy, record_id, status)`` of every finding, violations, pending and errors, in key order.

    What most assertions compare: which records each policy flagged, and how.
    """
    return [(finding.policy, finding.record_id, finding.status.value) for finding in all_findings(evaluation)]


def all_findings(evaluation: Evaluation) -> list[Finding]:
    """Violations, pending findings and engine errors together, sorted by case, policy and record."""
    findings = [*evaluation.violations, *evaluation.pending, *evaluation.engine_errors]
    return sorted(findings, key=lambda finding: finding.key)


class InvalidTestRecords(AssertionError):
    """A test's records were not valid: each error with its record and JSON pointer."""

    def __init__(self, evaluation: Evaluation) -> None:
        self.errors = list(evaluation.input_errors)
        lines = [f"{len(self.errors)} invalid test record(s):"]
        lines.extend(f"  {error}" for error in self.errors)
        super().__init__("\n".join(lines))
