"""The hook reference: every way a plugin extends serviceflow.

A plugin is a module or object with functions named like the hooks below, marked with
``serviceflow.hookimpl``::

    from serviceflow import hookimpl
    from serviceflow.conditions import NamedCondition

    @hookimpl
    def serviceflow_named_conditions():
        return [NamedCondition("reason-recorded", reason_recorded, {"commitment": "record"})]

It is found through the ``serviceflow`` entry-point group of an installed package, or as a single
``.py`` file in a ``--plugins-dir`` directory (see docs/plugins.md). A hook may declare only the
parameters it uses (pluggy passes them by name).

**How results combine.** Every hook here returns a list of declarations and none is ``firstresult``:
the host calls every plugin's implementation and merges the lists by name. When two plugins declare
the same name, the one registered later wins (installed plugins after the built-ins, ``--plugins-dir``
files after installed plugins); serviceflow's own defaults are ``trylast``, so any plugin can replace a
built-in reader, reporter, enricher, action or record type by declaring its name. Each hook is called
once per run, when the engine is built, so a declaration may be computed (read a file, a setting).

**Failures.** A hook that raises, or returns something that is not a list of the declared type, is
reported with the plugin's name and skipped (fatal with ``--strict-plugins``); the rest of the plugin
and every other plugin still load.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from serviceflow.conditions import NamedCondition
    from serviceflow.contributions import (
        ActionSpec,
        EnricherSpec,
        EvaluatorSpec,
        PolicyPackSpec,
        ReaderSpec,
        RecordTypeSpec,
        ReporterSpec,
    )

PROJECT = "serviceflow"

hookspec = pluggy.HookspecMarker(PROJECT)
#: Mark a plugin's hook functions with this (re-exported as ``serviceflow.hookimpl``).
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def serviceflow_policy_packs() -> list[PolicyPackSpec]:
    """Policies the plugin ships, as YAML files, and their tests.

    Returns:
        A list of :class:`~serviceflow.plugin.PolicyPackSpec`, each a directory
        (searched recursively; ``*.test.yaml`` files and ``tests/`` folders are not policies) or one
        file, with optionally the directory of its policy tests for ``serviceflow test``.

    The policies load with the bundled ones and those named by ``--policies``/``policy-paths``; users
    configure them in ``[policies.<id>]`` like any other. Two policies with one id, from any sources,
    are an error naming both files. Not ``firstresult``: every pack of every plugin is loaded.
    """
    raise NotImplementedError  # pragma: no cover - a specification, never called


@hookspec
def serviceflow_named_conditions() -> list[NamedCondition]:
    """Python predicates policies call by name (``condition: {name: N, args: {...}}``).

    Returns:
        A list of :class:`~serviceflow.conditions.NamedCondition`: a name, a function
        ``function(context, **args) -> bool``, and its declared arguments with their types.

    The compiler checks each call's name and arguments when the policy loads. At evaluation the
    function gets a :class:`~serviceflow.conditions.ConditionContext` (the case's records known at
    ``now``, the policy id) and the arguments' values; it must return ``True`` or ``False``. Raising or
    returning anything else makes an engine-error finding naming this plugin, the condition and the
    policy, and the run exits 2: never a crash, never a silent pass. Not ``firstresult``: on a name
    clash the plugin registered later wins.
    """
    raise NotImplementedError  # pragma: no cover - a specification, never called


@hookspec
def serviceflow_record_types() -> list[RecordTypeSpec]:
    """Extra record types and their JSON Schemas.

    Returns:
        A list of :class:`~serviceflow.plugin.RecordTypeSpec` (type name, draft 2020-12
        schema, which may ``$ref`` the common envelope).

    Records of these types are validated exactly like the built-in ones (errors name file, line and
    JSON pointer) and policies may select them in ``for_each`` and queries. A schema that is not valid
    is a plugin failure. Not ``firstresult``: a later plugin's schema for a type replaces an earlier
    one, and any plugin's replaces a built-in.
    """
    raise NotImplementedError  # pragma: no cover - a specification, never called


@hookspec
def serviceflow_enrichers() -> list[EnricherSpec]:
    """Derive fields or flags of records before they are evaluated.

    Returns:
        A list of :class:`~serviceflow.plugin.EnricherSpec`. Its ``create(options)``
        receives the ``[enrichers.NAME]`` configuration table and returns ``enrich(type, data)``,
        called with each *valid* record's JSON data; it returns the fields to set (merged into a copy)
        or ``None``.

    The enriched record is validated again, so an enricher cannot make a record invalid unnoticed.
    An enricher that raises makes an engine-error finding naming the plugin and the enricher; the
    record is then evaluated as it was read. Enrichers run in registration order (built-ins first).
    Not ``firstresult``: every enabled enricher runs.
    """
    raise NotImplementedError  # pragma: no cover - a specification, never called


@hookspec
def serviceflow_readers() -> list[ReaderSpec]:
    """Input formats: help-desk exports, CRM dumps, phone-system logs read as records.

    Returns:
        A list of :class:`~serviceflow.plugin.ReaderSpec`: a name for
        ``--input-format`` and ``read(sources, stdin)`` yielding one
        :class:`~serviceflow.records.reader.RawItem` per record (its data, or the error that made
        it unreadable, with file and line).

    A reader reports bad rows as RawItems with an error rather than raising, so one bad row never
    loses the good ones; raising :class:`~serviceflow.errors.InputError` means the whole source is
    unreadable. Not ``firstresult``: a later plugin's reader of the same name wins.
    """
    raise NotImplementedError  # pragma: no cover - a specification, never called


@hookspec
def serviceflow_reporters() -> list[ReporterSpec]:
    """Output formats for ``lint --format``.

    Returns:
        A list of :class:`~serviceflow.plugin.ReporterSpec`: a name and
        ``render(evaluation, options) -> str``.

    A reporter only formats: it must not evaluate, read files or decide exit codes. Not
    ``firstresult``: a later plugin's reporter of the same name wins.
    """
    raise NotImplementedError  # pragma: no cover - a specification, never called


@hookspec
def serviceflow_actions() -> list[ActionSpec]:
    """Things to do about a finding: escalate, notify, offer a concession, write to a log.

    Returns:
        A list of :class:`~serviceflow.plugin.ActionSpec`. ``create(options)``
        receives the ``[actions.NAME]`` configuration table and returns ``act(finding, context)``,
        called once per violation the user asked to act on (``lint --action NAME``; live mode and the
        connectors will call the same functions). It returns a short detail, or raises to report a
        failure, which is named and does not stop the other actions.

    Actions must be idempotent per ``finding.key``: a re-run hands the same finding over again. Not
    ``firstresult``: a later plugin's action of the same name wins.
    """
    raise NotImplementedError  # pragma: no cover - a specification, never called


@hookspec
def serviceflow_evaluators() -> list[EvaluatorSpec]:
    """Evaluators of compiled policies: ``--engine NAME`` and ``evaluator = NAME`` choose one.

    Returns:
        A list of :class:`~serviceflow.plugin.EvaluatorSpec`: a name and ``create(policies,
        calendars)`` returning an object with ``evaluate_case(case_id, records, now)`` (giving a
        :class:`~serviceflow.evaluators.base.CaseFindings`) and ``close()``.

    serviceflow ships ``native`` (the reference) and ``durable`` (durable-rules). An evaluator must give
    the reference's findings for every policy; ``serviceflow test --engine NAME`` runs the policy tests
    on it, and the conformance suite in serviceflow's own tests shows how to hold it to that. ``create``
    may raise :class:`~serviceflow.errors.EvaluatorError` when it cannot run here. Not
    ``firstresult``: a later plugin's evaluator of the same name wins.
    """
    raise NotImplementedError  # pragma: no cover - a specification, never called
