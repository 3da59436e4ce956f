"""The plugin host: discovery, isolation of broken plugins, overriding built-ins, and every hook used.

Installed plugins are simulated by a real ``*.dist-info`` directory on ``sys.path`` (what pip writes),
so entry-point discovery runs exactly as for a user's installed package.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from serviceflow import Engine, PluginError, Status, hookimpl
from serviceflow.cli import main
from serviceflow.conditions import NamedCondition
from serviceflow.config import Config
from serviceflow.errors import EvaluatorError, Location
from serviceflow.plugins import (
    EnricherSpec,
    PluginHost,
    PolicyPackSpec,
    ReaderSpec,
    RecordTypeSpec,
    ReporterSpec,
    discover,
    registered,
)
from serviceflow.records.reader import RawItem
from serviceflow.run import evaluate_sources
from serviceflow.timeutil import parse_datetime
from serviceflow.transitions import idempotency_key
from support import with_defaults

NOW = parse_datetime("2024-05-09T14:00:00Z")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "records"


def install_fake_distribution(root: Path, name: str, version: str, module_source: str) -> None:
    """Write a module and the dist-info pip would, with an entry point in the 'serviceflow' group."""
    module = name.replace("-", "_")
    (root / f"{module}.py").write_text(textwrap.dedent(module_source))
    info = root / f"{module}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[serviceflow]\n{name} = {module}\n")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory on sys.path standing for site-packages."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    return root


REPORTER_PLUGIN = """
from serviceflow import hookimpl
from serviceflow.plugins import ReporterSpec

@hookimpl
def serviceflow_reporters():
    return [ReporterSpec("count", lambda evaluation, options: f"{len(evaluation.violations)} violations\\n")]
"""


# --- discovery ---------------------------------------------------------------------------------


def test_installed_plugins_load_unless_the_environment_says_otherwise(site: Path) -> None:
    install_fake_distribution(site, "acme-count", "1.2.0", REPORTER_PLUGIN)
    every = discover(environ={})
    assert "count" in every.reporters
    (info,) = [p for p in every.plugins() if p.name == "acme-count"]
    assert (info.version, info.source, info.hooks) == (
        "1.2.0",
        "entry point of acme-count",
        ("serviceflow_reporters",),
    )
    assert "count" not in discover(environ={"SERVICEFLOW_LOAD_PLUGINS": ""}).reporters
    assert "count" in discover(environ={"SERVICEFLOW_LOAD_PLUGINS": "acme-count"}).reporters


def test_asking_for_a_plugin_that_is_not_installed_is_a_named_failure(site: Path) -> None:
    host = discover(environ={"SERVICEFLOW_LOAD_PLUGINS": "acme-crm"})
    assert [(f.name, "no installed plugin" in f.error) for f in host.failures] == [("acme-crm", True)]


def test_a_plugin_that_fails_to_import_is_named_and_the_others_load(site: Path) -> None:
    install_fake_distribution(site, "acme-broken", "0.1", "import no_such_module\n")
    install_fake_distribution(site, "acme-count", "1.2.0", REPORTER_PLUGIN)
    host = discover(environ={})
    assert "count" in host.reporters
    (failure,) = host.failures
    assert failure.name == "acme-broken" and "ModuleNotFoundError" in failure.error
    with pytest.raises(PluginError, match="plugin 'acme-broken' failed to load"):
        discover(environ={}, strict=True)


def test_plugins_dir_files_load_as_plugins_named_after_the_file(tmp_path: Path) -> None:
    (tmp_path / "counting.py").write_text(REPORTER_PLUGIN)
    (tmp_path / "_helper.py").write_text("raise RuntimeError('not a plugin')\n")
    (tmp_path / "typo.py").write_text("def serviceflow_reporter():\n    return []\n")
    host = discover([tmp_path], environ={"SERVICEFLOW_LOAD_PLUGINS": ""})
    assert host.reporters["count"].plugin == "counting"
    (failure,) = host.failures
    assert failure.name == "typo" and "unknown hook(s) serviceflow_reporter" in failure.error


# --- isolation and merging ---------------------------------------------------------------------


class Raising:
    @hookimpl
    def serviceflow_readers(self) -> list[ReaderSpec]:
        raise RuntimeError("CRM credentials missing")


class WrongType:
    @hookimpl
    def serviceflow_reporters(self) -> Any:
        return {"count": "not a spec"}


def test_a_hook_that_raises_or_returns_the_wrong_thing_is_named_and_skipped() -> None:
    host = PluginHost()
    host.register(Raising(), "crm")
    host.register(WrongType(), "wrong")
    assert "records" in host.readers and "text" in host.reporters
    errors = {f.name: f.error for f in host.failures}
    assert "hook serviceflow_readers failed: RuntimeError: CRM credentials missing" in errors["crm"]
    assert "must return a list of ReporterSpec" in errors["wrong"]


class LoudText:
    @hookimpl
    def serviceflow_reporters(self) -> list[ReporterSpec]:
        return [ReporterSpec("text", lambda evaluation, options: "LOUD\n")]


def test_a_plugin_replaces_a_trylast_built_in_by_declaring_its_name() -> None:
    host = PluginHost()
    host.register(LoudText(), "loud")
    assert host.reporters["text"].plugin == "loud"
    (builtin,) = [p for p in host.plugins() if p.name == "serviceflow"]
    assert "text" in builtin.contributes["reporters"]


def test_two_plugins_with_one_name_is_a_failure() -> None:
    host = PluginHost()
    assert host.register(LoudText(), "loud")
    assert not host.register(LoudText(), "loud")
    assert host.failures[0].error == "a plugin with this name is already registered"


# --- each extension point through the engine ---------------------------------------------------

TICKET_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "allOf": [{"$ref": "https://serviceflow.dev/schemas/envelope.schema.json"}],
    "properties": {"type": {"const": "survey"}, "score": {"type": "integer", "minimum": 1, "maximum": 5}},
    "required": ["score"],
}

SURVEY_POLICY = """\
id: low-survey-followed-up
title: A low survey score gets a follow-up
severity: warning
rationale: '"Circle back" (seed 001)'
for_each:
  type: survey
  where:
    condition: {name: unhappy, args: {survey: $it}}
