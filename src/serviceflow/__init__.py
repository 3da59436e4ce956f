"""serviceflow: validate customer-service interaction records and evaluate them against policies.

The public names are re-exported here; everything else is internal and may move (plugin authors
import from :mod:`serviceflow.plugin`). They are loaded on first use, so that ``import serviceflow``
(and a command line that needs little, such as ``serviceflow --version``) does not pay for the engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_PUBLIC = {
    "ConfigError": "serviceflow.errors",
    "Engine": "serviceflow.engine",
    "Evaluation": "serviceflow.findings",
    "EvaluatorError": "serviceflow.errors",
    "Finding": "serviceflow.findings",
    "InputError": "serviceflow.errors",
    "Location": "serviceflow.errors",
    "PluginError": "serviceflow.errors",
    "PolicyError": "serviceflow.errors",
    "Record": "serviceflow.records.model",
    "RecordError": "serviceflow.errors",
    "ServiceflowError": "serviceflow.errors",
    "Severity": "serviceflow.findings",
    "Status": "serviceflow.findings",
    "hookimpl": "serviceflow.hookspecs",
}

__all__ = [
    "ConfigError",
    "Engine",
    "Evaluation",
    "EvaluatorError",
    "Finding",
    "InputError",
    "Location",
    "PluginError",
    "PolicyError",
    "Record",
    "RecordError",
    "ServiceflowError",
    "Severity",
    "Status",
    "__version__",
    "hookimpl",
]

if TYPE_CHECKING:
    from serviceflow.engine import Engine
    from serviceflow.errors import (
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
    from serviceflow.records.model import Record


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'serviceflow' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
