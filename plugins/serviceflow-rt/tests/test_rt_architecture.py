"""The plugin uses serviceflow's public surface only, and its layers import downwards only."""

from __future__ import annotations

from pathlib import Path

from serviceflow.testing import imported_modules, internal_imports

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "serviceflow_rt"


def test_the_plugin_imports_serviceflow_only_through_its_public_modules() -> None:
    assert internal_imports(PACKAGE) == []


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
