"""Plugins that misbehave (issue 13): every one is named, none ends a run silently or corrupts a report.

A plugin is other people's code inside serviceflow's process. Whatever it does (raise, call
``sys.exit``, print on stdout, return the wrong type), the run must say which plugin did it, keep a
machine-readable report on stdout intact, and never exit 0 ("clean") because a plugin exited. Each
test writes a one-file plugin into a ``--plugins-dir`` and runs the real command line.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from serviceflow.cli import main

NOW = "2024-06-01T00:00:00Z"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "records"


@pytest.fixture(autouse=True)
def _no_installed_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICEFLOW_LOAD_PLUGINS", "")


def plugin_dir(tmp_path: Path, source: str, name: str = "misbehaving") -> Path:
    directory = tmp_path / "plugins"
    directory.mkdir(exist_ok=True)
    (directory / f"{name}.py").write_text(textwrap.dedent(source))
    return directory


def run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def lint(plugins: Path, *args: str) -> Any:
    return run("--plugins-dir", str(plugins), "lint", str(EXAMPLES), "--now", NOW, *args)


def assert_no_traceback(result: Any) -> None:
    assert "Traceback" not in result.output
    assert "internal error" not in result.output


# --- loading ----------------------------------------------------------------------------------------


def test_sys_exit_while_importing_is_a_named_failure_not_the_exit_status(tmp_path: Path) -> None:
    plugins = plugin_dir(tmp_path, "import sys\nsys.exit(0)\n")
    result = lint(plugins, "--format", "json")
    assert_no_traceback(result)
    assert "plugin 'misbehaving' failed to load: cannot import" in result.stderr
    assert "SystemExit: 0" in result.stderr
    assert json.loads(result.stdout)["summary"]["records"] == 28  # the run went on without it


def test_sys_exit_in_a_hook_is_a_named_failure(tmp_path: Path) -> None:
    plugins = plugin_dir(
        tmp_path,
        """
        import sys
        from serviceflow.plugin import hookimpl

        @hookimpl
        def serviceflow_policy_packs():
            sys.exit(0)
        """,
    )
    result = lint(plugins, "--format", "json")
    assert "hook serviceflow_policy_packs failed: SystemExit: 0" in result.stderr
    assert json.loads(result.stdout)["summary"]["records"] == 28


def test_strict_plugins_with_version_is_an_error_line_not_a_traceback(tmp_path: Path) -> None:
    plugins = plugin_dir(tmp_path, "raise RuntimeError('broken on import')\n")
    result = run("--strict-plugins", "--plugins-dir", str(plugins), "--version")
    assert result.exit_code == 2
    assert_no_traceback(result)
    assert "serviceflow: error: plugin 'misbehaving' failed to load" in result.stderr


def test_a_misspelt_hook_is_named_with_the_hooks_there_are(tmp_path: Path) -> None:
    plugins = plugin_dir(
        tmp_path,
        """
        from serviceflow.plugin import hookimpl

        @hookimpl
        def serviceflow_polcy_packs():
            return []
        """,
    )
    result = lint(plugins)
    assert "unknown hook(s) serviceflow_polcy_packs (hooks: " in result.stderr
    assert "serviceflow_policy_packs" in result.stderr


def test_a_record_type_whose_schema_refers_to_the_network_is_refused_without_fetching(tmp_path: Path) -> None:
    plugins = plugin_dir(
        tmp_path,
        """
        from serviceflow.plugin import RecordTypeSpec, hookimpl

        @hookimpl
        def serviceflow_record_types():
            return [RecordTypeSpec("remote", {"$ref": "https://example.com/remote.schema.json"})]
        """,
    )
    result = lint(plugins)
    assert result.exit_code == 2
    assert_no_traceback(result)
    assert "record type 'remote'" in result.stderr
    assert "Retrieval is disabled" in result.stderr


# --- stdout -----------------------------------------------------------------------------------------


def test_what_a_plugin_prints_never_reaches_a_report_on_stdout(tmp_path: Path) -> None:
    plugins = plugin_dir(
        tmp_path,
        """
        print("printed on import")
        from serviceflow.plugin import NamedCondition, hookimpl

        def noisy(context):
            print("printed by a condition")
            return True

        @hookimpl
        def serviceflow_named_conditions():
            print("printed by a hook")
            return [NamedCondition("noisy", noisy)]
        """,
    )
    policy = tmp_path / "noisy.yaml"
    policy.write_text(
        "id: noisy\ntitle: t\nseverity: error\nrationale: r\nfor_each: {type: contact}\n"
        "require:\n  condition: {name: noisy}\nmessage: m\n"
    )
    result = lint(plugins, "--format", "json", "--policies", str(policy), "--no-bundled")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)  # parses: nothing else is on stdout
    assert report["summary"]["records"] == 28
    for line in ("printed on import", "printed by a hook", "printed by a condition"):
        assert line in result.stderr


# --- reporters --------------------------------------------------------------------------------------

REPORTERS = """
from serviceflow.plugin import ReporterSpec, hookimpl

def raising(evaluation, options):
    raise RuntimeError("the template is missing")

