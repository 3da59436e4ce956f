"""A plugin's policy pack as its tests use it: loaded with its named conditions, evaluated, tested.

::

    pack = load_policy_pack(acme_plugin)
    evaluation = pack.evaluate(records, now="2024-05-08T00:00:00Z")
    pack.run_tests()          # the pack's policy test files, as `serviceflow test` runs them

The pack is loaded exactly as the engine loads it for a user (the plugin registered on a host, its
``serviceflow_policy_packs`` declaration followed, its policies compiled against the host's named
conditions), so a test of the pack also proves the declaration points at the right files. Only the
pack's own policies run: the core policies stay out of its findings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from serviceflow.engine import Engine, bind_policies, validator_for
from serviceflow.findings import Evaluation
from serviceflow.plugins import PluginHost, PolicyPackSpec
from serviceflow.policy import PolicyDefinition, load_policies
from serviceflow.policytest import (
    PolicyTest,
    PolicyTestFile,
    PolicyTestResult,
    PolicyTestRunner,
    SuiteResult,
    find_test_files,
    load_test_file,
)
from serviceflow.policytest.report import render_text
from serviceflow.policytest.results import Outcome
from serviceflow.records.model import Record
from serviceflow.testing.engines import Settings, config_with, evaluate, make_host, plugin_name


@dataclass
class PolicyPack:
    """One policy pack of a registered plugin, compiled against the host's named conditions."""

    spec: PolicyPackSpec
    host: PluginHost
    definitions: tuple[PolicyDefinition, ...]
    _test_files: list[PolicyTestFile] | None = field(default=None, init=False, repr=False)

    @property
    def policy_ids(self) -> list[str]:
        return [definition.id for definition in self.definitions]

    def engine(self, *, evaluator: str = "native", settings: Settings | None = None) -> Engine:
        """An engine with only this pack's policies, set as ``settings`` says (close it after use)."""
        return Engine(
            bind_policies(self.definitions, config_with(settings)),
            evaluator=evaluator,
            definitions=self.definitions,
            plugins=self.host,
        )

    def evaluate(
        self,
        records: Iterable[Mapping[str, Any] | Record],
        now: datetime | str,
        *,
        evaluator: str = "native",
        settings: Settings | None = None,
        allow_invalid: bool = False,
    ) -> Evaluation:
        """Evaluate ``records`` at ``now`` against the pack's policies; invalid records raise."""
        with self.engine(evaluator=evaluator, settings=settings) as engine:
            return evaluate(engine, records, now, allow_invalid=allow_invalid)

    # --- the pack's policy tests (the format of `serviceflow test`, docs/policy-tests.md) ---------

    def test_files(self) -> list[PolicyTestFile]:
        """The pack's test files, read and checked against its policies; none when it declares none."""
        if self._test_files is None:
            paths = find_test_files([self.spec.tests]) if self.spec.tests is not None else []
            runner = self.runner()
            self._test_files = []
            for path in paths:
                test_file = load_test_file(path)
                runner.check(test_file)
                self._test_files.append(test_file)
        return self._test_files

    def policy_tests(self) -> list[PolicyTest]:
        """Every test of every test file, in file order: what a ``parametrize`` over the pack takes."""
        return [test for test_file in self.test_files() for test in test_file.tests]

    def runner(self, evaluator: str = "native") -> PolicyTestRunner:
        """The ``serviceflow test`` runner over this pack's policies, validating the host's record types."""
        return PolicyTestRunner(self.definitions, evaluator, validator_for(self.host))

    def run_test(self, test: PolicyTest, evaluator: str = "native") -> PolicyTestResult:
        return self.runner(evaluator).run(test)

    def run_tests(self, evaluator: str = "native", *, check: bool = True) -> SuiteResult:
        """Run every test of the pack; with ``check`` a failed or errored test raises, with the report."""
        suite = self.runner(evaluator).run_suite(self.policy_tests())
        if check:
            assert_passed(suite)
        return suite


def load_policy_pack(
    plugin: object,
    name: str | None = None,
    *,
    pack: str | None = None,
    host: PluginHost | None = None,
) -> PolicyPack:
    """Register ``plugin`` (on ``host``, or a new host with the built-ins only) and load its pack.

    ``pack`` names the pack when the plugin declares several. A plugin that declares none, or a pack
    whose policies do not load, raises with the reason.
    """
    registered_name = name or plugin_name(plugin)
    if host is None:
        host = make_host()
    if registered_name not in {info.name for info in host.plugins()}:
        host.register(plugin, registered_name)
    packs = [spec for spec in host.policy_packs if spec.plugin == registered_name]
    if pack is not None:
        packs = [spec for spec in packs if spec.name == pack]
    if len(packs) != 1:
        declared = ", ".join(spec.name for spec in host.policy_packs if spec.plugin == registered_name)
        wanted = f"pack '{pack}'" if pack is not None else "exactly one policy pack"
        raise LookupError(
            f"plugin '{registered_name}' should declare {wanted} (it declares: {declared or 'none'})"
        )
    definitions = load_policies([packs[0].path], host.named_conditions)
    return PolicyPack(packs[0], host, tuple(definitions))


def run_policy_test_files(
    paths: Iterable[Path | str],
    *plugins: object,
    evaluator: str = "native",
    bundled: bool = True,
    check: bool = True,
) -> SuiteResult:
    """Run policy test files against the built-ins and ``plugins``, as ``serviceflow test PATH`` does.

    Every pack of every plugin (and, with ``bundled``, the core policies) is loaded, so a test file
    may name any of their policies.
    """
    host = make_host(*plugins)
    packs = [spec.path for spec in host.policy_packs if bundled or not spec.bundled]
    definitions = load_policies(packs, host.named_conditions)
    runner = PolicyTestRunner(definitions, evaluator, validator_for(host))
    tests: list[PolicyTest] = []
    for path in find_test_files(Path(p) for p in paths):
        test_file = load_test_file(path)
        runner.check(test_file)
        tests.extend(test_file.tests)
    suite = runner.run_suite(tests)
    if check:
        assert_passed(suite)
    return suite


def assert_passed(suite: SuiteResult) -> None:
    """Raise ``AssertionError`` with the runner's report unless every test passed."""
    if not suite.results:
        raise AssertionError("no policy tests ran")
    if any(result.outcome is not Outcome.PASSED for result in suite.results):
        raise AssertionError("policy tests did not pass:\n" + render_text(suite))


def policy_test_id(test: PolicyTest) -> str:
    """A readable pytest id for a parametrized policy test: ``POLICY: NAME``."""
    return test.qualified_name
