"""User configuration: which policies run, with what severity and parameters, without editing YAML.

Read from ``serviceflow.toml`` (top-level keys) or the ``[tool.serviceflow]`` table of
``pyproject.toml``, found by walking up from the working directory the way ruff finds its settings::

    policy-paths = ["policies/"]        # extra policy files or directories
    evaluator = "native"                # or "durable", or a plugin's
    fail-on = "error"                   # error | warning | never
    bundled = true                      # include the bundled core policies
    waivers = "waivers.yaml"            # accepted exceptions (see docs/waivers.md)

    [policies.escalate-values-in-question]
    severity = "warning"
    params = { within = "2h" }

    [policies.commit-requires-capacity]
    enabled = false

    [calendars.emea]                    # business hours (see docs/calendars.md)
    timezone = "Europe/Berlin"
    hours = { mon = ["08:00-17:00"], tue = ["08:00-17:00"] }

    [policies.respond-promptly]
    calendar = "case"                   # or a calendar name; durations then count business time

Every problem is a :class:`ConfigError` naming the file, the line of the key (inside a table, the
key's own line, not the header's) and the JSON pointer: a file that is not UTF-8, a ``nan`` or
``inf`` anywhere (TOML allows them; no setting means them), arrays nested deeper than Python can
parse, and a top-level setting written after a table header, which TOML files under that table.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serviceflow.calendars import ALWAYS, Calendar, calendars_from_config
from serviceflow.errors import ConfigError, Location
from serviceflow.policy.ir import CASE_CALENDAR

FAIL_LEVELS = ("error", "warning", "info", "never")
_TOP_KEYS = {
    "policy-paths",
    "evaluator",
    "fail-on",
    "bundled",
    "policies",
    "calendars",
    "waivers",
    "enrichers",
    "actions",
    "live",
    "sources",
    "routes",
}
_POLICY_KEYS = {"enabled", "severity", "params", "calendar"}


@dataclass(frozen=True)
class PolicySettings:
    """What the user set for one policy."""

    enabled: bool = True
    severity: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    calendar: str | None = None


@dataclass(frozen=True)
class Config:
    """The effective configuration; ``source`` is the file it came from, if any."""

    policy_paths: tuple[Path, ...] = ()
    evaluator: str = "native"
    fail_on: str = "error"
    bundled: bool = True
    policies: dict[str, PolicySettings] = field(default_factory=dict)
    source: Path | None = None
    calendars: dict[str, Calendar] = field(default_factory=lambda: {ALWAYS.name: ALWAYS})
    waivers: Path | None = None
    """The waivers file, relative paths resolved against the configuration file's directory."""
    enrichers: dict[str, dict[str, Any]] = field(default_factory=dict)
    """``[enrichers.NAME]`` tables: ``enabled`` and the enricher's own options (plugins check those)."""
    actions: dict[str, dict[str, Any]] = field(default_factory=dict)
    """``[actions.NAME]`` tables: each action's options."""
    live: dict[str, Any] = field(default_factory=dict)
    """The ``[live]`` table: the service's settings (:mod:`serviceflow.live.settings` checks them)."""
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    """``[sources.NAME]`` tables: the pollers the service runs (:mod:`serviceflow.live.connectors`)."""
    routes: dict[str, dict[str, Any]] = field(default_factory=dict)
    """``[routes.NAME]`` tables: the connectors' webhook endpoints the service mounts."""
    key_lines: Mapping[tuple[str, ...], int] = field(default_factory=dict, compare=False, repr=False)
    """The line each key (as a path: ``("policies", "p", "params", "within")``) is written on."""

    def settings_for(self, policy_id: str) -> PolicySettings:
        return self.policies.get(policy_id, PolicySettings())

    def location(self, *keys: str) -> Location:
        """Where a setting is written (file, line, pointer), for errors found after loading.

        The line is that of the nearest written key on the path (``params`` when ``within`` comes
        from a default), so that an error about a policy's settings points into its table.
        """
        file = str(self.source) if self.source is not None else None
        prefix = (
            "/tool/serviceflow" if self.source is not None and self.source.name == "pyproject.toml" else ""
        )
        return Location(
            file, _nearest_line(self.key_lines, keys), prefix + "".join(f"/{key}" for key in keys)
        )


