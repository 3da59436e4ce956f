"""Run policy tests: bind the policies under test as the test sets them, evaluate its records, compare.

The runner is given the loaded policy definitions (bundled, ``--policies``, plugin packs: whatever the
caller's engine loaded) and runs each test with only the policies it is about, so that a test of one
policy never breaks because another was added. Policies start from their defaults, not from the
project's ``serviceflow.toml``: a test states every setting it depends on, and passes or fails the same
wherever it runs.

Whatever is wrong with one test (a setting its policy rejects, an invalid record, a plugin that
raised) makes that test an *error* naming where the problem is; the other tests still run. Problems of
a whole file (unreadable, against the schema, naming a policy that is not loaded) are raised instead,
by :func:`load_test_file` and :meth:`PolicyTestRunner.check`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from serviceflow.config import CASE_CALENDAR, PolicySettings
from serviceflow.engine import Engine
from serviceflow.errors import EvaluatorError, Location, PolicyError, RecordError, ServiceflowError
from serviceflow.findings import Finding
from serviceflow.plugins import PluginHost
from serviceflow.policy import CompiledPolicy, PolicyDefinition
from serviceflow.policytest.format import PolicyTest, PolicyTestError, PolicyTestFile
from serviceflow.policytest.results import Outcome, PolicyTestResult, SuiteResult, TestRun, compare
from serviceflow.records import Admission, Record, RecordValidator
from serviceflow.records.reader import read_source

_NO_CALENDAR = "none"


class PolicyTestRunner:
    """Runs tests against a set of policy definitions on one evaluator."""

    def __init__(
        self,
        definitions: Iterable[PolicyDefinition],
        evaluator: str = "native",
        validator: RecordValidator | None = None,
        plugins: PluginHost | None = None,
    ) -> None:
        """``plugins`` supplies the evaluators (default: the built-in ones)."""
        self.definitions = {definition.id: definition for definition in definitions}
        self.evaluator = evaluator
        self.validator = validator or RecordValidator()
        self.plugins = plugins
        self._admission = Admission(self.validator)

    def check(self, test_file: PolicyTestFile) -> None:
        """Raise :class:`PolicyTestError` when the file names a policy that is not loaded."""
        for index, policy_id in enumerate(test_file.policies):
            if policy_id not in self.definitions:
                pointer = "/policy" if len(test_file.policies) == 1 else f"/policies/{index}"
                location = (
                    test_file.document.location(pointer)
                    if test_file.document is not None
                    else Location(str(test_file.path))
                )
                known = ", ".join(sorted(self.definitions)) or "none"
                raise PolicyTestError(f"no policy '{policy_id}' is loaded (policies: {known})", location)

    def run_suite(self, tests: Iterable[PolicyTest]) -> SuiteResult:
        return SuiteResult(tuple(self.run(test) for test in tests), self.evaluator)

    def run(self, test: PolicyTest) -> PolicyTestResult:
        """Run one test; a problem with it becomes an ``error`` result, never an exception.

        An evaluator that cannot run here at all (durable-rules missing) still raises
        :class:`EvaluatorError`: no test could pass, and the cause is not in the test.
        """
        try:
            policies = self.bind(test)
            records = self.records(test)
        except PolicyTestError as error:
            return PolicyTestResult(test, Outcome.ERROR, errors=(error,))
        except _RecordErrors as problems:
            return PolicyTestResult(test, Outcome.ERROR, errors=problems.errors)
        calendars = dict(test.calendars) if test.calendars else None
        try:
            engine = Engine(
                policies, self.evaluator, self.validator, calendars=calendars, plugins=self.plugins
            )
        except EvaluatorError:
            raise
        except ServiceflowError as error:
            return PolicyTestResult(test, Outcome.ERROR, errors=(_at_test(error, test),))
        with engine:
            evaluation = engine.evaluate(records, test.now)
        run = TestRun(policies, calendars, records, test.now)
        errors: list[ServiceflowError] = list(evaluation.input_errors)
        errors.extend(
            EvaluatorError(f"engine error: {finding.message}", finding.origin or test.location)
            for finding in evaluation.engine_errors
        )
        actual = (*evaluation.violations, *evaluation.pending)
        if errors:
            return PolicyTestResult(test, Outcome.ERROR, errors=tuple(errors), actual=actual, run=run)
        missing, unexpected = compare(test.expected, actual)
        outcome = Outcome.FAILED if missing or unexpected else Outcome.PASSED
        return PolicyTestResult(test, outcome, missing, unexpected, actual=actual, run=run)

    def bind(self, test: PolicyTest) -> list[CompiledPolicy]:
        """The policies under test, compiled with the test's settings (disabled ones left out)."""
        compiled = []
        for policy_id in test.policies:
            definition = self.definitions.get(policy_id)
            if definition is None:
                raise PolicyTestError(f"no policy '{policy_id}' is loaded", test.location)
            settings = test.settings.get(policy_id, PolicySettings())
            if not settings.enabled:
                continue
            where = test.settings_pointers.get(policy_id, test.location.pointer or "")
            calendar = settings.calendar
            if calendar is not None and calendar not in (*test.calendars, CASE_CALENDAR, _NO_CALENDAR):
                known = ", ".join(sorted(test.calendars)) or "none defined"
                raise PolicyTestError(
                    f"unknown calendar '{calendar}' (calendars: {known}; or 'case', or 'none')",
                    test.locate(f"{where}/calendar"),
                )
            try:
                compiled.append(definition.bind(settings.params, settings.severity, calendar))
            except PolicyError as exc:
                raise PolicyTestError(exc.message, test.locate(f"{where}/params")) from None
        return compiled

    def records(self, test: PolicyTest) -> list[Record]:
        """The test's records, admitted as lint admits them; every refused one is reported where it
        was written (a file's line, or the test file's line and pointer for a record written inline)."""
        records: list[Record] = []
        errors: list[ServiceflowError] = []
        admit = self._admission.admit
        problems: list[Finding | RecordError] = []
        if test.records_file is not None:
            for item in read_source(test.records_file):
                if item.error is not None:
                    errors.append(item.error)
                    continue
                try:
                    records.append(admit(item.data, item.origin, len(records), problems))
                except RecordError as error:
                    errors.append(error)
        for inline in test.records:
            try:
                records.append(admit(inline.data, inline.location, len(records), problems))
            except RecordError as error:
                pointer = f"{inline.location.pointer}{error.location.pointer or ''}"
                errors.append(RecordError(error.message, test.locate(pointer), error.record_id))
        if errors:
            raise _RecordErrors(tuple(errors))
        return records


def select(tests: Iterable[PolicyTest], keywords: Sequence[str]) -> list[PolicyTest]:
    """The tests whose ``POLICY: NAME`` contains any of ``keywords`` (case-insensitive); all if none."""
    wanted = [keyword.casefold() for keyword in keywords]
    return [
        test
        for test in tests
        if not wanted or any(keyword in test.qualified_name.casefold() for keyword in wanted)
    ]


class _RecordErrors(Exception):
    """Every invalid record of one test, raised out of :meth:`PolicyTestRunner.records` at once."""

    def __init__(self, errors: tuple[ServiceflowError, ...]) -> None:
        super().__init__(f"{len(errors)} invalid records")
        self.errors = errors


def _at_test(error: ServiceflowError, test: PolicyTest) -> ServiceflowError:
    """An error raised without a place (a policy's own calendar not defined) placed at the test."""
    if error.location.file is not None:
        return error
    return PolicyTestError(error.message, test.location)
