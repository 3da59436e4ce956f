"""Reading a configuration table (``[actions.sms]``, ``[asterisk-cdr]``, ``[routes.twilio]``), clearly.

Each component of this package takes a mapping of options, as TOML gives it. :class:`Options` takes
the values out one by one, checking each type, and :meth:`Options.finish` refuses the keys nobody
asked for, so a misspelt option is an error naming the known ones instead of being silently ignored.
Every error is a :class:`~serviceflow.plugin.ConfigError` that names the component and the option.

Secrets (auth tokens) may be given directly or, better, as the name of an environment variable
(``auth-token-env = "TWILIO_AUTH_TOKEN"``) so that they stay out of configuration files.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from serviceflow.plugin import ConfigError, parse_duration

__all__ = ["Options"]

_MISSING = object()


class Options:
    """The options of one component (``what``, e.g. ``action 'sms'``), checked as they are read."""

    def __init__(
        self, what: str, options: Mapping[str, Any] | None, environ: Mapping[str, str] | None = None
    ) -> None:
        if options is not None and not isinstance(options, Mapping):
            raise ConfigError(f"{what}: the options must be a table, got {type(options).__name__}")
        self.what = what
        self._options = dict(options or {})
        self._environ = os.environ if environ is None else environ
        self._known: list[str] = []

    def error(self, option: str, message: str) -> ConfigError:
        return ConfigError(f"{self.what}: '{option}' {message}")

    def _take(self, option: str) -> Any:
        self._known.append(option)
        return self._options.get(option, _MISSING)

    def has(self, option: str) -> bool:
        return option in self._options

    def string(self, option: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self._take(option)
        if value is _MISSING:
            if required:
                raise self.error(option, "is required")
            return default
        if not isinstance(value, str) or not value.strip():
            raise self.error(option, f"must be a non-empty string, got {value!r:.60}")
        return value.strip()

    def boolean(self, option: str, default: bool) -> bool:
        value = self._take(option)
        if value is _MISSING:
            return default
        if isinstance(value, bool):
            return value
        # cdr.conf writes yes/no; accept what Asterisk's ast_true() accepts, so values can be copied.
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise self.error(option, f"must be true or false, got {value!r:.60}")

    def integer(self, option: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
        value = self._take(option)
        if value is _MISSING:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.error(option, f"must be an integer of at least {minimum}, got {value!r:.60}")
        if maximum is not None and value > maximum:
            raise self.error(option, f"must be at most {maximum}, got {value}")
        return value

    def number(self, option: str, default: float, *, minimum: float = 0.0) -> float:
        value = self._take(option)
        if value is _MISSING:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= minimum:
            raise self.error(option, f"must be a number above {minimum:g}, got {value!r:.60}")
        return float(value)

    def duration(self, option: str, default: timedelta) -> timedelta:
        value = self._take(option)
        if value is _MISSING:
            return default
        try:
            duration = parse_duration(value)
        except (TypeError, ValueError):
            duration = None
        if duration is None or duration <= timedelta(0):
            raise self.error(option, f"must be a positive duration such as 90m, 4h or 2d, got {value!r:.60}")
        return duration

    def choice(self, option: str, choices: Sequence[str], default: str) -> str:
        value = self._take(option)
        if value is _MISSING:
            return default
        if value not in choices:
            raise self.error(option, f"must be one of {', '.join(choices)}, got {value!r:.60}")
        return str(value)

    def strings(self, option: str, default: Sequence[str] = ()) -> tuple[str, ...]:
        """A list of non-empty strings (a single string is a list of one)."""
        value = self._take(option)
        if value is _MISSING:
            return tuple(default)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.error(option, f"must be a list of non-empty strings, got {value!r:.60}")
        return tuple(v.strip() for v in value)

    def secret(self, option: str, *, required: bool = True) -> str | None:
        """``option`` itself, or the environment variable named by ``option-env`` (never both)."""
        direct = self._take(option)
        env_option = f"{option}-env"
        variable = self._take(env_option)
        if direct is not _MISSING and variable is not _MISSING:
            raise self.error(option, f"and '{env_option}' are both set: give one")
        if variable is not _MISSING:
            if not isinstance(variable, str) or not variable.strip():
                raise self.error(env_option, "must name an environment variable")
            value = self._environ.get(variable.strip(), "")
            if not value.strip():
                raise self.error(
                    env_option, f"names the environment variable {variable.strip()}, which is not set"
                )
            return value.strip()
        if direct is _MISSING:
            if required:
                raise self.error(
                    option, f"is required (or '{env_option}', an environment variable holding it)"
                )
            return None
        if not isinstance(direct, str) or not direct.strip():
            raise self.error(option, "must be a non-empty string")  # never echo a secret
        return direct.strip()

    def finish(self) -> None:
        """Refuse options that were not read: misspelt, or meant for another component."""
        unknown = sorted(set(self._options) - set(self._known))
        if unknown:
            names = ", ".join(repr(name) for name in unknown)
            known = ", ".join(sorted(set(self._known)))
            raise ConfigError(f"{self.what} has no option {names} (options: {known})")


_TRUE = frozenset({"yes", "true", "y", "t", "1", "on"})
_FALSE = frozenset({"no", "false", "n", "f", "0", "off"})
