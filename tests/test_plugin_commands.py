"""The ``serviceflow_commands`` hook: ``serviceflow NAME`` from a plugin, loaded only when asked for."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from serviceflow import hookimpl
from serviceflow.cli import main
from serviceflow.cli.options import HOST_KEY, PLUGINS_DIRS_KEY
from serviceflow.plugin import CommandSpec
from serviceflow.plugins import PluginHost

COMMAND_PLUGIN = '''
import click
from pathlib import Path
from serviceflow.plugin import CommandSpec, ConfigError, hookimpl

Path(__file__).with_suffix(".loaded").write_text("imported")


@click.group(name="desk")
def desk():
    """The desk connector's commands."""


@desk.command()
@click.argument("name")
def greet(name):
    """Say hello."""
    click.echo(f"hello {name}")


@desk.command()
def broken():
    raise ConfigError("desk: no [sources.desk] table")


@click.command(name="lint")
def not_our_lint():
    click.echo("a plugin's lint")


@hookimpl
def serviceflow_commands():
    return [
        CommandSpec("desk", desk, "the desk connector"),
        CommandSpec("lint", not_our_lint),
        CommandSpec("oops", "not a click command"),
        CommandSpec("later", load=lambda: __import__("deskcommands_cli").later),
        CommandSpec("missing", load=lambda: __import__("no_such_module_for_tests")),
    ]
'''

LAZY_COMMANDS = """
import click
from pathlib import Path

Path(__file__).with_suffix(".loaded").write_text("imported")


@click.command()
def later():
    click.echo("loaded only now")
"""


@pytest.fixture
def plugins_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "plugins"
    directory.mkdir()
    (directory / "deskcommands.py").write_text(COMMAND_PLUGIN)
    # On sys.path for the plugin's load function, as an installed package's module would be; the
    # leading underscore keeps --plugins-dir from loading it as a plugin.
    (directory / "_lazy").mkdir()
    (directory / "_lazy" / "deskcommands_cli.py").write_text(LAZY_COMMANDS)
    return directory


def run(plugins_dir: Path, *arguments: str) -> click.testing.Result:
    return CliRunner().invoke(main, ["--plugins-dir", str(plugins_dir), *arguments])


def test_a_plugin_command_runs_as_a_serviceflow_sub_command(plugins_dir: Path) -> None:
    result = run(plugins_dir, "desk", "greet", "Dana")
    assert (result.exit_code, result.stdout) == (0, "hello Dana\n")


def test_help_lists_the_plugin_commands_after_serviceflows_own(plugins_dir: Path) -> None:
    result = run(plugins_dir, "--help")
    assert result.exit_code == 0
    listed = [line.split()[0] for line in result.stdout.split("Commands:")[1].splitlines() if line.strip()]
    assert listed[-1] == "desk" and listed.count("lint") == 1 and "sync" in listed
    assert "oops" not in listed
    assert (
        "plugin 'deskcommands': command 'oops' is str, not a click command; it is left out" in result.stderr
    )


def test_a_plugin_cannot_replace_a_built_in_command(plugins_dir: Path, tmp_path: Path) -> None:
    records = tmp_path / "empty.jsonl"
    records.write_text("")
    result = run(plugins_dir, "lint", str(records), "--now", "2024-05-06T12:00:00Z")
    assert result.exit_code == 0 and "a plugin's lint" not in result.output


def test_an_error_in_a_plugin_command_is_one_line_and_exit_status_2(plugins_dir: Path) -> None:
    result = run(plugins_dir, "desk", "broken")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == "serviceflow: error: desk: no [sources.desk] table"
    assert "Traceback" not in result.output


def test_an_unknown_command_is_a_usage_error_naming_it(plugins_dir: Path) -> None:
    result = run(plugins_dir, "dsk")
    assert result.exit_code == 2 and "No such command 'dsk'" in result.stderr


def test_built_in_commands_are_found_without_loading_any_plugin(plugins_dir: Path) -> None:
    """``serviceflow lint`` and ``--version``'s command lookup never pay for importing plugins."""
    context = click.Context(main, info_name="serviceflow")
    context.meta[PLUGINS_DIRS_KEY] = [plugins_dir]
    for name in ("lint", "serve", "sync", "plugins"):
        assert isinstance(main.get_command(context, name), click.Command)
    assert HOST_KEY not in context.meta
    assert not (plugins_dir / "deskcommands.loaded").exists()

    assert main.get_command(context, "desk") is not None
    assert HOST_KEY in context.meta and (plugins_dir / "deskcommands.loaded").exists()


def test_serviceflow_version_does_not_import_the_cli_commands() -> None:
    script = (
        "import sys\n"
        "from serviceflow.cli import main\n"
        "try:\n"
        "    main(['--version'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "watched = ('serviceflow.cli.sync', 'serviceflow.live.connectors', 'fastapi')\n"
        "loaded = [m for m in watched if m in sys.modules]\n"
        "print(loaded)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env={"SERVICEFLOW_LOAD_PLUGINS": ""}
    )
    assert result.stdout.splitlines()[-1] == "[]", result.stderr


class Commands:
    @hookimpl
    def serviceflow_commands(self) -> list[CommandSpec]:
        return [CommandSpec("desk", click.Command("desk"), "the desk connector")]


def test_the_serviceflow_commands_hook_is_collected_and_listed_by_plugin() -> None:
    host = PluginHost()
    host.register(Commands(), "deskplugin")
    assert host.commands["desk"].plugin == "deskplugin"
    (info,) = [plugin for plugin in host.plugins() if plugin.name == "deskplugin"]
    assert info.contributes == {"commands": ["desk"]}


def test_a_command_name_must_be_usable_on_a_command_line() -> None:
    with pytest.raises(ValueError, match="command name 'Desk Tools' must be"):
        CommandSpec("Desk Tools", click.Command("x"))


def test_a_command_given_by_a_load_function_is_imported_only_when_used(
    plugins_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(plugins_dir / "_lazy"))
    monkeypatch.delitem(sys.modules, "deskcommands_cli", raising=False)
    marker = plugins_dir / "_lazy" / "deskcommands_cli.loaded"

    greeted = run(plugins_dir, "desk", "greet", "Lee")
    assert greeted.exit_code == 0 and not marker.exists()

    later = run(plugins_dir, "later")
    assert (later.exit_code, later.stdout, marker.exists()) == (0, "loaded only now\n", True)


def test_a_command_that_fails_to_load_is_named_and_left_out(plugins_dir: Path) -> None:
    result = run(plugins_dir, "missing")
    assert result.exit_code == 2
    assert (
        "plugin 'deskcommands': command 'missing' failed to load: ModuleNotFoundError: "
        "No module named 'no_such_module_for_tests'; it is left out" in result.stderr
    )
    assert "No such command 'missing'" in result.stderr


def test_a_command_spec_needs_the_command_or_its_loader_not_both() -> None:
    with pytest.raises(ValueError, match="give either the command or a function to load it"):
        CommandSpec("desk")
    with pytest.raises(ValueError, match="give either"):
        CommandSpec("desk", click.Command("desk"), load=lambda: click.Command("desk"))
