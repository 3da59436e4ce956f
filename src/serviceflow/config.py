"""User configuration: which policies run, with what severity and parameters, without editing YAML.

Read from ``serviceflow.toml`` (top-level keys) or the ``[tool.serviceflow]`` table of
``pyproject.toml``, found by walking up from the working directory the way ruff finds its settings::

    policy-paths = ["policies/"]        # extra policy files or directories
    evaluator = "native"                # or "durable"
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
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serviceflow.calendars import ALWAYS, Calendar, calendars_from_config
from serviceflow.errors import ConfigError, Location

FAIL_LEVELS = ("error", "warning", "info", "never")
EVALUATORS = ("native", "durable")
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
}
_POLICY_KEYS = {"enabled", "severity", "params", "calendar"}
CASE_CALENDAR = "case"


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

    def settings_for(self, policy_id: str) -> PolicySettings:
        return self.policies.get(policy_id, PolicySettings())


def find_config(start: Path) -> Path | None:
    """The nearest ``serviceflow.toml``, or ``pyproject.toml`` with ``[tool.serviceflow]``, upward."""
    for directory in (start.resolve(), *start.resolve().parents):
        candidate = directory / "serviceflow.toml"
        if candidate.is_file():
            return candidate
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file() and re.search(
            r"^\[tool\.serviceflow[\].]", pyproject.read_text("utf-8"), re.M
        ):
            return pyproject
    return None


def load_config(path: Path | None) -> Config:
    """Read and check a configuration file; ``None`` gives the defaults."""
    if path is None:
        return Config()
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except OSError as exc:
        raise ConfigError(f"cannot read configuration: {exc.strerror}", Location(str(path))) from None
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise ConfigError(
            f"invalid TOML: {exc}", Location(str(path), int(line.group(1)) if line else None)
        ) from None
    if path.name == "pyproject.toml":
        data = data.get("tool", {}).get("serviceflow", {})
        prefix = "/tool/serviceflow"
    else:
        prefix = ""
    report = _Reporter(path, text, prefix)
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
        self.path, self.lines, self.prefix = path, text.splitlines(), prefix

    def error(self, message: str, *keys: str) -> ConfigError:
        pointer = self.prefix + "".join(f"/{key}" for key in keys)
        return ConfigError(message, Location(str(self.path), self.line_of(keys), pointer))

    def line_of(self, keys: tuple[str, ...]) -> int | None:
        found = None
        for number, line in enumerate(self.lines, start=1):
            stripped = line.strip()
            if (
                keys
                and keys[-1]
                and (stripped.startswith(f"{keys[-1]} ") or stripped.startswith(f"{keys[-1]}="))
            ):
                found = found or number
            if len(keys) >= 2 and keys[0] == "policies" and keys[1] in stripped and stripped.startswith("["):
                found = number
        return found


def _parse(data: dict[str, Any], report: _Reporter, calendars: dict[str, Calendar]) -> Config:
    unknown = set(data) - _TOP_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise report.error(f"unknown setting '{key}' (settings: {', '.join(sorted(_TOP_KEYS))})", key)
    paths = data.get("policy-paths", [])
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise report.error("'policy-paths' must be a list of paths", "policy-paths")
    evaluator = data.get("evaluator", "native")
    if evaluator not in EVALUATORS:
        raise report.error(f"'evaluator' must be one of {', '.join(EVALUATORS)}", "evaluator")
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
    )


def _plugin_tables(data: dict[str, Any], key: str, report: _Reporter) -> dict[str, dict[str, Any]]:
    """``[enrichers.NAME]`` / ``[actions.NAME]``: a table of tables, whose contents plugins check."""
    tables = data.get(key, {})
    if not isinstance(tables, dict) or not all(isinstance(v, dict) for v in tables.values()):
        raise report.error(f"'{key}' must be a table of tables, one per {key[:-1]}", key)
    return tables