def find_config(start: Path) -> Path | None:
    """The nearest ``serviceflow.toml``, or ``pyproject.toml`` with ``[tool.serviceflow]``, upward."""
    for directory in (start.resolve(), *start.resolve().parents):
        candidate = directory / "serviceflow.toml"
        if candidate.is_file():
            return candidate
        pyproject = directory / "pyproject.toml"
        # Bytes, not text: a pyproject that is not UTF-8 is reported by load_config, not a crash here.
        if pyproject.is_file() and re.search(rb"^\[tool\.serviceflow[\].]", _read_bytes(pyproject), re.M):
            return pyproject
    return None


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read configuration: {exc.strerror}", Location(str(path))) from None


def _decode(raw: bytes, path: Path) -> str:
    """The file's text; invalid UTF-8 is an error naming the line and column of the first bad byte."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        column = len(raw[line_start : exc.start].decode("utf-8", "replace")) + 1
        raise ConfigError(
            f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at column {column} cannot be decoded "
            "(TOML files are UTF-8; re-save the file as UTF-8)",
            Location(str(path), raw.count(b"\n", 0, exc.start) + 1),
        ) from None


def load_config(path: Path | None) -> Config:
    """Read and check a configuration file; ``None`` gives the defaults."""
    if path is None:
        return Config()
    text = _decode(_read_bytes(path), path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise ConfigError(
            f"invalid TOML: {exc}", Location(str(path), int(line.group(1)) if line else None)
        ) from None
    except RecursionError:
        raise ConfigError(
            "invalid TOML: arrays or inline tables are nested too deeply to read",
            Location(str(path), _deepest_line(text)),
        ) from None
    except ValueError as exc:  # an integer of more digits than Python converts (tomllib lets it through)
        raise ConfigError(f"invalid TOML: {exc}", Location(str(path), _longest_number_line(text))) from None
    if path.name == "pyproject.toml":
        data = data.get("tool", {}).get("serviceflow", {})
        prefix = "/tool/serviceflow"
    else:
        prefix = ""
    report = _Reporter(path, text, prefix)
    _check_numbers(data, report)
    _check_placement(data, report)
    try:
        calendars = calendars_from_config(data, path.parent, source=path, pointer_prefix=prefix)
    except ConfigError as exc:
        pointer = exc.location.pointer or ""
        keys = tuple(pointer[len(prefix) :].strip("/").split("/"))
        raise ConfigError(exc.message, Location(str(path), report.line_of(keys), pointer)) from None
    return _parse(data, report, calendars)


class _Reporter:
    """Builds ConfigErrors that name the file, the line (found by key) and the pointer."""

    def __init__(self, path: Path, text: str, prefix: str) -> None:
        self.path, self.prefix = path, prefix
        self.key_lines = _key_lines(text, tuple(part for part in prefix.split("/") if part))

    def error(self, message: str, *keys: str) -> ConfigError:
        pointer = self.prefix + "".join(f"/{key}" for key in keys)
        return ConfigError(message, Location(str(self.path), self.line_of(keys), pointer))

    def line_of(self, keys: tuple[str, ...]) -> int | None:
        """The line of the key at ``keys`` (a path under the configuration), or of its nearest parent."""
        return _nearest_line(self.key_lines, keys)


def _nearest_line(key_lines: Mapping[tuple[str, ...], int], keys: tuple[str, ...]) -> int | None:
    for length in range(len(keys), 0, -1):
        line = key_lines.get(tuple(keys[:length]))
        if line is not None:
            return line
    return None


_KEY_PART = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_DOTTED_KEY = rf"{_KEY_PART}(?:\s*\.\s*{_KEY_PART})*"
_HEADER_LINE = re.compile(rf"\s*\[\[?\s*({_DOTTED_KEY})\s*\]\]?\s*(?:#.*)?$")
_KEY_LINE = re.compile(rf"\s*({_DOTTED_KEY})\s*=")
_INLINE_KEY = re.compile(rf"[{{,]\s*({_DOTTED_KEY})\s*=")


def _key_path(dotted: str) -> tuple[str, ...]:
    return tuple(part.strip("\"'") for part in re.findall(_KEY_PART, dotted))


def _key_lines(text: str, prefix: tuple[str, ...]) -> dict[tuple[str, ...], int]:
    """The first line of every key path the file writes: table headers, keys, dotted keys, and the
    keys of an inline table on its line; paths relative to ``prefix`` (``tool.serviceflow``).

    A scan of lines, not a TOML parser: it only has to find where tomllib's values were written, for
    messages. Lines inside multi-line strings are skipped.
    """
    lines: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    in_string = False

    def note(path: tuple[str, ...], number: int) -> None:
        if path[: len(prefix)] != prefix:
            return
        relative = path[len(prefix) :]
        for length in range(1, len(relative) + 1):
            lines.setdefault(relative[:length], number)

    for number, line in enumerate(text.splitlines(), start=1):
        quotes = line.count('"""') + line.count("'''")
        if in_string:
            in_string = quotes % 2 == 0
            continue
        in_string = quotes % 2 == 1
        header = _HEADER_LINE.match(line)
        if header:
            table = _key_path(header.group(1))
            note(table, number)
            continue
        key = _KEY_LINE.match(line)
        if key:
            path = (*table, *_key_path(key.group(1)))
            note(path, number)
            for inline in _INLINE_KEY.finditer(line, key.end()):
                note((*path, *_key_path(inline.group(1))), number)
    return lines


