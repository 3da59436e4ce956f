"""The gate and the linter agree: every bundled policy test, replayed through the service.

For each test in policies/tests: its records but the last are ingested one by one (on SQLite), the last
is put to the gate, and the stored findings with the gate's transitions applied must be exactly what
``serviceflow test`` expects (and what it finds).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from live_support import ROOT, finding_keys
from serviceflow import Engine
from serviceflow.findings import Finding
from serviceflow.live import ManualClock, Service
from serviceflow.live.codec import dump_json, finding_from_dict, load_json
from serviceflow.plugins import PluginHost
from serviceflow.policy import load_policies
from serviceflow.policytest.format import PolicyTest, load_test_file
from serviceflow.policytest.results import Outcome, compare
from serviceflow.policytest.runner import PolicyTestRunner
from serviceflow.stores import open_store

TESTS_DIR = ROOT / "policies" / "tests"
_DEFINITIONS = load_policies([ROOT / "policies"], PluginHost().named_conditions)
_RUNNER = PolicyTestRunner(_DEFINITIONS)


def _tests() -> list[PolicyTest]:
    return [test for path in sorted(TESTS_DIR.glob("*.test.yaml")) for test in load_test_file(path).tests]


@pytest.mark.parametrize("policy_test", _tests(), ids=lambda test: test.qualified_name)
def test_replaying_a_policy_test_through_the_gate_gives_what_serviceflow_test_expects(
    policy_test: PolicyTest, tmp_path: Path
) -> None:
    expected_run = _RUNNER.run(policy_test)
    assert expected_run.outcome is Outcome.PASSED, "the bundled test itself must pass"
    records = _RUNNER.records(policy_test)
    raw = [record.fields for record in records]
    engine = Engine(_RUNNER.bind(policy_test), calendars=dict(policy_test.calendars) or None)
    store = open_store(str(tmp_path / "agree.db"))
    store.upgrade()
    service = Service(store, engine, clock=ManualClock(policy_test.now))
    for item in raw[:-1]:
        result = service.ingest([_as_json(item)])
        assert result.accepted == 1, result.rejected
    last = _as_json(raw[-1])
    case_id = last["case_id"]
    answer = service.check(case_id, last)
    findings: dict[tuple[str, str, str], Finding] = {}
    for item in service.findings(limit=1000).items:
        finding = finding_from_dict(item)
        findings[finding.obligation] = finding
    for change in answer.transitions:  # what the gate says the record changes, applied to what is stored
        if change.after is None:
            findings.pop(change.obligation, None)
        else:
            findings[change.obligation] = change.after
    actual = tuple(findings.values())
    missing, unexpected = compare(policy_test.expected, actual)
    assert not missing and not unexpected, (missing, unexpected)
    assert finding_keys(actual) == finding_keys(expected_run.actual)
    assert answer.allowed == (
        not answer.engine_errors and not [f for f in answer.violations if f.severity.rank >= 2]
    )


def _as_json(fields: dict[str, Any]) -> dict[str, Any]:
    """A record as a help desk would send it: JSON, date-times as text."""
    return load_json(dump_json(fields))  # type: ignore[no-any-return]
