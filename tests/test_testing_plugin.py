"""serviceflow.testing: the fixtures and helpers plugin authors test with.

Tested twice over: directly (the helpers are plain functions) and through pytest itself (pytester runs
a plugin author's test file with the ``pytest11`` plugin loaded, as ``pip install serviceflow`` makes it).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from serviceflow import PluginError, hookimpl
from serviceflow.conditions import ConditionContext, NamedCondition
from serviceflow.errors import Location
from serviceflow.plugins import PolicyPackSpec, ReporterSpec
from serviceflow.records import RecordValidator
from serviceflow.records.schemas import load_schemas
from serviceflow.testing import (
    KNOWN_TYPES,
    InvalidTestRecords,
    RecordFactory,
    load_policy_pack,
    make_engine,
    make_host,
    outcomes,
    registered_plugin,
    run_policy_test_files,
)
from serviceflow.testing.fixtures import PluginRegistrar

pytest_plugins = ["pytester"]

VALIDATOR = RecordValidator()


# --- record factories ------------------------------------------------------------------------------


def test_the_factory_knows_every_built_in_record_type() -> None:
    missing = set(load_schemas()) - set(KNOWN_TYPES)
    assert not missing, f"give {sorted(missing)} defaults in serviceflow/testing/records.py (_TYPE_DEFAULTS)"
    assert set(KNOWN_TYPES) <= set(load_schemas())


@pytest.mark.parametrize("record_type", KNOWN_TYPES)
def test_a_default_record_of_each_type_is_valid(record_type: str) -> None:
    make_record = RecordFactory()
    make_record("commitment")  # fulfillments and reschedules refer to one
    record = make_record(record_type)
    VALIDATOR.to_record(record, Location("factory", 1))
    assert (record["case_id"], record["type"], record["actor"]["role"]) == (
        "c1",
        record_type,
        {"confirmation": "customer", "fulfillment": "technician"}.get(record_type, "agent"),
    )


def test_records_follow_one_another_and_refer_to_the_latest_commitment() -> None:
    make_record = RecordFactory(start="2024-05-07T08:00:00Z")
    commitment = make_record("commitment", due=datetime(2024, 5, 8, 12, tzinfo=UTC), resource="jake")
    kept = make_record("fulfillment")
    moved = make_record("reschedule", at="2024-05-07T09:00:00Z")
    note = make_record("note", actor="supervisor:sue")
    assert [r["at"] for r in (commitment, kept, moved, note)] == [
        "2024-05-07T08:00:00Z",
        "2024-05-07T08:05:00Z",
        "2024-05-07T09:00:00Z",
        "2024-05-07T09:05:00Z",
    ]
    assert commitment["due"] == "2024-05-08T12:00:00Z"
    assert kept["commitment_id"] == moved["commitment_id"] == commitment["commitment_id"]
    assert moved["new_due"] == "2024-05-09T12:00:00Z"
    assert (kept["actor"], note["actor"]) == (
        {"role": "technician", "id": "technician-1"},
        {"role": "supervisor", "id": "sue"},
    )


def test_what_the_factory_cannot_guess_is_an_error() -> None:
    make_record = RecordFactory()
    with pytest.raises(ValueError, match="make one first or give commitment_id"):
        make_record("fulfillment")
    with pytest.raises(ValueError, match="unknown actor role 'tech'"):
        make_record("note", actor="tech:jake")
    with pytest.raises(ValueError, match="time zone"):
        make_record("note", at=datetime(2024, 5, 7, 9))


def test_a_plugins_own_record_type_gets_the_envelope_only() -> None:
    record = RecordFactory(case_id="c9")("survey", score=4)
    assert record == {
        "id": "survey-1",
        "case_id": "c9",
        "type": "survey",
        "at": "2024-05-06T09:00:00Z",
        "actor": {"role": "agent", "id": "agent-1"},
        "score": 4,
    }


# --- hosts, registration, engines ------------------------------------------------------------------


class CountReporter:
    """A plugin object (not a module): a reporter that counts violations."""

    @hookimpl
    def serviceflow_reporters(self) -> list[ReporterSpec]:
        return [ReporterSpec("count", lambda evaluation, options: f"{len(evaluation.violations)}\n")]


def test_a_test_host_never_loads_installed_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_fake_plugin(tmp_path, monkeypatch)
    monkeypatch.delenv("SERVICEFLOW_LOAD_PLUGINS", raising=False)
    assert [info.name for info in make_host().plugins()] == ["serviceflow"]
    assert "installed-format" not in make_host().reporters


def test_a_plugin_registered_for_a_block_is_gone_after_it() -> None:
    host = make_host()
    with registered_plugin(host, CountReporter()) as same:
        assert same is host and host.reporters["count"].plugin == "CountReporter"
    assert "count" not in host.reporters


def test_a_plugin_that_fails_to_register_fails_the_test() -> None:
    class Misspelt:
        def serviceflow_reporter(self) -> list[ReporterSpec]:
            return []

    with pytest.raises(PluginError, match="unknown hook"), registered_plugin(make_host(), Misspelt(), "typo"):
        pass


def test_the_registrar_fixture_unregisters_at_teardown_what_no_with_block_did() -> None:
    host = make_host()
    registrar = PluginRegistrar(host)
    registrar(CountReporter(), "kept")
    with registrar(CountReporter(), "scoped"):
        assert {"kept", "scoped"} <= {info.name for info in host.plugins()}
    assert "scoped" not in {info.name for info in host.plugins()}
    registrar.close()
    assert [info.name for info in host.plugins()] == ["serviceflow"]


def test_engines_leave_the_core_policies_out_unless_asked_and_apply_settings() -> None:
    make_record = RecordFactory()
    records = [make_record("case_opened", channel="email")]
    with make_engine() as engine:
        assert engine.policies == []
    settings = {"respond-promptly": {"params": {"within": "1h"}, "severity": "info"}}
    with make_engine(bundled=True, settings=settings) as engine:
        evaluation = engine.evaluate(records, now=datetime(2024, 5, 6, 9, 30, tzinfo=UTC))
    (pending,) = [f for f in evaluation.pending if f.policy == "respond-promptly"]
    assert (pending.deadline, pending.severity.value) == (datetime(2024, 5, 6, 10, 0, tzinfo=UTC), "info")


# --- policy packs -----------------------------------------------------------------------------------

POLICY = """\
id: reason-on-file
title: A commitment naming a technician needs a note saying why
severity: warning
rationale: test
params:
  phrase: {type: string, default: because}