require:
  exists:
    type: contact
    where:
      - after: [$it, $subject]
      - eq: [$it.direction, outbound]
message: Survey {subject.id} scored {subject.score} and nobody followed up
"""


class SurveyPlugin:
    """A business's plugin: a record type, a named condition and a policy pack using both."""

    def __init__(self, pack: Path) -> None:
        self.pack = pack

    @hookimpl
    def serviceflow_record_types(self) -> list[RecordTypeSpec]:
        return [RecordTypeSpec("survey", TICKET_SCHEMA)]

    @hookimpl
    def serviceflow_named_conditions(self) -> list[NamedCondition]:
        return [
            NamedCondition("unhappy", lambda context, survey: survey.get("score") <= 2, {"survey": "record"})
        ]

    @hookimpl
    def serviceflow_policy_packs(self) -> list[PolicyPackSpec]:
        return [PolicyPackSpec("surveys", self.pack)]


def survey_engine(tmp_path: Path) -> Engine:
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "low-survey.yaml").write_text(SURVEY_POLICY)
    host = PluginHost()
    host.register(SurveyPlugin(pack), "acme-surveys")
    return Engine.from_config(config=Config(bundled=False), plugins=host)


def test_a_plugin_policy_pack_uses_its_record_type_and_named_condition(tmp_path: Path) -> None:
    engine = survey_engine(tmp_path)
    records = with_defaults(
        [
            {"id": "s1", "type": "survey", "at": "2024-05-07T09:00:00Z", "score": 1},
            {"id": "s2", "type": "survey", "at": "2024-05-07T09:00:00Z", "score": 5, "case_id": "c2"},
            {"id": "s3", "type": "survey", "at": "2024-05-07T09:00:00Z", "score": 9, "case_id": "c3"},
        ]
    )
    evaluation = engine.evaluate(records, now=NOW)
    assert [(f.policy, f.record_id) for f in evaluation.violations] == [("low-survey-followed-up", "s1")]
    (error,) = evaluation.input_errors
    assert error.location.pointer == "/score" and "9 is greater than the maximum of 5" in error.message


