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

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol
from urllib.parse import parse_qsl

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
    retry: bool = True
    """For a failure: whether trying again later may succeed (false after an ``ActionError(retry=False)``)."""


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


# --- connectors: sources, routes and commands ------------------------------------------------------
#
# These three let a plugin connect serviceflow to the systems where the work happens: a *source* polls a
# system for what happened since a cursor, a *route* receives what a system pushes (a webhook), a
# *command* adds ``serviceflow NAME ...``. None of the types below imports a web framework, a database
# driver or click: the live service (serviceflow.live) runs sources, the HTTP adapter (serviceflow.http)
# turns requests into :class:`WebhookRequest` and back, and the CLI mounts commands.

#: A name a connector is configured and addressed by (``[sources.NAME]``, ``/v1/hooks/PLUGIN/NAME``,
#: ``serviceflow NAME``): lower-case, safe in a URL path and on a command line.
CONNECTOR_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_ROUTE_PATH = re.compile(r"^(?:/[A-Za-z0-9][A-Za-z0-9._-]{0,62}){0,8}$")
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
#: How often a source is polled when neither its plugin nor its configuration says.
DEFAULT_SOURCE_INTERVAL = timedelta(minutes=1)


def _check_name(kind: str, name: object) -> None:
    if not isinstance(name, str) or not CONNECTOR_NAME.match(name):
        raise ValueError(
            f"{kind} name {name!r} must be 1-63 characters of a-z, 0-9, '-' and '_', starting with a letter "
            "or digit: it appears in configuration tables, URL paths and command lines"
        )


@dataclass(frozen=True)
class SourceBatch:
    """What one poll of a source read: the records, the cursor after them, and what went wrong.

    ``records`` are JSON objects as ``POST /v1/records`` takes them; each carries ``source: {system,
    ref}`` naming the event it came from, and an ``id`` derived from that event's id in the system, so
    that reading the same history again gives the same records (the store recognises them as
    duplicates). ``cursor`` is where the next poll starts; the service stores it in the transaction
    that stores the records. ``more``: the poll stopped at a batch limit and more is waiting, so the
    service polls again at once. ``problems``: what the poll could not read in full, one line each
    (logged and counted, never fatal: a source reports a bad item and goes on).
    """

    records: Sequence[Mapping[str, Any]]
    cursor: str
    more: bool = False
    problems: tuple[str, ...] = ()


class Source(Protocol):
    """A poller of one system. ``poll(cursor)`` reads what happened after ``cursor`` (``None``: from the
    beginning) and returns a :class:`SourceBatch`; it must not keep state that matters between polls
    (the service keeps the cursor). Raising means "nothing was read": the cursor stays, the service
    backs off and tries again. ``close()`` releases connections when the service stops.

    A source may also have ``current_cursor() -> str``: a cursor at the system's newest event, for
    ``start = "now"`` (read only what happens from now on, not the whole history).
    """

    def poll(self, cursor: str | None) -> SourceBatch: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Ingested:
    """What the service did with records a route handed it (see :class:`RouteContext`).

    ``replayed`` true: one of the claims was already held, so nothing was stored; the request is a
    replay. ``rejected``: one message per record refused (invalid, or a conflicting record id).
    """

    accepted: int = 0
    duplicates: int = 0
    rejected: tuple[str, ...] = ()
    cases: tuple[str, ...] = ()
    replayed: bool = False


class ConnectorContext(Protocol):
    """What a source or a route may ask of the service it runs in.

    ``name`` is its configured name (the ``[sources.NAME]`` / ``[routes.NAME]`` table);
    ``config_dir`` the directory of the configuration file, for relative paths in its options.
    """

    @property
    def name(self) -> str: ...

    @property
    def config_dir(self) -> Path | None: ...

    def now(self) -> datetime:
        """The service's clock (tests set it): use it, not the wall clock."""
        ...

    def case_of_record(self, record_id: str) -> str | None:
        """The case of a stored record, or ``None``: how a connector finds the case a reply belongs to
        (an email's thread, a call's earlier contact) across polls and restarts."""
        ...


class RouteContext(ConnectorContext, Protocol):
    """A route's handle on the service: store records, and remember requests to refuse replays."""

    def claimed(self, key: str) -> bool:
        """Whether a request key was claimed before (and has not expired): a replay, answer 403."""
        ...

    def ingest(
        self, records: Sequence[Mapping[str, Any]], *, claims: Sequence[tuple[str, datetime]] = ()
    ) -> Ingested:
        """Admit and store ``records`` as ``POST /v1/records`` does (each touched case re-evaluated, its
        actions enqueued), and take each ``(key, expires_at)`` claim, all in one transaction: if a claim
        is already held, nothing is stored and the result says ``replayed``. So a request is "seen" only
        when its records are stored, and of two copies arriving at once exactly one is stored."""
        ...


@dataclass(frozen=True)
class SourceSpec:
    """A kind of source a plugin offers: ``create(options, context)`` returns a :class:`Source`.

    A source runs when the configuration has a ``[sources.NAME]`` table for it (``type = "NAME"`` lets
    two tables use one kind: two mailboxes). ``options`` is that table without the keys the service reads
    itself (``type``, ``enabled``, ``interval``, ``poll-timeout``, ``max-backoff``, ``start``); a bad
    option is a :class:`~serviceflow.errors.ConfigError` raised by ``create``, which should not reach the
    system yet (``serve`` must start while the system is down). ``interval``: the time between polls
    unless configured.
    """

    name: str
    create: Callable[[Mapping[str, Any], ConnectorContext], Source]
    description: str = ""
    interval: timedelta = DEFAULT_SOURCE_INTERVAL
    plugin: str = ""

    def __post_init__(self) -> None:
        _check_name("source", self.name)
        if not isinstance(self.interval, timedelta) or self.interval <= timedelta(0):
            raise ValueError(f"source '{self.name}': interval must be a positive timedelta")


