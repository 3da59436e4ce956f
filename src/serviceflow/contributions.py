"""What a plugin can contribute: one small declaration per extension point.

Hooks (:mod:`serviceflow.hookspecs`) return lists of these; the host
(:class:`~serviceflow.plugins.host.PluginHost`) merges them by name. Each declaration names what it
adds so that ``serviceflow plugins`` can list it and an error can say whose code failed.
Named conditions are declared with :class:`serviceflow.conditions.NamedCondition`.

This module is near the bottom of the import graph (plugin authors reach it through
:mod:`serviceflow.plugin`): it imports data types only, so that the packages that implement
contributions (actions, enrichers, importers, reporters) and the host that collects them can all
depend on it without depending on each other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from serviceflow.findings import Evaluation, Finding
from serviceflow.records.raw import RawItem
from serviceflow.reporters.base import Reporter

if TYPE_CHECKING:
    from serviceflow.calendars import Calendar
    from serviceflow.evaluators.base import Evaluator
    from serviceflow.policy.ir import CompiledPolicy

#: ``(sources, stdin) -> items``: reads paths (``-`` for stdin) and yields one RawItem per record.
ReadFunction = Callable[[Sequence[str | Path], BinaryIO | None], Iterable[RawItem]]
#: ``(record_type, data) -> updates``: fields to set on a valid record's JSON data, or ``None``.
EnrichFunction = Callable[[str, Mapping[str, Any]], Mapping[str, Any] | None]


@dataclass(frozen=True)
class ReaderSpec:
    """An input format ``lint --input-format NAME`` can read.

    ``expand(paths)`` splits the command line's paths into the sources ``read`` takes one at a time
    (a directory into the files under it it can read), so that one unreadable source is reported
    without hiding the others; by default each path is one source.
    """

    name: str
    read: ReadFunction
    description: str = ""
    expand: Callable[[Sequence[str | Path]], list[str | Path]] = list
    plugin: str = ""


@dataclass(frozen=True)
class ReporterSpec:
    """An output format ``lint --format NAME`` can write: ``render(evaluation, options) -> str``."""

    name: str
    render: Reporter
    description: str = ""
    plugin: str = ""


@dataclass(frozen=True)
class RecordTypeSpec:
    """An extra record type: its name (the ``type`` field) and its JSON Schema (draft 2020-12).

    The schema may refer to the common envelope by ``$ref`` to
    ``https://serviceflow.dev/schemas/envelope.schema.json``; records of the type are validated like
    the built-in ones. A type with a built-in name replaces the built-in schema.
    """

    name: str
    schema: Mapping[str, Any]
    plugin: str = ""


@dataclass(frozen=True)
class PolicyPackSpec:
    """YAML policies a plugin ships: a directory (recursively) or a file, plus where its tests are.

    ``tests``: the pack's policy test files or directory, run by ``serviceflow test``.
    """

    name: str
    path: Path
    tests: Path | None = None
    bundled: bool = False
    """True only for serviceflow's own core policies, which ``bundled = false`` leaves out."""
    plugin: str = ""


@dataclass(frozen=True)
class EnricherSpec:
    """Derives fields or flags of valid records before evaluation.

    ``create(options)`` gets the ``[enrichers.NAME]`` table of the configuration (without
    ``enabled``) and returns the function that enriches one record. Enrichers that are not
    ``enabled_by_default`` run only when the configuration enables them.
    """

    name: str
    create: Callable[[Mapping[str, Any]], EnrichFunction]
    description: str = ""
    enabled_by_default: bool = False
    plugin: str = ""


@dataclass(frozen=True)
class ActionContext:
    """What an action knows besides its finding: why it is called, how to recognise a repeat, when.

    ``transition`` is the change that calls for the action (``violated``, ``breached``: see
    :mod:`serviceflow.transitions`); ``idempotency_key`` is the same every time this transition is
    handed to this action (a retry, another run, another worker): an action that records it (a
    comment marker, a Message-ID, a webhook id) can tell that it already acted. ``evaluation`` is the
    whole batch's evaluation in ``lint``, and ``None`` in live mode, which evaluates case by case.
    """

    now: datetime
    evaluation: Evaluation | None = None
    transition: str = "violated"
    idempotency_key: str = ""


@dataclass(frozen=True)
class ActionResult:
    """What an action did for one finding: ``ok`` false means it failed and ``detail`` says why."""

    action: str
    finding_key: tuple[str, str, str, str]
    ok: bool
    detail: str = ""
    idempotency_key: str = ""


#: ``(finding, context) -> detail``: perform the action; raise to report a failure.
ActionFunction = Callable[[Finding, ActionContext], str | None]


@dataclass(frozen=True)
class ActionSpec:
    """Something to do about a finding: escalate, notify, offer a concession, or write to a log.

    ``create(options)`` gets the ``[actions.NAME]`` table of the configuration and returns the
    function called once per transition that breaks an obligation (a violation appearing). Actions
    must be idempotent per ``context.idempotency_key``: live mode delivers at least once, so the same
    transition can come again after a crash or a retry, and a lint run hands over every violation.
    """

    name: str
    create: Callable[[Mapping[str, Any]], ActionFunction]
    description: str = ""
    plugin: str = ""


#: ``(policies, calendars) -> evaluator``: an evaluator of compiled policies (see EvaluatorSpec).
CreateEvaluator = Callable[["Sequence[CompiledPolicy]", "Mapping[str, Calendar]"], "Evaluator"]


@dataclass(frozen=True)
class EvaluatorSpec:
    """An evaluator ``--engine NAME`` (or ``evaluator = NAME``) can choose.

    ``create(policies, calendars)`` returns an object with ``name``, ``evaluate_case(case_id,
    records, now) -> CaseFindings`` and ``close()`` (:class:`serviceflow.evaluators.base.Evaluator`).
    It may raise :class:`~serviceflow.errors.EvaluatorError` when it cannot run here (a missing
    dependency); the message reaches the user as it is. Every evaluator must give the findings of the
    native one, the reference: ``serviceflow.testing`` has the conformance suite to prove it.
    """

    name: str
    create: CreateEvaluator
    description: str = ""
    plugin: str = ""


@dataclass(frozen=True)
class PluginInfo:
    """One registered plugin, as ``serviceflow plugins`` lists it."""

    name: str
    version: str | None
    source: str
    """``built-in``, ``entry point <dist>``, ``file <path>`` or ``registered`` (from Python)."""
    hooks: tuple[str, ...] = ()
    contributes: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not be loaded or whose hook failed: named, with its error, and skipped."""

    name: str
    error: str
