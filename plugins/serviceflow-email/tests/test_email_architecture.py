"""The plugin is built on serviceflow's public surface only, as businesses' own plugins must be."""

from __future__ import annotations

from pathlib import Path

from serviceflow.testing import imported_modules, internal_imports

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "serviceflow_email"


def test_the_plugin_imports_serviceflow_only_through_its_public_modules() -> None:
    assert internal_imports(PACKAGE) == []


def test_the_source_and_the_action_do_not_import_the_test_harness() -> None:
    for module in ("source.py", "action.py", "imap.py", "mapping.py", "messages.py", "reply.py", "plugin.py"):
        assert "serviceflow_email.testing" not in imported_modules(PACKAGE / module), module