_QUOTED = re.compile(r""""(?:[^"\\]|\\.)*"|'[^']*'""")


def _deepest_line(text: str) -> int | None:
    """The line where brackets (outside quotes, roughly) nest deepest: where tomllib gave up."""
    depth, deepest, line = 0, 0, None
    for number, content in enumerate(text.splitlines(), start=1):
        for char in _QUOTED.sub("", content):
            if char in "[{":
                depth += 1
                if depth > deepest:
                    deepest, line = depth, number
            elif char in "]}":
                depth -= 1
    return line


def _longest_number_line(text: str) -> int | None:
    longest = max(re.finditer(r"\d+", text), key=lambda match: len(match.group()), default=None)
    return text.count("\n", 0, longest.start()) + 1 if longest is not None else None


def _check_numbers(data: Any, report: _Reporter, keys: tuple[str, ...] = ()) -> None:
    """TOML allows ``nan`` and ``inf``; no setting means them, and they would poison arithmetic later."""
    if isinstance(data, dict):
        for key, value in data.items():
            _check_numbers(value, report, (*keys, str(key)))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            _check_numbers(value, report, (*keys, str(index)))
    elif isinstance(data, float) and not math.isfinite(data):
        name = ".".join(part for part in keys if not part.isdigit()) or "a value"
        raise report.error(
            f"'{name}' is {data}, not a number serviceflow can use (give a finite number)", *keys
        )


_TOP_LEVEL_VALUES = ("policy-paths", "evaluator", "fail-on", "bundled", "waivers")
_TABLES_OF_TABLES = ("policies", "calendars", "enrichers", "actions", "sources", "routes")


def _check_placement(data: dict[str, Any], report: _Reporter) -> None:
    """A top-level setting written after a table header belongs, for TOML, to that table.

    ``waivers = "w.yaml"`` below ``[actions.log]`` becomes an option of the log action, and the
    waivers file silently goes unread; say so, where it is written. A table that already has the
    setting at the top level is left alone (the key is then the table's own option).
    """
    for kind in _TABLES_OF_TABLES:
        tables = data.get(kind)
        if isinstance(tables, dict):
            for name, table in tables.items():
                _check_table(data, table, (kind, str(name)), report)


def _check_table(data: dict[str, Any], table: Any, keys: tuple[str, ...], report: _Reporter) -> None:
    if not isinstance(table, dict):
        return
    for key, value in table.items():
        if key in _TOP_LEVEL_VALUES and key not in data:
            where = ".".join((*(part for part in report.prefix.split("/") if part), *keys))
            move = (
                "into [tool.serviceflow], above its first sub-table"
                if report.prefix
                else "above the first table"
            )
            raise report.error(
                f"'{key}' is a top-level setting but is written inside [{where}]; move it {move}", *keys, key
            )
        _check_table(data, value, (*keys, str(key)), report)


