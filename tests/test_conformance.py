"""Every conformance case of every bundled policy, on every evaluator: exactly the expected findings.

The cases live in ``tests/conformance/<policy>.yaml`` (see the README there) so that they read as the
policy's specification: positive, negative and boundary cases, each with its expected findings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from serviceflow import Engine, Status
from serviceflow.calendars import calendars_from_config
from serviceflow.policy import bundled_policy_dir, load_policies
from serviceflow.policy.yamlsource import load_yaml
from serviceflow.timeutil import parse_datetime
from support import with_defaults

CONFORMANCE_DIR = Path(__file__).parent / "conformance"
DEFINITIONS = {definition.id: definition for definition in load_policies([bundled_policy_dir()])}


def _cases() -> list[Any]:
    params = []
    for file in sorted(CONFORMANCE_DIR.glob("*.yaml")):
        document = load_yaml(file).data
        for case in document["cases"]:
            params.append(pytest.param(document["policy"], case, id=f"{document['policy']}: {case['name']}"))
    return params


def test_every_bundled_policy_has_conformance_cases() -> None:
    covered = {load_yaml(file).data["policy"] for file in CONFORMANCE_DIR.glob("*.yaml")}
    assert covered == set(DEFINITIONS)


@pytest.mark.parametrize(("policy_id", "case"), _cases())
def test_conformance_case(policy_id: str, case: dict[str, Any], evaluator_name: str) -> None:
    compiled = DEFINITIONS[policy_id].bind(case.get("params"), calendar=case.get("calendar"))
    calendars = calendars_from_config({"calendars": case.get("calendars", {})}, CONFORMANCE_DIR)
    engine = Engine([compiled], evaluator=evaluator_name, calendars=calendars)
    try:
        evaluation = engine.evaluate(with_defaults(case["records"]), now=parse_datetime(case["now"]))
    finally:
        engine.close()
    assert evaluation.input_errors == []
    actual = sorted(
        (f.case_id, f.record_id, f.status.value, f.deadline) for f in evaluation.findings + evaluation.pending
    )
    expected = sorted(
        (
            item.get("case", "c1"),
            item["record"],
            item["status"],
            parse_datetime(item["deadline"]) if "deadline" in item else None,
        )
        for item in case["expect"]
    )
    assert actual == expected
    by_record = {f.record_id: f for f in evaluation.findings + evaluation.pending}
    for item in case["expect"]:
        finding = by_record[item["record"]]
        assert finding.policy == policy_id
        assert finding.evidence[0] == finding.record_id
        if "evidence" in item:
            assert list(finding.evidence) == item["evidence"]
        assert (finding.status is Status.PENDING) == (finding.deadline is not None)
