"""The plugin is built on serviceflow's public surface only, as businesses' own plugins must be."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "serviceflow_email"
PUBLIC = {"serviceflow", "serviceflow.plugin"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_plugin_imports_serviceflow_only_through_its_public_modules() -> None:
    reaching_in = {
        f"{path.name}: {name}"
        for path in sorted(PACKAGE.glob("*.py"))
        for name in imported_modules(path)
        if name.split(".")[0] == "serviceflow" and name not in PUBLIC
    }
    assert reaching_in == set()


def test_the_source_and_the_action_do_not_import_the_test_harness() -> None:
    for module in ("source.py", "action.py", "imap.py", "mapping.py", "messages.py", "reply.py", "plugin.py"):
        assert "serviceflow_email.testing" not in imported_modules(PACKAGE / module), module
