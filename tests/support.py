"""Helpers shared by the tests: record defaults and which evaluators can run on this interpreter."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from typing import Any

DURABLE_SKIP_REASON = (
    "the durable evaluator needs durable-rules (pip install '.[durable]'), "
    "which installs on CPython 3.11 and 3.12"
)


def durable_available() -> bool:
    """durable-rules imports (its C extension does not build on CPython 3.13)."""
    try:
        return importlib.util.find_spec("durable") is not None and _imports_durable()
    except ImportError:
        return False


def _imports_durable() -> bool:
    try:
        import durable.lang  # noqa: F401
    except Exception:
        return False
    return True


def with_defaults(records: Iterable[dict[str, Any]], case_id: str = "c1") -> list[dict[str, Any]]:
    """Fill the envelope fields a test does not care about: ``case_id`` and an agent ``actor``."""
    filled = []
    for record in records:
        item = dict(record)
        item.setdefault("case_id", case_id)
        item.setdefault("actor", {"role": "agent", "id": "agent-1"})
        filled.append(item)
    return filled


def render(evaluation: Any, format: str = "text", **options: Any) -> str:
    """``evaluation`` in a built-in report format, as ``lint --format`` renders it (through the host)."""
    from serviceflow.plugins import PluginHost
    from serviceflow.reporters import ReportOptions

    reporters = PluginHost().reporters
    if format not in reporters:
        raise ValueError(f"unknown report format '{format}' (formats: {', '.join(reporters)})")
    return reporters[format].render(evaluation, ReportOptions(**options))