@dataclass(frozen=True)
class WebhookRequest:
    """One request to a plugin's route, as the HTTP adapter received it (already size-limited).

    ``url`` is the URL as the service saw it (behind a proxy, not what the caller used: a signature
    over the URL must be checked against the configured public URL); ``path`` the part after
    ``/v1/hooks/<plugin>/<route>`` (``/voice``); ``headers`` with lower-cased names.
    """

    method: str
    url: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes
    received_at: datetime

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-cased (``application/x-www-form-urlencoded``)."""
        return (self.header("content-type") or "").split(";", 1)[0].strip().lower()

    def form(self, *, max_fields: int = 1000) -> list[tuple[str, str]]:
        """The body's ``application/x-www-form-urlencoded`` fields, in order (repeated names kept).

        Raises ``ValueError`` for another media type, a body that is not UTF-8, or more than
        ``max_fields`` fields."""
        if self.content_type != "application/x-www-form-urlencoded":
            raise ValueError(f"the body is {self.content_type or 'untyped'}, not a form")
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("the form is not UTF-8") from None
        return parse_qsl(text, keep_blank_values=True, max_num_fields=max_fields)


@dataclass(frozen=True)
class WebhookResponse:
    """What a route answers: a status, a body and its media type, and extra headers."""

    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.status, int) or not 100 <= self.status <= 599:
            raise ValueError(f"not an HTTP status: {self.status!r}")
        if isinstance(self.body, str):
            object.__setattr__(self, "body", self.body.encode("utf-8"))

    @classmethod
    def problem(cls, status: int, detail: str, title: str | None = None) -> WebhookResponse:
        """An RFC 9457 problem document, as the service's own errors are."""
        heading = title or {400: "Bad request", 403: "Forbidden", 413: "Content too large"}.get(
            status, "Error"
        )
        slug = "-".join(heading.lower().split())
        document = {
            "type": f"https://serviceflow.dev/problems/{slug}",
            "title": heading,
            "status": status,
            "detail": detail,
        }
        return cls(status, json.dumps(document).encode("utf-8"), "application/problem+json")


#: ``handle(request) -> response``: one webhook request, verified and acted on.
WebhookHandler = Callable[[WebhookRequest], WebhookResponse]


@dataclass(frozen=True)
class RouteSpec:
    """Inbound webhook endpoints a plugin mounts: ``/v1/hooks/<plugin>/<name><path>`` for each path.

    ``create(options, context)`` gets the ``[routes.NAME]`` table and a :class:`RouteContext` and
    returns the handler; the routes are mounted only when that table exists (an unconfigured route
    could not verify anything). Routes do not take serviceflow's bearer tokens: the handler
    authenticates each request itself (a signature by the calling system), which ``authentication``
    describes, and refuses (401/403) before storing anything.
    """

    name: str
    create: Callable[[Mapping[str, Any], RouteContext], WebhookHandler]
    authentication: str
    paths: tuple[str, ...] = ("",)
    methods: tuple[str, ...] = ("POST",)
    description: str = ""
    max_body: int = 256 * 1024
    """Bodies over this many bytes are refused (413) before the handler sees them."""
    plugin: str = ""

    def __post_init__(self) -> None:
        _check_name("route", self.name)
        if not isinstance(self.authentication, str) or not self.authentication.strip():
            raise ValueError(f"route '{self.name}': say how requests are authenticated ('authentication')")
        if not self.paths or not all(isinstance(p, str) and _ROUTE_PATH.match(p) for p in self.paths):
            raise ValueError(
                f"route '{self.name}': paths must be '' or like '/voice' or '/a/b', not {self.paths!r}"
            )
        if not self.methods or not set(self.methods) <= _METHODS:
            raise ValueError(f"route '{self.name}': methods must be among {', '.join(sorted(_METHODS))}")
        if not isinstance(self.max_body, int) or not 0 < self.max_body <= 64 * 1024 * 1024:
            raise ValueError(f"route '{self.name}': max_body must be from 1 byte to 64 MiB")


@dataclass(frozen=True)
class CommandSpec:
    """A sub-command a plugin adds: ``serviceflow NAME ...``.

    Either ``command``, a ``click.Command`` (or group) the plugin built, or ``load``, a function that
    returns one and is called only when the command is used or listed: a plugin whose commands live in
    a module of their own keeps click and that module out of every process but the CLI (the live
    service loads the same plugin). Both are typed loosely because serviceflow's core does not import
    click; its CLI checks what it gets. A plugin command cannot replace a built-in one:
    ``serviceflow lint`` is always serviceflow's.
    """

    name: str
    command: Any = None
    description: str = ""
    load: Callable[[], Any] | None = None
    plugin: str = ""

    def __post_init__(self) -> None:
        _check_name("command", self.name)
        if (self.command is None) == (self.load is None):
            raise ValueError(f"command '{self.name}': give either the command or a function to load it")

    def resolve(self) -> Any:
        """The command object (calling ``load`` if that is how it was given)."""
        return self.command if self.load is None else self.load()


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
