"""The HTML report: one self-contained page, charts as inline SVG, that works offline.

``lint --format html`` renders :func:`render_html` (a reporter like the others, registered by the
built-in plugin); ``diff --format html`` renders :func:`render_diff_html`. See docs/html-report.md.
"""

from __future__ import annotations

from serviceflow.reporters.html.diff_report import render_diff_html
from serviceflow.reporters.html.lint_report import render_html

__all__ = ["render_diff_html", "render_html"]
