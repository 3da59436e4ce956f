"""Every bundled policy's own tests, on every evaluator: exactly the expected findings.

The tests ship with the policies, in ``policies/tests/<policy>.test.yaml`` (the format of
``serviceflow test``, see docs/policy-tests.md), so that they read as each policy's specification:
positive, negative and boundary cases, each with its expected findings. Here they run through the
runner's library API once per evaluator, and a failure shows the runner's own difference.
"""

from __future__ import annotations

from typing import Any

import pytest

from serviceflow.findings import Status
from serviceflow.policy import bundled_policy_dir, load_policies
from serviceflow.policytest import Outcome, PolicyTest, PolicyTestRunner, find_test_files, load_test_file
from serviceflow.policytest.report import difference_lines

POLICY_TESTS_DIR = bundled_policy_dir() / "tests"
DEFINITIONS = load_policies([bundled_policy_dir()])
TEST_FILES = [load_test_file(path) for path in find_test_files([POLICY_TESTS_DIR])]


def _tests() -> list[Any]:
    return [pytest.param(test, id=test.qualified_name) for file in TEST_FILES for test in file.tests]


def test_every_bundled_policy_has_conformance_cases() -> None:
    covered = {policy_id for file in TEST_FILES for policy_id in file.policies}
    assert covered == {definition.id for definition in DEFINITIONS}


def test_every_test_file_names_loaded_policies() -> None:
    runner = PolicyTestRunner(DEFINITIONS)
    for file in TEST_FILES:
        runner.check(file)


@pytest.mark.parametrize("test", _tests())
def test_conformance_case(test: PolicyTest, evaluator_name: str) -> None:
    result = PolicyTestRunner(DEFINITIONS, evaluator=evaluator_name).run(test)
    location = f"{test.file}:{test.location.line}"
    assert result.outcome is Outcome.PASSED, "\n".join([location, *difference_lines(result)])
    for finding in result.actual:
        assert finding.evidence[0] == finding.record_id
        assert (finding.status is Status.PENDING) == (finding.deadline is not None)
