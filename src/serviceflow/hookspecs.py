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

**Connectors.** The last three hooks connect serviceflow to the systems where the work happens: a
source polls a system (``serviceflow serve`` and ``serviceflow sync``), a route receives its webhooks
(``serve``), a command adds ``serviceflow NAME``. Sources and routes run only when the configuration
has a table for them (``[sources.NAME]``, ``[routes.NAME]``), so installing a connector changes nothing
until it is configured.

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
        CommandSpec,
        EnricherSpec,
        EvaluatorSpec,
        PolicyPackSpec,
        ReaderSpec,
        RecordTypeSpec,
        ReporterSpec,
        RouteSpec,
        SourceSpec,
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


@hookspec
def serviceflow_sources() -> list[SourceSpec]:
    """Pollers of other systems: ticket history, a mailbox, a CRM's changes since a cursor.

    Returns:
        A list of :class:`~serviceflow.plugin.SourceSpec`: a name and ``create(options, context)``
        returning a :class:`~serviceflow.plugin.Source`, whose ``poll(cursor)`` gives a
        :class:`~serviceflow.plugin.SourceBatch` (records, the cursor after them, whether more is
        waiting, problems).

    A source runs when the configuration has a ``[sources.NAME]`` table (``type = "rt"`` lets several
    tables use one kind): ``serviceflow serve`` polls it in a thread of its own every ``interval``
    (backing off after failures, which are logged and shown in ``/metrics``, never stopping the
    service), and ``serviceflow sync NAME --once`` polls it from cron or by hand. Its records go
    through the admission and store of ``POST /v1/records``, and its cursor is stored in the same
    transaction, so a crash can neither lose records nor skip them. Each record must carry ``source:
    {system, ref}`` and an ``id`` derived from the system's own event id: re-reading history then
    stores nothing twice. A poll that raises stores nothing and leaves the cursor; one that hangs
    past ``poll-timeout`` is abandoned. Not ``firstresult``: a later plugin's source of the same name
    wins.
    """
    raise NotImplementedError  # pragma: no cover - a specification, never called


@hookspec
def serviceflow_routes() -> list[RouteSpec]:
    """Webhook endpoints other systems call: a phone provider's call events, a CRM's notifications.

    Returns:
        A list of :class:`~serviceflow.plugin.RouteSpec`: a name, its paths and methods, how requests
        are authenticated, and ``create(options, context)`` returning ``handle(request) -> response``
        (:class:`~serviceflow.plugin.WebhookRequest`, :class:`~serviceflow.plugin.WebhookResponse`).

    ``serviceflow serve`` mounts each route whose ``[routes.NAME]`` table exists at
    ``/v1/hooks/<plugin>/<name><path>``. These are the only endpoints under ``/v1`` without
    serviceflow's bearer tokens: the handler must authenticate each request itself (a signature by
    the calling system, checked against the configured public URL) and refuse it before storing
    anything. It stores records through :class:`~serviceflow.plugin.RouteContext` ``ingest``, which
    admits them as ``POST /v1/records`` does and takes replay claims in the same transaction. Bodies
    over the route's ``max_body`` are refused (413) unread; a handler that raises answers 500 and
    stores nothing. The handler does no HTTP itself: it never sees the web framework. Not
    ``firstresult``: a later plugin's route of the same name wins.
    """
    raise NotImplementedError  # pragma: no cover - a specification, never called


@hookspec
def serviceflow_commands() -> list[CommandSpec]:
    """Sub-commands of ``serviceflow``: ``serviceflow rt install-gate``.

    Returns:
        A list of :class:`~serviceflow.plugin.CommandSpec`: a name and a ``click.Command`` (or group)
        built by the plugin, or ``load``, a function returning it.

    The plugins are loaded for a command only when its name is not one of serviceflow's own (and
    for ``--help``, which lists them), so ``serviceflow --version`` and ``serviceflow lint`` start as
    fast with plugin commands installed as without; with ``load``, the plugin's command module is
    imported only when its command runs, never by the service, which loads the same plugin for its
    sources and actions. A plugin command cannot replace a built-in one.
    Errors a command raises as :class:`~serviceflow.errors.ServiceflowError` are reported like
    serviceflow's own (one line, exit status 2). Not ``firstresult``: a later plugin's command of the
    same name wins.
    """
    raise NotImplementedError  # pragma: no cover - a specification, never called
