"""Policy tests: a policy author's records, ``now`` and expected findings, run as ``serviceflow test``.

As ``kyverno test`` or ``opa test`` do for their policies: a test file names the policies it is about,
gives records (inline or in a file), the time to evaluate at and optional settings, and lists every
finding those policies must produce. :func:`load_test_file` reads one (errors name file, line and
JSON pointer), :class:`PolicyTestRunner` runs its tests against loaded policy definitions on either
evaluator, and :mod:`serviceflow.policytest.report` renders the outcome. The format is documented in
``docs/policy-tests.md``; the bundled policies' own tests are in ``policies/tests/``.
"""

from serviceflow.policytest.discovery import find_test_files
from serviceflow.policytest.format import (
    DEFAULT_ACTOR,
    DEFAULT_CASE,
    ExpectedFinding,
    PolicyTest,
    PolicyTestError,
    PolicyTestFile,
    load_test_file,
    policy_test_schema,
)
from serviceflow.policytest.results import Outcome, PolicyTestResult, SuiteResult, compare
from serviceflow.policytest.runner import PolicyTestRunner, select

__all__ = [
    "DEFAULT_ACTOR",
    "DEFAULT_CASE",
    "ExpectedFinding",
    "Outcome",
    "PolicyTest",
    "PolicyTestError",
    "PolicyTestFile",
    "PolicyTestResult",
    "PolicyTestRunner",
    "SuiteResult",
    "compare",
    "find_test_files",
    "load_test_file",
    "policy_test_schema",
    "select",
]