for_each: {type: commitment, where: {present: $it.resource}}
require:
  exists:
    type: note
    where:
      condition: {name: says, args: {note: $it, phrase: $params.phrase}}
message: "{subject.id} has no reason"
"""

POLICY_TEST = """\
policy: reason-on-file
tests:
  - name: no note is a violation
    now: "2024-05-08T00:00:00Z"
    records:
      - {id: k, type: commitment, at: "2024-05-07T09:00:00Z", commitment_id: k, promise: p,
         due: "2024-05-08T09:00:00Z", resource: jake}
    expect: [{record: k, status: violation}]
  - name: a note with the phrase answers it
    now: "2024-05-08T00:00:00Z"
    records:
      - {id: n, type: note, at: "2024-05-07T08:00:00Z", text: "Jake, because he has the part"}
      - {id: k, type: commitment, at: "2024-05-07T09:00:00Z", commitment_id: k, promise: p,
         due: "2024-05-08T09:00:00Z", resource: jake}
    expect: []
"""


def says(context: ConditionContext, note: Any, phrase: str) -> bool:
    return phrase in str(note.get("text", ""))


def pack_plugin(root: Path, policy_test: str = POLICY_TEST) -> SimpleNamespace:
    """A plugin object with a policy pack (a policy, its test file) and the condition it calls."""
    (root / "tests").mkdir(parents=True)
    (root / "reason-on-file.yaml").write_text(POLICY)
    (root / "tests" / "reason-on-file.test.yaml").write_text(policy_test)
    return SimpleNamespace(
        serviceflow_policy_packs=hookimpl(lambda: [PolicyPackSpec("reasons", root, root / "tests")]),
        serviceflow_named_conditions=hookimpl(
            lambda: [NamedCondition("says", says, {"note": "record", "phrase": "string"})]
        ),
    )


def test_a_pack_evaluates_with_its_named_condition(tmp_path: Path, evaluator_name: str) -> None:
    pack = load_policy_pack(pack_plugin(tmp_path), "reasons-plugin")
    assert pack.policy_ids == ["reason-on-file"]
    make_record = RecordFactory()
    commitment = make_record("commitment", resource="jake")
    evaluation = pack.evaluate([commitment], "2024-05-08T00:00:00Z", evaluator=evaluator_name)
    assert outcomes(evaluation) == [("reason-on-file", commitment["id"], "violation")]
    assert evaluation.violations[0].severity.value == "warning"
    note = make_record("note", text="since he has the part")
    changed = pack.evaluate(
        [commitment, note],
        datetime(2024, 5, 8, tzinfo=UTC),
        settings={"reason-on-file": {"params": {"phrase": "since"}}},
    )
    assert changed.violations == ()


def test_invalid_test_records_raise_instead_of_being_skipped(tmp_path: Path) -> None:
    pack = load_policy_pack(pack_plugin(tmp_path), "reasons-plugin")
    broken = {**RecordFactory()("commitment"), "due": "tomorrow"}
    with pytest.raises(InvalidTestRecords, match="1 invalid test record"):
        pack.evaluate([broken], "2024-05-08T00:00:00Z")
    assert len(pack.evaluate([broken], "2024-05-08T00:00:00Z", allow_invalid=True).input_errors) == 1


def test_a_packs_policy_tests_run_through_the_policy_test_runner(tmp_path: Path) -> None:
    pack = load_policy_pack(pack_plugin(tmp_path), "reasons-plugin")
    suite = pack.run_tests()
    assert [result.outcome.value for result in suite.results] == ["passed", "passed"]
    assert [test.name for test in pack.policy_tests()] == [
        "no note is a violation",
        "a note with the phrase answers it",
    ]


def test_a_failing_policy_test_fails_with_the_runners_report(tmp_path: Path) -> None:
    wrong = POLICY_TEST.replace("expect: []", "expect: [{record: k, status: violation}]")
    pack = load_policy_pack(pack_plugin(tmp_path, wrong), "reasons-plugin")
    with pytest.raises(AssertionError) as failure:
        pack.run_tests()
    assert "FAIL" in str(failure.value) and "a note with the phrase answers it" in str(failure.value)
    assert "missing" in str(failure.value)


def test_a_plugin_without_exactly_one_pack_is_named(tmp_path: Path) -> None:
    with pytest.raises(LookupError, match="plugin 'CountReporter' should declare exactly one policy pack"):
        load_policy_pack(CountReporter())
    with pytest.raises(LookupError, match=r"should declare pack 'other' \(it declares: reasons\)"):
        load_policy_pack(pack_plugin(tmp_path), "p", pack="other")


def test_policy_test_files_run_with_the_core_policies_and_plugins(tmp_path: Path) -> None:
    plugin = pack_plugin(tmp_path / "pack")
    core_test = Path(__file__).resolve().parents[1] / "policies" / "tests" / "one-human.test.yaml"
    suite = run_policy_test_files([tmp_path / "pack" / "tests", core_test], plugin)
    assert {test.policies for test in (result.test for result in suite.results)} == {
        ("reason-on-file",),
        ("one-human",),
    }


def test_importing_the_helpers_needs_no_pytest() -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["pytest"] = None  # what 'import pytest' meets where pytest is not installed
        import serviceflow.testing as testing
        record = testing.RecordFactory()("note")
        print(record["type"], hasattr(testing, "make_record"), "serviceflow.testing.fixtures" in sys.modules)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["note", "False", "False"]


# --- through pytest: a plugin author's test file -------------------------------------------------

AUTHOR_TESTS = """
from datetime import datetime, timezone
from types import SimpleNamespace

