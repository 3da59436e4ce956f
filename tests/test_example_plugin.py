"""The example plugin package (examples/acme-policies), loaded from source: a plain ``pytest`` proves it.

CI also installs the package and runs its own tests; here nothing is installed. The plugin module is
imported from ``examples/acme-policies/src`` and registered on a host with the built-ins only, as
``serviceflow.testing`` does, so the seed-000 policy, its named conditions and its policy tests are
checked on every evaluator with the rest of the suite.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from serviceflow import PolicyError, Status
from serviceflow.policytest.report import difference_lines
from serviceflow.policytest.results import Outcome
from serviceflow.run import evaluate_sources
from serviceflow.testing import RecordFactory, load_policy_pack, make_host, outcomes

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "acme-policies"
SOURCE = EXAMPLE / "src"
PACKAGE = "acme_serviceflow_policies"
POLICY = "acme-different-technician"
NOW = "2024-05-08T00:00:00Z"


@pytest.fixture(scope="module")
def acme() -> Iterator[ModuleType]:
    """The example's plugin module imported from its source tree, even if a copy is installed."""
    saved = {name: sys.modules.pop(name) for name in list(sys.modules) if name.split(".")[0] == PACKAGE}
    sys.path.insert(0, str(SOURCE))
    try:
        plugin = importlib.import_module(f"{PACKAGE}.plugin")
        assert Path(plugin.__file__ or "").is_relative_to(SOURCE)
        yield plugin
    finally:
        sys.path.remove(str(SOURCE))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]
        sys.modules.update(saved)


def seed_records() -> list[dict[str, object]]:
    lines = (EXAMPLE / "records" / "seed-000.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_the_acme_policy_fires_on_the_seed_story_only(acme: ModuleType, evaluator_name: str) -> None:
    pack = load_policy_pack(acme, "acme")
    evaluation = pack.evaluate(seed_records(), NOW, evaluator=evaluator_name)
    assert outcomes(evaluation) == [(POLICY, "mw-05", "violation")]
    (finding,) = evaluation.violations
    assert finding.evidence == ("mw-05", "mw-03", "mw-04")
    assert "sends plumber:jake back" in finding.message


def test_the_acme_policy_tests_pass(acme: ModuleType, evaluator_name: str) -> None:
    pack = load_policy_pack(acme, "acme")
    suite = pack.run_tests(evaluator_name, check=False)
    failed = [
        line
        for result in suite.results
        if result.outcome is not Outcome.PASSED
        for line in difference_lines(result)
    ]
    assert len(suite.results) >= 10 and failed == []


def test_the_named_conditions_are_registered_and_decide(acme: ModuleType) -> None:
    host = make_host()
    host.register(acme, "acme")
    conditions = host.named_conditions
    assert {
        conditions[name].plugin for name in ("acme-asks-for-another-technician", "acme-same-technician")
    } == {"acme"}
    make_record = RecordFactory()
    records = [
        make_record("commitment", resource="plumber:jake"),
        make_record("fulfillment", actor={"role": "technician", "id": "tech-7", "name": "Jake"}),
        make_record("confirmation", resolved=False),
        make_record("contact", text="Could you send somebody else?"),
        make_record("commitment", resource="Jake"),
        make_record("commitment", resource="plumber:milo"),
    ]
    pack = load_policy_pack(acme, "acme", host=host)
    assert outcomes(pack.evaluate(records, NOW)) == [(POLICY, "commitment-2", "violation")]


def test_the_plugin_loads_beside_the_core_policies_in_a_lint(acme: ModuleType) -> None:
    from serviceflow.testing import make_engine
    from serviceflow.timeutil import parse_datetime

    host = make_host(acme)
    with make_engine(host, bundled=True) as engine:
        evaluation = evaluate_sources(
            engine, [EXAMPLE / "records" / "seed-000.jsonl"], now=parse_datetime(NOW)
        )
    assert evaluation.input_errors == () and evaluation.engine_errors == ()
    assert [(f.policy, f.record_id) for f in evaluation.violations if f.policy == POLICY] == [
        (POLICY, "mw-05")
    ]
    assert {f.status for f in evaluation.violations} == {Status.VIOLATION}


def test_a_policy_calling_the_condition_wrongly_fails_to_load(acme: ModuleType, tmp_path: Path) -> None:
    from serviceflow.policy import load_policies

    source = (SOURCE / PACKAGE / "policies" / f"{POLICY}.yaml").read_text(encoding="utf-8")
    (tmp_path / "wrong.yaml").write_text(source.replace("visit: $failed_fix", "fix: $failed_fix"))
    host = make_host(acme)
    with pytest.raises(PolicyError, match="named condition 'acme-same-technician' has no argument 'fix'"):
        load_policies([tmp_path / "wrong.yaml"], host.named_conditions)
