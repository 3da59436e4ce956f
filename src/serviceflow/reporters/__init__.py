"""Reporters turn an :class:`~serviceflow.findings.Evaluation` into text for people and tools.

Each reporter is a function ``(evaluation, options) -> str`` registered by name in :data:`REPORTERS`;
:func:`render` is the one entry point the CLI (and any other adapter) calls. Reporters only format:
they never evaluate, read files or decide exit codes.
"""

from __future__ import annotations

from collections.abc import Sequence

from serviceflow.findings import Evaluation
from serviceflow.reporters.base import PolicyInfo, Reporter, ReportOptions
from serviceflow.reporters.github import render_github
from serviceflow.reporters.json_report import render_json
from serviceflow.reporters.junit import render_junit
from serviceflow.reporters.sarif import render_sarif
from serviceflow.reporters.text import render_text, summary_line

REPORTERS: dict[str, Reporter] = {
    "text": render_text,
    "json": render_json,
    "sarif": render_sarif,
    "junit": render_junit,
    "github": render_github,
}


def render(
    evaluation: Evaluation,
    format: str = "text",
    *,
    policies: Sequence[PolicyInfo] = (),
    color: bool = False,
    show_waived: bool = False,
) -> str:
    """Render ``evaluation`` in ``format`` (a key of :data:`REPORTERS`); raise ``ValueError`` if unknown."""
    try:
        reporter = REPORTERS[format]
    except KeyError:
        raise ValueError(f"unknown report format '{format}' (formats: {', '.join(REPORTERS)})") from None
    return reporter(evaluation, ReportOptions(policies=policies, color=color, show_waived=show_waived))


__all__ = ["REPORTERS", "PolicyInfo", "ReportOptions", "Reporter", "render", "summary_line"]