def not_text(evaluation, options):
    return 42

def exiting(evaluation, options):
    raise SystemExit(0)

@hookimpl
def serviceflow_reporters():
    return [
        ReporterSpec("raising", raising),
        ReporterSpec("not-text", not_text),
        ReporterSpec("exiting", exiting),
    ]
"""


@pytest.mark.parametrize(
    ("format_name", "message"),
    [
        (
            "raising",
            "reporter 'raising' (plugin 'misbehaving') failed: RuntimeError: the template is missing",
        ),
        ("not-text", "reporter 'not-text' (plugin 'misbehaving') returned a int, not the report's text"),
        ("exiting", "reporter 'exiting' (plugin 'misbehaving') failed: SystemExit: 0"),
    ],
)
def test_a_reporter_that_fails_is_named_and_the_exit_status_is_2(
    tmp_path: Path, format_name: str, message: str
) -> None:
    result = lint(plugin_dir(tmp_path, REPORTERS), "--format", format_name)
    assert result.exit_code == 2
    assert_no_traceback(result)
    assert f"serviceflow: error: {message}" in result.stderr
    assert result.stdout == ""


# --- readers ----------------------------------------------------------------------------------------

READERS = """
from serviceflow.plugin import ReaderSpec, hookimpl

def strings(sources, stdin):
    yield "not an item"

def exiting(sources, stdin):
    raise SystemExit(0)
    yield

def raising(sources, stdin):
    raise KeyError("column")
    yield

@hookimpl
def serviceflow_readers():
    return [ReaderSpec("strings", strings), ReaderSpec("exiting", exiting), ReaderSpec("raising", raising)]
"""


@pytest.mark.parametrize(
    ("reader", "message"),
    [
        ("strings", "reader 'strings' (plugin 'misbehaving') yielded a str, not a RawItem"),
        ("exiting", "reader 'exiting' (plugin 'misbehaving') failed on "),
        ("raising", "reader 'raising' (plugin 'misbehaving') failed on "),
    ],
)
def test_a_reader_that_misbehaves_is_an_input_error_naming_it(
    tmp_path: Path, reader: str, message: str
) -> None:
    result = lint(plugin_dir(tmp_path, READERS), "--input-format", reader, "--format", "json")
    assert result.exit_code == 2, result.output
    assert_no_traceback(result)
    assert message in result.stderr
    assert message in json.loads(result.stdout)["errors"][0]["message"]


def test_a_reader_item_nested_too_deeply_is_that_items_error(tmp_path: Path) -> None:
    plugins = plugin_dir(
        tmp_path,
        """
        from serviceflow.plugin import ReaderSpec, hookimpl
        from serviceflow.records.raw import RawItem
        from serviceflow.errors import Location

        def deep(sources, stdin):
            value = {}
            for _ in range(200):
                value = {"a": value}
            yield RawItem(Location("deep.log", 1), {"id": "r1", "meta": value})

        @hookimpl
        def serviceflow_readers():
            return [ReaderSpec("deep", deep)]
        """,
    )
    result = lint(plugins, "--input-format", "deep")
    assert result.exit_code == 2
    assert "deep.log:1: /: the record is nested more than 64 levels deep" in result.stderr


# --- conditions and enrichers ---------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["native", "durable"])
def test_sys_exit_in_a_condition_is_an_engine_error_on_both_evaluators(tmp_path: Path, engine: str) -> None:
    from support import durable_available

    if engine == "durable" and not durable_available():
        pytest.skip("durable-rules does not import on this Python")
    plugins = plugin_dir(
        tmp_path,
        """
        import sys
        from serviceflow.plugin import NamedCondition, hookimpl

        def exits(context):
            sys.exit(0)

        @hookimpl
        def serviceflow_named_conditions():
            return [NamedCondition("exits", exits)]
        """,
    )
    policy = tmp_path / "exits.yaml"
    policy.write_text(
        "id: calls-exit\ntitle: t\nseverity: error\nrationale: r\nfor_each: {type: contact}\n"
        "require:\n  condition: {name: exits}\nmessage: m\n"
    )
    result = lint(plugins, "--policies", str(policy), "--no-bundled", "--engine", engine)
    assert result.exit_code == 2, result.output
    assert "5 engine errors" in result.stdout
    assert "raised SystemExit: 0" in result.stdout


def test_an_enricher_whose_factory_fails_is_a_configuration_error_naming_it(tmp_path: Path) -> None:
    plugins = plugin_dir(
        tmp_path,
        """
        from serviceflow.plugin import EnricherSpec, hookimpl

        def create(options):
            return {"threshold": int(options["threshold"])}["missing"]

        @hookimpl
        def serviceflow_enrichers():
            return [EnricherSpec("scorer", create)]
        """,
    )
    config = tmp_path / "serviceflow.toml"
    config.write_text('[enrichers.scorer]\nthreshold = "high"\n')
    result = lint(plugins, "--config", str(config))
    assert result.exit_code == 2
    assert_no_traceback(result)
    assert "enricher 'scorer' (plugin 'misbehaving') could not be created: ValueError:" in result.stderr
    assert "/enrichers/scorer" in result.stderr
