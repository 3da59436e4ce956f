"""Acme's policy pack, tested as a plugin author would: with the fixtures of ``serviceflow.testing``.

The policy's own specification is its policy test file (``policies/tests/``), run here once per test
and per evaluator; the tests below cover what a policy test cannot: the named conditions on their
own, the plugin as an engine loads it, and the installed package as ``serviceflow`` finds it.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import pytest
from acme_serviceflow_policies import plugin
from acme_serviceflow_policies.conditions import asks_for_another_technician, identity, same_technician
from click.testing import CliRunner

from serviceflow.cli import main
from serviceflow.conditions import ConditionContext
from serviceflow.errors import Location
from serviceflow.plugins import discover
from serviceflow.policytest import PolicyTest
from serviceflow.policytest.report import difference_lines
from serviceflow.policytest.results import Outcome
from serviceflow.records import Record, RecordValidator
from serviceflow.run import evaluate_sources
from serviceflow.testing import RecordFactory, load_policy_pack, outcomes, policy_test_id
from serviceflow.timeutil import parse_datetime

POLICY = "acme-different-technician"
RECORDS = Path(__file__).resolve().parents[1] / "records" / "seed-000.jsonl"
PACK = load_policy_pack(plugin, "acme")


@pytest.mark.parametrize("test", PACK.policy_tests(), ids=policy_test_id)
def test_policy_test_file(test: PolicyTest, serviceflow_evaluator: str) -> None:
    result = PACK.run_test(test, serviceflow_evaluator)
    assert result.outcome is Outcome.PASSED, "\n".join(difference_lines(result))


def test_the_pack_declares_its_policy_and_its_tests() -> None:
    assert PACK.policy_ids == [POLICY]
    assert PACK.spec.tests is not None and [f.policies for f in PACK.test_files()] == [(POLICY,)]


def test_the_seed_story_built_with_the_record_factory(load_policy_pack, make_record) -> None:
    pack = load_policy_pack(plugin, "acme")
    records = [
        make_record("commitment", resource="plumber:jake"),
        make_record("fulfillment", actor="technician:jake"),
        make_record("contact", flags=["customer_dissatisfied"], text="I'd rather have someone else"),
        make_record("commitment", resource="plumber:jake"),
    ]
    sent_back = records[-1]["id"]
    evaluation = pack.evaluate(records, now="2024-05-07T00:00:00Z")
    assert outcomes(evaluation) == [(POLICY, sent_back, "violation")]
    reason = make_record(
        "note", text="Nobody else is free today; Milo only tomorrow", at="2024-05-06T09:20:00Z"
    )
    assert pack.evaluate([*records, reason], now="2024-05-07T00:00:00Z").violations == ()


def test_the_plugin_in_an_engine_with_the_core_policies(serviceflow_plugin, serviceflow_engine) -> None:
    with serviceflow_plugin(plugin, "acme") as host:
        assert host.named_conditions["acme-same-technician"].plugin == "acme"
        engine = serviceflow_engine(bundled=True)
        evaluation = evaluate_sources(engine, [RECORDS], now=parse_datetime("2024-05-08T00:00:00Z"))
    assert evaluation.input_errors == () and evaluation.engine_errors == ()
    acme = [(f.case_id, f.record_id) for f in evaluation.violations if f.policy == POLICY]
    assert acme == [("milkyway-leak", "mw-05")]
    assert {f.policy for f in evaluation.violations} > {POLICY}, "the core policies ran too"


# --- the named conditions on their own -----------------------------------------------------------

VALIDATOR = RecordValidator()


def as_records(*data: dict) -> list[Record]:
    records = [VALIDATOR.to_record(item, Location("test", index)) for index, item in enumerate(data, 1)]
    for seq, record in enumerate(records):
        record.seq = seq
    return records


def context(records: list[Record]) -> ConditionContext:
    return ConditionContext("c1", parse_datetime("2024-05-08T00:00:00Z"), records, POLICY)


@pytest.mark.parametrize(
    ("words", "asked"),
    [
        ("Billy, I\u2019d rather have someone else.", True),  # a typographic apostrophe
        ("Can you send a DIFFERENT\n   technician?", True),
        ("Someone elsewhere in the building has a leak", False),
        ("Thanks, Jake did a great job", False),
    ],
)
def test_a_request_for_another_technician_is_recognised_in_the_customers_words(
    words: str, asked: bool
) -> None:
    make_record = RecordFactory()
    (contact,) = as_records(make_record("contact", text=words))
    phrases = ["someone else", "different technician"]
    assert asks_for_another_technician(context([contact]), contact, phrases) is asked


def test_the_phrases_also_match_the_agents_summary_and_the_meta_flag() -> None:
    make_record = RecordFactory()
    summary, flagged = as_records(
        make_record("contact", summary="Customer asks for someone else"),
        make_record("contact", meta={"technician_change_requested": True}),
    )
    assert asks_for_another_technician(context([summary]), summary, ["someone else"])
    assert asks_for_another_technician(context([flagged]), flagged, [])


@pytest.mark.parametrize(
    ("name", "person"), [("plumber:jake", "jake"), (" Jake ", "jake"), ("Mary Ann", "mary ann")]
)
def test_identity_is_the_person_without_the_rosters_prefix(name: str, person: str) -> None:
    assert identity(name) == person


def test_the_technician_of_a_visit_is_its_actor_or_the_resource_of_the_commitment_it_kept() -> None:
    make_record = RecordFactory()
    records = as_records(
        make_record("commitment", resource="plumber:jake"),
        make_record("fulfillment", actor="agent"),
        make_record("commitment", resource="Jake"),
        make_record("commitment", resource="plumber:milo"),
    )
    _first, visit, jake_again, milo = records
    case = context(records)
    assert same_technician(case, jake_again, visit)
    assert not same_technician(case, milo, visit)


# --- the installed package, as serviceflow finds it ---------------------------------------------


def installed() -> bool:
    try:
        metadata.distribution("acme-serviceflow-policies")
    except metadata.PackageNotFoundError:
        return False
    return True


needs_install = pytest.mark.skipif(not installed(), reason="acme-serviceflow-policies is not installed")


@needs_install
def test_the_installed_entry_point_ships_the_yaml_and_its_tests() -> None:
    host = discover(environ={"SERVICEFLOW_LOAD_PLUGINS": "acme"})
    assert host.failures == []
    (pack,) = [spec for spec in host.policy_packs if spec.plugin == "acme"]
    assert (pack.path / f"{POLICY}.yaml").is_file()
    assert pack.tests is not None and (pack.tests / f"{POLICY}.test.yaml").is_file()
    assert {"acme-asks-for-another-technician", "acme-same-technician"} <= set(host.named_conditions)


@needs_install
def test_serviceflow_plugins_lists_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICEFLOW_LOAD_PLUGINS", "acme")
    result = CliRunner().invoke(main, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    (acme,) = [p for p in json.loads(result.output)["plugins"] if p["name"] == "acme"]
    assert acme["version"] == metadata.version("acme-serviceflow-policies")
    assert acme["contributes"]["policy_packs"] == ["acme"]
