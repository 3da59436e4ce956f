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
    ├── EvaluatorError               an evaluator cannot run here (durable-rules missing) or failed
    │   └── ConditionError           a named condition raised or answered other than true/false
    │                                (serviceflow.conditions; becomes an engine-error finding)
    └── ActionError                  an action could not do its work; ``retry`` says whether trying
                                     again later can help (a receiver's 5xx) or not (its 4xx)

Library code raises these; only the CLI turns them into exit codes.
"""

from __future__ import annotations


class Location:
    """Where a problem is: a file (or ``<stdin>``), a 1-based line and a JSON pointer into the item.

    Immutable by convention and compared by value. Written by hand rather than as a frozen dataclass:
    every record carries one, and a frozen dataclass takes twice as long to build.
    """

    __slots__ = ("file", "line", "pointer")

    def __init__(self, file: str | None = None, line: int | None = None, pointer: str | None = None) -> None:
        self.file = file
        self.line = line
        self.pointer = pointer

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Location):
            return NotImplemented
        return (self.file, self.line, self.pointer) == (other.file, other.line, other.pointer)

    def __hash__(self) -> int:
        return hash((self.file, self.line, self.pointer))

    def __repr__(self) -> str:
        return f"Location(file={self.file!r}, line={self.line!r}, pointer={self.pointer!r})"

    def __reduce__(self) -> tuple[type[Location], tuple[str | None, int | None, str | None]]:
        return (Location, (self.file, self.line, self.pointer))

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


class ActionError(ServiceflowError):
    """An action failed. ``retry`` false: the receiver refused for good, so live mode's outbox
    dead-letters it at once instead of trying again (any other exception is retried)."""

    def __init__(self, message: str, location: Location | None = None, *, retry: bool = True) -> None:
        super().__init__(message, location)
        self.retry = retry


#: What a plugin's code (an import, a hook, a condition, an enricher, a reader, a reporter, an action)
#: may raise that serviceflow catches and reports by the plugin's name: any exception, and also
#: ``SystemExit``, because a plugin calling ``sys.exit(0)`` would otherwise end a lint run silently with
#: "clean". ``KeyboardInterrupt`` is the user's and is never caught.
PLUGIN_FAILURES: tuple[type[BaseException], ...] = (Exception, SystemExit)
