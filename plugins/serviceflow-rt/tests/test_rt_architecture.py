"""The plugin uses serviceflow's public surface only, and its layers import downwards only."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "serviceflow_rt"
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


def test_the_mapping_and_the_config_talk_to_no_one() -> None:
    for module in ("mapping.py", "config.py"):
        tops = {name.split(".")[0] for name in imported_modules(PACKAGE / module)}
        assert tops.isdisjoint({"rt", "httpx2", "urllib", "click", "subprocess"}), module
        assert not {"serviceflow_rt.client", "serviceflow_rt.source"} & imported_modules(PACKAGE / module), (
            module
        )


def test_nothing_the_service_will_load_imports_the_test_harness_or_the_commands() -> None:
    for module in ("source.py", "actions.py", "gate.py", "client.py", "mapping.py", "config.py", "plugin.py"):
        assert not {"serviceflow_rt.testing", "serviceflow_rt.cli"} & imported_modules(PACKAGE / module), (
            module
        )