def test_a_record_type_with_an_invalid_schema_is_a_plugin_failure() -> None:
    class BadSchema:
        @hookimpl
        def serviceflow_record_types(self) -> list[RecordTypeSpec]:
            return [RecordTypeSpec("survey", {"type": "objekt"})]

    host = PluginHost()
    host.register(BadSchema(), "bad-schema")
    assert host.record_types == {}
    assert "record type 'survey'" in host.failures[0].error


def test_a_plugin_reader_is_an_input_format(tmp_path: Path) -> None:
    def read(sources: Any, stdin: Any) -> Any:
        for source in sources:
            for number, line in enumerate(Path(source).read_text().splitlines(), start=1):
                case, when, to = line.split(";")
                yield RawItem(
                    Location(str(source), number),
                    {
                        "id": f"{case}-{number}",
                        "case_id": case,
                        "type": "status_change",
                        "at": when,
                        "to": to,
                        "actor": {"role": "agent", "id": "a"},
                    },
                )

    class Semicolons:
        @hookimpl
        def serviceflow_readers(self) -> list[ReaderSpec]:
            return [ReaderSpec("semicolons", read)]

    export = tmp_path / "export.txt"
    export.write_text("t1;2024-05-07T09:00:00Z;closed\nt2;2024-05-07T09:00:00Z;open\n")
    host = PluginHost()
    host.register(Semicolons(), "semicolons")
    engine = Engine.from_config(config=Config(), plugins=host)
    evaluation = evaluate_sources(engine, [export], NOW, input_format="semicolons")
    assert evaluation.records == 2
    closed = [f.record_id for f in evaluation.violations if f.policy == "no-close-without-confirmation"]
    assert closed == ["t1-1"]


def test_a_plugin_evaluator_is_chosen_by_name_and_gives_the_findings_it_computes(tmp_path: Path) -> None:
    from serviceflow.evaluators.native import NativeEvaluator
    from serviceflow.plugin import EvaluatorSpec

    evaluated: list[str] = []

    class Counting(NativeEvaluator):
        name = "counting"

        def evaluate_case(self, case_id: str, records: Any, now: Any) -> Any:
            evaluated.append(case_id)
            return super().evaluate_case(case_id, records, now)

    class Evaluators:
        @hookimpl
        def serviceflow_evaluators(self) -> list[EvaluatorSpec]:
            return [EvaluatorSpec("counting", Counting, "the native evaluator, counting cases")]

    host = PluginHost()
    host.register(Evaluators(), "evaluators")
    export = tmp_path / "export.jsonl"
    records = with_defaults(
        [{"id": "x1", "type": "status_change", "at": "2024-05-07T09:00:00Z", "to": "closed"}], "t1"
    )
    export.write_text("\n".join(json.dumps(record) for record in records))
    with Engine.from_config(config=Config(), plugins=host, evaluator="counting") as engine:
        evaluation = evaluate_sources(engine, [export], NOW)
    assert evaluated == ["t1"]
    assert [f.policy for f in evaluation.violations] == ["no-close-without-confirmation"]
    assert sorted(host.evaluators) == ["counting", "durable", "native"]


def test_an_unknown_evaluator_names_the_plugin_ones_too() -> None:
    with pytest.raises(EvaluatorError, match=r"unknown evaluator 'rete' \(evaluators: durable, native\)"):
        Engine.from_config(config=Config(), plugins=PluginHost(), evaluator="rete")


# --- enrichers -----------------------------------------------------------------------------------

QUESTIONED = {
    "id": "k1",
    "type": "contact",
    "at": "2024-05-09T09:00:00Z",
    "channel": "phone",
    "direction": "inbound",
    "text": "Is that allowed? Your policy says the visit is free.",
}


def test_the_phrase_flags_enricher_is_off_until_enabled() -> None:
    config = Config(policies={})
    engine = Engine.from_config(config=config, plugins=PluginHost())
    assert engine.evaluate(with_defaults([QUESTIONED]), now=NOW).violations == ()


def test_the_phrase_flags_enricher_flags_what_the_customer_said() -> None:
    config = Config(enrichers={"phrase-flags": {"enabled": True}})
    engine = Engine.from_config(config=config, plugins=PluginHost())
    evaluation = engine.evaluate(with_defaults([QUESTIONED]), now=NOW)
    assert [(f.policy, f.record_id) for f in evaluation.violations] == [("escalate-values-in-question", "k1")]
    assert "policy_question" in evaluation.violations[0].message


