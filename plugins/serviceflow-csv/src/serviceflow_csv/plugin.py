"""The plugin serviceflow loads (entry point ``csv``): declares the ``csv`` report format."""

from __future__ import annotations

from serviceflow.plugin import ReporterSpec, hookimpl
from serviceflow_csv.reporter import render_csv


@hookimpl
def serviceflow_reporters() -> list[ReporterSpec]:
    return [ReporterSpec("csv", render_csv, "one row per finding, for spreadsheets (policy ... file, line)")]
