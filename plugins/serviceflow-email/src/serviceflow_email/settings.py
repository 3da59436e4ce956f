"""The options of the IMAP source and the email action, read from configuration tables.

Both are configured like every serviceflow contribution, by a table of options in ``serviceflow.toml``
(``[actions.email]``; ``[sources.NAME]`` with ``type = "imap"`` for the source). Each is
checked here, once, when the source or the action is created: a misspelt option, a wrong type, a bad
address or pattern is a :class:`~serviceflow.plugin.ConfigError` that names the option and says what
it takes, not a failure on the first message hours later.

Passwords are best not written in a configuration file: ``password-env`` names the environment
variable that holds one (``password`` is accepted for tests and local use).
"""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.headerregistry import Address
from email.utils import parseaddr
from typing import Any

from serviceflow.plugin import ConfigError

SECURITY_MODES = ("ssl", "starttls", "none")
#: ``[#CASE-123]`` in a subject: the case is ``CASE-123``.
DEFAULT_CASE_TAG = r"\[#(?P<case>[A-Za-z0-9][A-Za-z0-9._:-]*)\]"
DEFAULT_MAX_MESSAGE_BYTES = 2 * 1024 * 1024
_SIZE = re.compile(r"^\s*(\d+)\s*(b|kb|kib|mb|mib|gb|gib)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 1000, "kib": 1024, "mb": 1000**2, "mib": 1024**2, "gb": 1000**3, "gib": 1024**3}
_DOMAIN = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
)


class Options:
    """A table of options being read: each ``take`` removes one; :meth:`done` rejects what is left."""

    def __init__(self, what: str, options: Mapping[str, Any]) -> None:
        if not isinstance(options, Mapping):
            raise ConfigError(f"{what}: the options must be a table, not {type(options).__name__}")
        self.what = what
        self._left = dict(options)
        self._known: list[str] = []

    def take(self, name: str, default: Any = None) -> Any:
        self._known.append(name)
        return self._left.pop(name, default)

    def error(self, name: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.what}: '{name}' {problem}")

    def string(self, name: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self.take(name, default)
        if value is None:
            if required:
                raise self.error(name, "is required")
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.error(name, "must be a non-empty string")
        return value.strip()

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self.take(name, default)
        if value not in choices:
            raise self.error(name, f"must be one of {', '.join(choices)}, not {value!r}")
        return str(value)

    def integer(self, name: str, default: int, *, low: int, high: int | None = None) -> int:
        value = self.take(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high and value > high):
            bounds = f"from {low} to {high}" if high else f"at least {low}"
            raise self.error(name, f"must be a whole number {bounds}, not {value!r}")
        return value

    def seconds(self, name: str, default: float) -> float:
        value = self.take(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise self.error(name, f"must be a number of seconds above 0, not {value!r}")
        return float(value)

    def size(self, name: str, default: int) -> int:
        """Bytes, as a number or text such as ``"2 MiB"`` or ``"500kb"``."""
        value = self.take(name, default)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1024:
            return value
        match = _SIZE.match(value) if isinstance(value, str) else None
        if match is None or int(match[1]) * _SIZE_UNITS[(match[2] or "b").lower()] < 1024:
            raise self.error(
                name, f"must be a size of at least 1024 bytes (1024, '512 KiB', '2 MiB'), not {value!r}"
            )
        return int(match[1]) * _SIZE_UNITS[(match[2] or "b").lower()]

    def strings(self, name: str, default: list[str] | None = None, *, required: bool = False) -> list[str]:
        value = self.take(name, default)
        if isinstance(value, str):
            value = [value]
        if value is None or (required and not value):
            raise self.error(name, "is required: a list of one or more")
        if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
            raise self.error(name, "must be a list of non-empty strings")
        return [item.strip() for item in value]

    def address(self, name: str, value: str) -> Address:
        """``dana@acme.example`` or ``Dana Park <dana@acme.example>``."""
        try:
            return parse_address(value)
        except ValueError:
            raise self.error(name, f"is not an email address: {value!r}") from None

    def password(self) -> str | None:
        """``password-env`` (the variable's name) or ``password``; at most one of them."""
        variable = self.string("password-env")
        password = self.take("password")
        if variable is not None and password is not None:
            raise self.error("password", "and 'password-env' are exclusive: give one")
        if variable is not None:
            value = os.environ.get(variable)
            if value is None:
                raise self.error(
                    "password-env", f"names the environment variable {variable}, which is not set"
                )
            return value
        if password is not None and not isinstance(password, str):
            raise self.error("password", "must be a string")
        return password

    def done(self) -> None:
        if self._left:
            unknown = ", ".join(sorted(map(repr, self._left)))
            raise ConfigError(
                f"{self.what} has no option {unknown} (options: {', '.join(sorted(self._known))})"
            )


@dataclass(frozen=True)
class Server:
    """Where a mail server is and how to talk to it: TLS from the start, STARTTLS or none, and login."""

    host: str
    port: int
    security: str
    username: str | None
    password: str | None
    timeout: float
    ca_file: str | None

    def ssl_context(self) -> ssl.SSLContext:
        """Certificates verified, against ``ca-file`` when given (a company CA), else the system's."""
        return ssl.create_default_context(cafile=self.ca_file)


def read_server(
    options: Options, security: str, ports: Mapping[str, int], *, required: bool = True
) -> Server | None:
    """Options ``host``, ``port``, ``security``, ``username``, ``password-env``/``password``,
    ``timeout`` and ``ca-file``.

    ``ports`` gives the default port of each security mode (IMAP: 993, 143, 143; SMTP: 465, 587, 25).
    ``None`` when ``host`` is absent and not ``required``.
    """
    host = options.string("host", required=required)
    security = options.choice("security", SECURITY_MODES, security)
    port = options.integer("port", ports[security], low=1, high=65535)
    username = options.string("username")
    password = options.password()
    timeout = options.seconds("timeout", 30.0)
    ca_file = options.string("ca-file")
    if (username is None) != (password is None):
        raise options.error("username", "and a password ('password-env' or 'password') go together")
    if host is None:
        return None
    return Server(host, port, security, username, password, timeout, ca_file)


def parse_address(value: str) -> Address:
    """``dana@acme.example`` or ``Dana Park <dana@acme.example>``; ``ValueError`` for anything else."""
    display, addr_spec = parseaddr(value)
    local, _, domain = addr_spec.rpartition("@")
    if not local or not _DOMAIN.match(domain.lower()) or any(c in value for c in "\r\n"):
        raise ValueError(f"not an email address: {value!r}")
    return Address(display_name=display, addr_spec=addr_spec)


def compile_case_tag(options: Options) -> re.Pattern[str]:
    """``case-tag``: a regular expression over the subject; its group ``case`` (or only group) is the case."""
    pattern = options.string("case-tag", DEFAULT_CASE_TAG)
    assert pattern is not None
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        raise options.error("case-tag", f"is not a regular expression: {error}") from None
    if "case" not in compiled.groupindex and compiled.groups != 1:
        raise options.error("case-tag", "needs a group named 'case' (or exactly one group): the case id")
    return compiled


def domains(options: Options, name: str) -> tuple[str, ...]:
    values = options.strings(name, required=True)
    normalized = tuple(value.lower().lstrip("@").rstrip(".") for value in values)
    for value in normalized:
        if not _DOMAIN.match(value):
            raise options.error(name, f"holds {value!r}, which is not a domain name")
    return normalized