def test_phrase_lists_are_configuration_per_flag() -> None:
    config = Config(enrichers={"phrase-flags": {"phrases": {"policy_question": ["ist das erlaubt"]}}})
    engine = Engine.from_config(config=config, plugins=PluginHost())
    german = {**QUESTIONED, "text": "Ist das erlaubt?"}
    assert len(engine.evaluate(with_defaults([german]), now=NOW).violations) == 1
    assert engine.evaluate(with_defaults([QUESTIONED]), now=NOW).violations == ()


def test_an_enricher_that_raises_is_an_engine_error_and_the_record_is_still_evaluated() -> None:
    def create(options: Any) -> Any:
        def enrich(record_type: str, data: Any) -> Any:
            if data["id"] == "k1":
                raise LookupError("sentiment service down")
            return None

        return enrich

    class Sentiment:
        @hookimpl
        def serviceflow_enrichers(self) -> list[EnricherSpec]:
            return [EnricherSpec("sentiment", create, enabled_by_default=True)]

    host = PluginHost()
    host.register(Sentiment(), "acme-sentiment")
    engine = Engine.from_config(config=Config(), plugins=host)
    flagged = {**QUESTIONED, "flags": ["values_in_question"]}
    evaluation = engine.evaluate(with_defaults([flagged]), now=NOW)
    (error,) = evaluation.engine_errors
    assert error.status is Status.ERROR and error.policy == "enricher:sentiment"
    assert "enricher 'sentiment' (plugin acme-sentiment) raised LookupError" in error.message
    assert [f.record_id for f in evaluation.violations] == ["k1"]


def test_an_enricher_that_makes_a_record_invalid_is_an_input_error() -> None:
    class Breaker:
        @hookimpl
        def serviceflow_enrichers(self) -> list[EnricherSpec]:
            return [
                EnricherSpec(
                    "breaker", lambda options: lambda t, d: {"flags": ["bogus"]}, enabled_by_default=True
                )
            ]

    host = PluginHost()
    host.register(Breaker(), "breaker")
    evaluation = Engine.from_config(config=Config(), plugins=host).evaluate(
        with_defaults([QUESTIONED]), now=NOW
    )
    (error,) = evaluation.input_errors
    assert "after enrichment (phrase-flags, breaker)" not in error.message
    assert "after enrichment (breaker)" in error.message and error.location.pointer == "/flags/0"
    assert evaluation.records == 1


def test_configuring_an_unknown_enricher_is_an_error() -> None:
    from serviceflow import ConfigError

    with pytest.raises(ConfigError, match="unknown enricher 'sentiment'"):
        Engine.from_config(config=Config(enrichers={"sentiment": {}}), plugins=PluginHost())


def test_registered_undoes_a_plugin_after_the_block() -> None:
    host = PluginHost()
    with registered(host, LoudText(), "loud"):
        assert host.reporters["text"].plugin == "loud"
    assert host.reporters["text"].plugin == "serviceflow"


# --- the CLI -------------------------------------------------------------------------------------


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(main, list(args), env={"SERVICEFLOW_LOAD_PLUGINS": "", **(env or {})})


def test_cli_plugins_lists_versions_hooks_and_failures(site: Path, tmp_path: Path) -> None:
    install_fake_distribution(site, "acme-count", "1.2.0", REPORTER_PLUGIN)
    plugins_dir = tmp_path / "plugins"
    plugins_dir.mkdir()
    (plugins_dir / "broken.py").write_text("raise ValueError('half-written plugin')\n")
    result = run(
        "--plugins-dir", str(plugins_dir), "plugins", "--json", env={"SERVICEFLOW_LOAD_PLUGINS": "acme-count"}
    )
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert [(p["name"], p["version"]) for p in data["plugins"]] == [
        ("serviceflow", "0.1.0"),
        ("acme-count", "1.2.0"),
    ]
    assert data["plugins"][1]["contributes"] == {"reporters": ["count"]}
    assert (
        data["failed"][0]["name"] == "broken"
        and "ValueError: half-written plugin" in data["failed"][0]["error"]
    )
    version = run("--version", env={"SERVICEFLOW_LOAD_PLUGINS": "acme-count"})
    assert version.stdout.splitlines() == ["serviceflow 0.1.0", "  plugin acme-count 1.2.0"]


