"""The ABCD pack as a plugin author tests it: its policy tests, its record type, its named condition,
and the eight real conversations copied into ``tests/data`` (MIT, see tests/data/README.md)."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from abcd_cli import run, violations
from serviceflow_abcd import plugin
from serviceflow_abcd.conditions import first_number, number_below

from serviceflow.plugins import discover
from serviceflow.policytest import PolicyTest
from serviceflow.policytest.report import difference_lines
from serviceflow.policytest.results import Outcome
from serviceflow.testing import load_policy_pack, policy_test_id

PACK = load_policy_pack(plugin, "abcd")
DATA = Path(__file__).parent / "data"
EXCERPT = DATA / "abcd_excerpt_conversations_flat.json"
ONTOLOGY = (
    Path(__file__).resolve().parents[4] / "shared" / "data" / "real" / "abcd-action-based-conversations"
)
TROUBLESHOOTING = {"credit_card", "shopping_cart", "search_results", "slow_speed"}


@pytest.mark.parametrize("test", PACK.policy_tests(), ids=policy_test_id)
def test_policy_test_file(test: PolicyTest, serviceflow_evaluator: str) -> None:
    result = PACK.run_test(test, serviceflow_evaluator)
    assert result.outcome is Outcome.PASSED, "\n".join(difference_lines(result))


def test_every_policy_has_its_test_file_and_they_see_every_clause_both_ways(tmp_path: Path) -> None:
    assert sorted(f.policies[0] for f in PACK.test_files()) == sorted(PACK.policy_ids)
    assert PACK.spec.tests is not None
    result = run(tmp_path, "test", str(PACK.spec.tests), "--coverage", "--threshold", "100")
    assert result.exit_code == 0, result.output
    assert f"in {len(PACK.policy_ids)} policies; threshold 100%: met" in result.output


@pytest.mark.skipif(not (ONTOLOGY / "ontology.json").is_file(), reason=f"needs ontology.json in {ONTOLOGY}")
def test_each_subflow_with_a_concluding_action_is_judged_by_exactly_one_policy() -> None:
    """The 51 subflows whose guidelines end in an action; troubleshooting lets the agent pick any."""
    ontology = json.loads((ONTOLOGY / "ontology.json").read_text())
    subflows = {name for names in ontology["intents"]["subflows"].values() for name in names}
    judged: list[str] = []
    for path in sorted(PACK.spec.path.glob("*.yaml")):
        judged += yaml.safe_load(path.read_text())["params"]["subflows"]["default"]
    assert sorted(judged) == sorted(subflows - TROUBLESHOOTING)


def test_the_excerpt_gives_each_outcome_once(tmp_path: Path) -> None:
    result = run(
        tmp_path, "lint", str(EXCERPT), "--input-format", "abcd", "--now", "2000-01-02T00:00:00Z",
        "--format", "json", "--fail-on", "never",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["summary"]["invalid_records"] == 0 and report["summary"]["cases"] == 8
    assert sorted((f["policy"], f["record_id"], f["status"]) for f in violations(report)) == [
        ("abcd-dispute-bill", "excerpt-4-14", "violation"),
        ("abcd-faq-answer", "excerpt-6-17", "violation"),
        ("abcd-initiate-refund", "excerpt-1-24", "violation"),
        ("abcd-return", "excerpt-3-22", "violation"),
    ]
    messages = {f["record_id"]: f["message"] for f in violations(report)}
    assert "enter-details (none)" in messages["excerpt-1-24"]
    assert "membership (none)" in messages["excerpt-4-14"]
    assert "search-membership (none)" in messages["excerpt-6-17"]


def test_a_verification_has_a_kind_identity_or_purchase_and_nothing_undeclared(tmp_path: Path) -> None:
    envelope = {"case_id": "c1", "at": "2000-01-01T00:00:01Z", "actor": {"role": "agent", "id": "a"}}
    records = [
        {
            "id": "v1",
            "type": "verification",
            "kind": "identity",
            "text": "Identity verification ...",
            **envelope,
        },
        {"id": "v2", "type": "verification", "kind": "fingerprint", **envelope},
        {"id": "v3", "type": "verification", "kind": "purchase", "order_id": "42", **envelope},
        {"id": "v4", "type": "verification", **envelope},
    ]
    path = tmp_path / "records.jsonl"
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    result = run(tmp_path, "validate", str(path))
    assert result.exit_code == 2
    lines = result.stdout.splitlines()
    assert any(line.startswith(f"{path}:2: /kind:") for line in lines), result.stdout
    assert any(line.startswith(f"{path}:3: ") and "order_id" in line for line in lines), result.stdout
    assert any(line.startswith(f"{path}:4: ") and "kind" in line for line in lines), result.stdout
    assert not any(line.startswith(f"{path}:1:") for line in lines)


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("5", 5.0),
        ("5 days", 5.0),
        ("more than 7 days", 7.0),
        ("waited 2.5 days", 2.5),
        ("previous purchase", None),
        ("", None),
        (None, None),
    ],
)
def test_the_first_number_is_read_out_of_what_the_agent_typed(text: str | None, number: float | None) -> None:
    assert first_number(text) == number


def test_a_text_without_a_number_is_not_below_any_limit() -> None:
    assert number_below(None, "5 days", 7) and not number_below(None, "7 days", 7)  # type: ignore[arg-type]
    assert not number_below(None, "previous purchase", 7)  # type: ignore[arg-type]
    assert not number_below(None, None, 7)  # type: ignore[arg-type]


def test_the_plugin_declares_the_record_type_the_pack_and_the_condition(serviceflow_plugin) -> None:
    with serviceflow_plugin(plugin, "abcd") as host:
        assert host.record_types["verification"].plugin == "abcd"
        assert host.named_conditions["abcd-number-below"].plugin == "abcd"
        assert [spec.name for spec in host.policy_packs if spec.plugin == "abcd"] == ["abcd"]


# --- the installed package, as serviceflow finds it ---------------------------------------------


def installed() -> bool:
    try:
        metadata.distribution("serviceflow-abcd")
    except metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.skipif(not installed(), reason="serviceflow-abcd is not installed")
def test_the_installed_entry_point_ships_the_policies_their_tests_and_the_schema() -> None:
    host = discover(environ={"SERVICEFLOW_LOAD_PLUGINS": "abcd"})
    assert host.failures == []
    (pack,) = [spec for spec in host.policy_packs if spec.plugin == "abcd"]
    assert len(list(pack.path.glob("*.yaml"))) == len(PACK.policy_ids)
    assert pack.tests is not None and len(list(pack.tests.glob("*.test.yaml"))) == len(PACK.policy_ids)
    assert "verification" in host.record_types
