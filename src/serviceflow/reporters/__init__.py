"""Reporters turn an :class:`~serviceflow.findings.Evaluation` into text for people and tools.

Each reporter is a function ``(evaluation, options) -> str``; the built-in plugin
(:mod:`serviceflow.plugins.builtin`) registers them by name, and the plugin host is the one registry
(``lint --format NAME``). Reporters only format: they never evaluate, read files or decide exit codes.
"""

from __future__ import annotations

from serviceflow.reporters.base import PolicyInfo, Reporter, ReportOptions
from serviceflow.reporters.text import summary_line

__all__ = ["PolicyInfo", "ReportOptions", "Reporter", "summary_line"]