def test_cli_a_broken_plugin_does_not_take_lint_down_unless_strict(tmp_path: Path) -> None:
    (tmp_path / "counting.py").write_text(REPORTER_PLUGIN)
    (tmp_path / "broken.py").write_text("import no_such_module\n")
    args = ["lint", str(EXAMPLES), "--now", "2024-05-09T14:00:00Z", "--plugins-dir", str(tmp_path)]
    result = run(*args, "--format", "count", "--fail-on", "never")
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith(" violations\n")
    assert "plugin 'broken' failed to load" in result.stderr
    strict = run(*args, "--strict-plugins")
    assert strict.exit_code == 2
    assert "serviceflow: error: plugin 'broken' failed to load" in strict.stderr
    assert "Traceback" not in strict.output


def test_cli_an_unknown_format_names_the_plugin_formats_too(tmp_path: Path) -> None:
    (tmp_path / "counting.py").write_text(REPORTER_PLUGIN)
    result = run("lint", str(EXAMPLES), "--plugins-dir", str(tmp_path), "--format", "xlsx")
    assert result.exit_code == 2
    assert "unknown format 'xlsx' (formats: text, json, sarif, junit, github, html, count)" in result.stderr


def test_cli_lint_runs_the_log_action_once_per_violation(tmp_path: Path) -> None:
    log = tmp_path / "actions.jsonl"
    (tmp_path / "serviceflow.toml").write_text(f'[actions.log]\npath = "{log}"\n')
    args = [
        "lint",
        str(EXAMPLES),
        "--now",
        "2024-05-09T14:00:00Z",
        "--config",
        str(tmp_path / "serviceflow.toml"),
    ]
    first = run(*args, "--action", "log", "--format", "json")
    violations = json.loads(first.stdout)["violations"]
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(entries) == len(violations) > 0
    first_obligation = (violations[0]["case_id"], violations[0]["policy"], violations[0]["record_id"])
    assert entries[0]["key"] == idempotency_key(first_obligation, "violated", "log")
    assert entries[0]["transition"] == "violated"
    run(*args, "--action", "log")
    assert len(log.read_text().splitlines()) == len(violations)  # idempotent per idempotency key
    unknown = run(*args, "--action", "page-the-ceo")
    assert unknown.exit_code == 2
    assert "unknown action 'page-the-ceo' (actions: log, webhook)" in unknown.stderr


def test_cli_a_failing_action_is_named_and_makes_the_exit_status_2(tmp_path: Path) -> None:
    (tmp_path / "pager.py").write_text(
        textwrap.dedent(
            """
            from serviceflow import hookimpl
            from serviceflow.plugins import ActionSpec

            def create(options):
                def act(finding, context):
                    raise ConnectionError("pager service unreachable")
                return act

            @hookimpl
            def serviceflow_actions():
                return [ActionSpec("page", create)]
            """
        )
    )
    result = run(
        "lint",
        str(EXAMPLES),
        "--now",
        "2024-05-09T14:00:00Z",
        "--plugins-dir",
        str(tmp_path),
        "--action",
        "page",
    )
    assert result.exit_code == 2
    assert (
        "action 'page' failed for" in result.stderr
        and "ConnectionError: pager service unreachable" in result.stderr
    )


def test_sys_modules_is_not_polluted_by_a_failed_plugin_file(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("raise ValueError('x')\n")
    discover([tmp_path], environ={"SERVICEFLOW_LOAD_PLUGINS": ""})
    assert "serviceflow_plugins_dir.broken" not in sys.modules


def test_a_strict_host_raises_the_plugin_error_every_time_it_is_asked() -> None:
    host = PluginHost(strict=True)
    host.register(Raising(), "crm")
    for _ in range(2):
        with pytest.raises(PluginError, match="plugin 'crm' failed to load: hook serviceflow_readers failed"):
            _ = host.readers