def _parse(data: dict[str, Any], report: _Reporter, calendars: dict[str, Calendar]) -> Config:
    unknown = set(data) - _TOP_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise report.error(f"unknown setting '{key}' (settings: {', '.join(sorted(_TOP_KEYS))})", key)
    paths = data.get("policy-paths", [])
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise report.error("'policy-paths' must be a list of paths", "policy-paths")
    evaluator = data.get("evaluator", "native")
    if not isinstance(evaluator, str) or not evaluator:
        # Which names exist depends on the plugins; the engine checks the name against them.
        raise report.error("'evaluator' must name an evaluator (native, durable, or a plugin's)", "evaluator")
    fail_on = data.get("fail-on", "error")
    if fail_on not in FAIL_LEVELS:
        raise report.error(f"'fail-on' must be one of {', '.join(FAIL_LEVELS)}", "fail-on")
    bundled = data.get("bundled", True)
    if not isinstance(bundled, bool):
        raise report.error("'bundled' must be true or false", "bundled")
    policies: dict[str, PolicySettings] = {}
    raw_policies = data.get("policies", {})
    if not isinstance(raw_policies, dict):
        raise report.error("'policies' must be a table of policy ids", "policies")
    for policy_id, settings in raw_policies.items():
        if not isinstance(settings, dict):
            raise report.error(f"'policies.{policy_id}' must be a table", "policies", policy_id)
        unknown = set(settings) - _POLICY_KEYS
        if unknown:
            key = sorted(unknown)[0]
            raise report.error(
                f"unknown key '{key}' for policy '{policy_id}' (keys: enabled, severity, params, calendar)",
                "policies",
                policy_id,
                key,
            )
        enabled = settings.get("enabled", True)
        severity = settings.get("severity")
        params = settings.get("params", {})
        if not isinstance(enabled, bool):
            raise report.error("'enabled' must be true or false", "policies", policy_id, "enabled")
        if severity is not None and severity not in ("error", "warning", "info"):
            raise report.error("'severity' must be error, warning or info", "policies", policy_id, "severity")
        if not isinstance(params, dict):
            raise report.error("'params' must be a table", "policies", policy_id, "params")
        calendar = settings.get("calendar")
        if calendar is not None and calendar not in (*calendars, CASE_CALENDAR, "none"):
            known = ", ".join(sorted(calendars))
            raise report.error(
                f"unknown calendar '{calendar}' (calendars: {known}; or 'case', or 'none')",
                "policies",
                policy_id,
                "calendar",
            )
        policies[policy_id] = PolicySettings(enabled, severity, params, calendar)
    enrichers = _plugin_tables(data, "enrichers", report)
    for name, options in enrichers.items():
        if not isinstance(options.get("enabled", True), bool):
            raise report.error("'enabled' must be true or false", "enrichers", name, "enabled")
    actions = _plugin_tables(data, "actions", report)
    sources = _plugin_tables(data, "sources", report)
    routes = _plugin_tables(data, "routes", report)
    live = data.get("live", {})
    if not isinstance(live, dict):
        raise report.error("'live' must be a table (see docs/live.md)", "live")
    waivers = data.get("waivers")
    if waivers is not None and not (isinstance(waivers, str) and waivers.strip()):
        raise report.error("'waivers' must be the path of a waivers file", "waivers")
    base = report.path.parent
    return Config(
        policy_paths=tuple((base / p) for p in paths),
        evaluator=evaluator,
        fail_on=fail_on,
        bundled=bundled,
        policies=policies,
        source=report.path,
        calendars=calendars,
        waivers=base / waivers if waivers is not None else None,
        enrichers=enrichers,
        actions=actions,
        live=live,
        sources=sources,
        routes=routes,
        key_lines=report.key_lines,
    )


def _plugin_tables(data: dict[str, Any], key: str, report: _Reporter) -> dict[str, dict[str, Any]]:
    """``[enrichers.NAME]``, ``[actions.NAME]``, ``[sources.NAME]``, ``[routes.NAME]``: a table of
    tables, whose contents plugins check."""
    tables = data.get(key, {})
    if not isinstance(tables, dict) or not all(isinstance(v, dict) for v in tables.values()):
        raise report.error(f"'{key}' must be a table of tables, one per {key[:-1]}", key)
    return tables