from serviceflow import hookimpl
from serviceflow.plugins import ReporterSpec
from serviceflow.testing import evaluate, outcomes

import acme_plugin


def test_fixtures_build_records_and_engines(make_record, serviceflow_plugin, serviceflow_engine):
    with serviceflow_plugin(acme_plugin, "acme") as host:
        assert host.named_conditions["says"].plugin == "acme"
        engine = serviceflow_engine()  # the plugin's pack, not the core policies
        evaluation = evaluate(engine, [make_record("commitment", resource="jake")], "2024-05-08T00:00:00Z")
    assert outcomes(evaluation) == [("reason-on-file", "commitment-1", "violation")]
    assert "says" not in host.named_conditions


def test_a_registration_lasts_until_the_test_ends(serviceflow_plugin, serviceflow_host):
    reporter = hookimpl(lambda: [ReporterSpec("n", lambda evaluation, options: "")])
    serviceflow_plugin(SimpleNamespace(serviceflow_reporters=reporter), "n")
    assert "n" in serviceflow_host.reporters


def test_the_next_test_has_a_fresh_host(serviceflow_host):
    assert [info.name for info in serviceflow_host.plugins()] == ["serviceflow"]


def test_the_pack(load_policy_pack, serviceflow_evaluator, make_record):
    pack = load_policy_pack(acme_plugin, "acme")
    commitment = make_record("commitment", resource="jake")
    now = datetime(2024, 5, 8, tzinfo=timezone.utc)
    evaluation = pack.evaluate([commitment], now, evaluator=serviceflow_evaluator)
    assert [f.record_id for f in evaluation.violations] == ["commitment-1"]


