"""Everything a plugin author needs, in one module: ``from serviceflow.plugin import ...``.

serviceflow's other modules are internal and may move between releases; this one is the contract for
plugins, as ``tox.plugin`` is for tox's. It sits at the bottom of the import graph: it imports only the
data types it re-exports, never the engine, the CLI or the plugin host, so a plugin that imports it
cannot create an import cycle with serviceflow.

* ``hookimpl`` marks a plugin's hook functions (the hooks are documented in docs/hooks.md);
* the declaration types the hooks return: :class:`PolicyPackSpec`, :class:`NamedCondition`,
  :class:`RecordTypeSpec`, :class:`EnricherSpec`, :class:`ReaderSpec`, :class:`ReporterSpec`,
  :class:`ActionSpec` and :class:`EvaluatorSpec`, and for connectors :class:`SourceSpec` (with
  :class:`Source`, :class:`SourceBatch`), :class:`RouteSpec` (with :class:`WebhookRequest`,
  :class:`WebhookResponse`, :class:`RouteContext`) and :class:`CommandSpec`;
* what those functions receive and return: :class:`Record`, :class:`RawItem`, :class:`Finding`,
  :class:`Evaluation`, :class:`ConditionContext`, :class:`ActionContext`, :class:`ReportOptions`,
  :class:`Location` and the errors;
* the time helpers records and policies use (RFC 3339 date-times with offsets, durations).
"""

from __future__ import annotations

from serviceflow.conditions import ConditionContext, ConditionError, NamedCondition
from serviceflow.contributions import (
    ActionContext,
    ActionFunction,
    ActionResult,
    ActionSpec,
    CommandSpec,
    ConnectorContext,
    EnricherSpec,
    EnrichFunction,
    EvaluatorSpec,
    Ingested,
    PolicyPackSpec,
    ReaderSpec,
    ReadFunction,
    RecordTypeSpec,
    ReporterSpec,
    RouteContext,
    RouteSpec,
    Source,
    SourceBatch,
    SourceSpec,
    WebhookHandler,
    WebhookRequest,
    WebhookResponse,
)
from serviceflow.errors import (
    ActionError,
    ConfigError,
    EvaluatorError,
    InputError,
    Location,
    PluginError,
    PolicyError,
    RecordError,
    ServiceflowError,
)
from serviceflow.findings import Evaluation, Finding, Severity, Status
from serviceflow.hookspecs import hookimpl
from serviceflow.records.compressed import decompressed_stream
from serviceflow.records.model import Record
from serviceflow.records.raw import RECORDS_FORMAT, STDIN, RawItem
from serviceflow.reporters.base import PolicyInfo, Reporter, ReportOptions
from serviceflow.timeutil import format_datetime, format_duration, parse_datetime, parse_duration

__all__ = [
    "RECORDS_FORMAT",
    "STDIN",
    "ActionContext",
    "ActionError",
    "ActionFunction",
    "ActionResult",
    "ActionSpec",
    "CommandSpec",
    "ConditionContext",
    "ConditionError",
    "ConfigError",
    "ConnectorContext",
    "EnrichFunction",
    "EnricherSpec",
    "Evaluation",
    "EvaluatorError",
    "EvaluatorSpec",
    "Finding",
    "Ingested",
    "InputError",
    "Location",
    "NamedCondition",
    "PluginError",
    "PolicyError",
    "PolicyInfo",
    "PolicyPackSpec",
    "RawItem",
    "ReadFunction",
    "ReaderSpec",
    "Record",
    "RecordError",
    "RecordTypeSpec",
    "ReportOptions",
    "Reporter",
    "ReporterSpec",
    "RouteContext",
    "RouteSpec",
    "ServiceflowError",
    "Severity",
    "Source",
    "SourceBatch",
    "SourceSpec",
    "Status",
    "WebhookHandler",
    "WebhookRequest",
    "WebhookResponse",
    "decompressed_stream",
    "format_datetime",
    "format_duration",
    "hookimpl",
    "parse_datetime",
    "parse_duration",
]
