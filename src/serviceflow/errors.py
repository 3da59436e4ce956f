"""The one exception hierarchy of serviceflow.

Every error a user can cause derives from :class:`ServiceflowError` and carries the context needed to
fix it (file, line, JSON pointer, policy id), so that adapters (the CLI, an HTTP service) can print a
precise message without a traceback::

    ServiceflowError                 base; ``exit_code`` 2 for everything a user can fix
    ├── InputError                   a record source cannot be read (missing file, bad gzip, not JSON)
    │   └── RecordError              one record is malformed or fails its schema (file, line, pointer)
    ├── PolicyError                  a policy file is unreadable, invalid or does not compile
    ├── ConfigError                  serviceflow.toml / [tool.serviceflow] is invalid
    ├── PluginError                  a plugin cannot be loaded (only fatal with --strict-plugins)
    └── EvaluatorError               an evaluator cannot run here (durable-rules missing) or failed
        └── ConditionError           a named condition raised or answered other than true/false
                                     (serviceflow.conditions; becomes an engine-error finding)

Library code raises these; only the CLI turns them into exit codes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Location:
    """Where a problem is: a file (or ``<stdin>``), a 1-based line and a JSON pointer into the item."""

    file: str | None = None
    line: int | None = None
    pointer: str | None = None

    def __str__(self) -> str:
        place = self.file or "<input>"
        if self.line is not None:
            place = f"{place}:{self.line}"
        if self.pointer is not None:
            place = f"{place}: {self.pointer or '/'}"
        return place


class ServiceflowError(Exception):
    """Base class of every error serviceflow raises on purpose."""

    exit_code = 2

    def __init__(self, message: str, location: Location | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location or Location()

    def __str__(self) -> str:
        if self.location == Location():
            return self.message
        return f"{self.location}: {self.message}"


class InputError(ServiceflowError):
    """A record source cannot be read at all (missing file, corrupt gzip, not JSON)."""


class RecordError(InputError):
    """One record is malformed or invalid; the others in the same source are still evaluated."""

    def __init__(self, message: str, location: Location | None = None, record_id: str | None = None) -> None:
        super().__init__(message, location)
        self.record_id = record_id


class PolicyError(ServiceflowError):
    """A policy file cannot be read, fails the policy schema, or does not compile."""

    def __init__(self, message: str, location: Location | None = None, policy_id: str | None = None) -> None:
        super().__init__(message, location)
        self.policy_id = policy_id


class ConfigError(ServiceflowError):
    """The user's configuration (serviceflow.toml or [tool.serviceflow]) is invalid."""


class PluginError(ServiceflowError):
    """A plugin could not be imported or registered, or one of its hooks failed while collecting."""


class EvaluatorError(ServiceflowError):
    """An evaluator is unavailable on this interpreter or failed while evaluating."""
