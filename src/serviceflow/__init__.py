"""serviceflow: validate customer-service interaction records and evaluate them against policies.

The public names are re-exported here; everything else is internal and may move.
"""

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

__version__ = "0.1.0"

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
