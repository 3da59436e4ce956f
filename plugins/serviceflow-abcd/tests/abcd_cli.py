"""The command line with the pack (and the abcd input format) loaded from a checkout, for the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from serviceflow.cli import main

#: The pack from a checkout, and the abcd input format until serviceflow registers it as a built-in.
PACK_SHIM = """\
from serviceflow_abcd.plugin import (  # noqa: F401
    serviceflow_named_conditions,
    serviceflow_policy_packs,
    serviceflow_record_types,
)
"""
READER_SHIM = """\
from serviceflow.importers.abcd import reader
from serviceflow.plugin import hookimpl


@hookimpl
def serviceflow_readers():
    return [reader()]
"""
SHIMS = {"abcd_pack.py": PACK_SHIM, "abcd_reader.py": READER_SHIM}


def run(tmp_path: Path, *args: str) -> Result:
    """The CLI with the pack (and the abcd reader) loaded from --plugins-dir, no installed plugin."""
    plugins = tmp_path / "plugins"
    plugins.mkdir(exist_ok=True)
    for name, text in SHIMS.items():
        (plugins / name).write_text(text)
    config = tmp_path / "serviceflow.toml"
    config.write_text("")
    command, *rest = args
    options = ["--plugins-dir", str(plugins), "--strict-plugins"]
    if command in ("lint", "test"):
        options += ["--config", str(config), "--no-bundled"]
    return CliRunner().invoke(main, [command, *rest, *options], env={"SERVICEFLOW_LOAD_PLUGINS": ""})


def violations(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The JSON report's violations: ``violations`` now, ``findings`` before the run API renamed it."""
    listed = report.get("violations")
    return listed if isinstance(listed, list) else report["findings"]
