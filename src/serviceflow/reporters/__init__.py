"""Reporters turn an :class:`~serviceflow.findings.Evaluation` into text for people and tools.

Each reporter is a function ``(evaluation, options) -> str``; the built-in plugin
(:mod:`serviceflow.plugins.builtin`) registers them by name, and the plugin host is the one registry
(``lint --format NAME``). Reporters only format: they never evaluate, read files or decide exit codes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from serviceflow.errors import PLUGIN_FAILURES, PluginError
from serviceflow.reporters.base import PolicyInfo, Reporter, ReportOptions
from serviceflow.reporters.text import summary_line

if TYPE_CHECKING:
    from serviceflow.contributions import ReporterSpec
    from serviceflow.findings import Evaluation

__all__ = ["PolicyInfo", "ReportOptions", "Reporter", "render_report", "report_pieces", "summary_line"]

#: The plugin name of serviceflow's own reporters, whose failures are serviceflow's bugs.
_BUILTIN = "serviceflow"


def render_report(reporter: ReporterSpec, evaluation: Evaluation, options: ReportOptions) -> str:
    """The report a reporter renders, or a :class:`PluginError` naming a plugin's reporter that failed.

    A plugin's reporter that raises (or calls ``sys.exit``), or returns something other than text,
    is named with its plugin rather than reported as a bug in serviceflow.
    """
    if reporter.plugin == _BUILTIN:
        return reporter.render(evaluation, options)
    origin = f"reporter '{reporter.name}'" + (f" (plugin '{reporter.plugin}')" if reporter.plugin else "")
    try:
        text = reporter.render(evaluation, options)
    except PLUGIN_FAILURES as exc:
        raise PluginError(f"{origin} failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(text, str):
        raise PluginError(f"{origin} returned a {type(text).__name__}, not the report's text")
    return text


def report_pieces(reporter: ReporterSpec, evaluation: Evaluation, options: ReportOptions) -> Iterable[str]:
    """The report as pieces of text to write one after the other (what :func:`render_report` joins).

    serviceflow's JSON report comes a finding at a time, so a large one is never held whole; any other
    reporter's text comes as one piece, checked as :func:`render_report` checks it.
    """
    if reporter.plugin == _BUILTIN and reporter.name == "json":
        from serviceflow.reporters.json_report import json_pieces

        return json_pieces(evaluation, options)
    return (render_report(reporter, evaluation, options),)
