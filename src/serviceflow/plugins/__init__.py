"""The plugin host and what plugins declare; the hooks themselves are in :mod:`serviceflow.hookspecs`."""

from serviceflow.contributions import (
    ActionContext,
    ActionResult,
    ActionSpec,
    EnricherSpec,
    PluginFailure,
    PluginInfo,
    PolicyPackSpec,
    ReaderSpec,
    RecordTypeSpec,
    ReporterSpec,
)
from serviceflow.plugins.discovery import discover
from serviceflow.plugins.host import PluginHost, registered

__all__ = [
    "ActionContext",
    "ActionResult",
    "ActionSpec",
    "EnricherSpec",
    "PluginFailure",
    "PluginHost",
    "PluginInfo",
    "PolicyPackSpec",
    "ReaderSpec",
    "RecordTypeSpec",
    "ReporterSpec",
    "discover",
    "registered",
]