def test_the_packs_policy_tests(run_policy_tests):
    suite = run_policy_tests(acme_plugin, name="acme")
    assert len(suite.results) == 2
"""


def install_fake_plugin(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed plugin (module and dist-info with an entry point) that tests must never see."""
    site = root / "site"
    site.mkdir()
    (site / "installed_plugin.py").write_text(
        "from serviceflow import hookimpl\nfrom serviceflow.plugins import ReporterSpec\n"
        "@hookimpl\ndef serviceflow_reporters():\n"
        "    return [ReporterSpec('installed-format', lambda e, o: '')]\n"
    )
    info = site / "installed_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: installed-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[serviceflow]\ninstalled = installed_plugin\n")
    monkeypatch.syspath_prepend(str(site))


def plugin_args() -> list[str]:
    """Load serviceflow.testing explicitly only where its entry point is not installed (an old install)."""
    installed = any(ep.value == "serviceflow.testing" for ep in entry_points(group="pytest11"))
    return [] if installed else ["-p", "serviceflow.testing"]


def test_the_pytest_plugin_serves_a_plugin_authors_tests(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = pytester.path / "pack"
    pack_plugin(root)
    pytester.makepyfile(
        acme_plugin=textwrap.dedent(
            f"""
            from pathlib import Path
            from serviceflow import hookimpl
            from serviceflow.conditions import NamedCondition
            from serviceflow.plugins import PolicyPackSpec

            ROOT = Path({str(root)!r})

            def says(context, note, phrase):
                return phrase in str(note.get("text", ""))

            @hookimpl
            def serviceflow_policy_packs():
                return [PolicyPackSpec("reasons", ROOT, ROOT / "tests")]

            @hookimpl
            def serviceflow_named_conditions():
                return [NamedCondition("says", says, {{"note": "record", "phrase": "string"}})]
            """
        ),
        test_author=AUTHOR_TESTS,
    )
    install_fake_plugin(pytester.path, monkeypatch)
    monkeypatch.delenv("SERVICEFLOW_LOAD_PLUGINS", raising=False)
    result = pytester.runpytest("-p", "no:cacheprovider", "-q", *plugin_args())
    outcome = result.parseoutcomes()
    assert outcome.get("failed", 0) == 0 and outcome.get("error", 0) == 0, result.stdout.str()
    assert outcome["passed"] >= 5


def test_the_entry_point_is_declared_for_pytest() -> None:
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert '[project.entry-points.pytest11]\nserviceflow = "serviceflow.testing"' in pyproject
