"""The pytest fixtures of ``serviceflow.testing`` (loaded through its ``pytest11`` entry point).

Each fixture is a thin wrapper over a plain function of :mod:`serviceflow.testing`, adding only what
pytest is good at: a fresh object per test and cleaning up after it (plugins unregistered, engines
closed). Only this module needs pytest.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from types import TracebackType
from typing import Any

import pytest

from serviceflow.engine import Engine
from serviceflow.plugins import PluginHost
from serviceflow.policytest import SuiteResult
from serviceflow.testing.engines import make_engine, make_host, registered_plugin
from serviceflow.testing.packs import PolicyPack, load_policy_pack
from serviceflow.testing.records import RecordFactory

EVALUATORS = ("native", "durable")


class PluginRegistration:
    """One plugin registered on a test's host; leaving its ``with`` block (or the test) unregisters it."""

    def __init__(self, stack: ExitStack, host: PluginHost) -> None:
        self._stack = stack
        self.host = host

    def __enter__(self) -> PluginHost:
        return self.host

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stack.close()


class PluginRegistrar:
    """``serviceflow_plugin(plugin)``: registers at once; ``with`` limits it to a block."""

    def __init__(self, host: PluginHost) -> None:
        self.host = host
        self._registrations: list[ExitStack] = []

    def __call__(self, plugin: object, name: str | None = None) -> PluginRegistration:
        stack = ExitStack()
        stack.enter_context(registered_plugin(self.host, plugin, name))
        self._registrations.append(stack)
        return PluginRegistration(stack, self.host)

    def close(self) -> None:
        for stack in reversed(self._registrations):
            stack.close()


@pytest.fixture
def serviceflow_host() -> PluginHost:
    """A strict plugin host with serviceflow's built-ins only: installed plugins are never loaded."""
    return make_host()


@pytest.fixture
def serviceflow_plugin(serviceflow_host: PluginHost) -> Iterator[PluginRegistrar]:
    """Register a plugin (module or object) on the test's host; unregistered when the test ends.

    ``serviceflow_plugin(acme)`` registers it for the rest of the test; ``with serviceflow_plugin(acme)
    as host:`` for the block only. A plugin that fails to load fails the test, naming the error.
    """
    registrar = PluginRegistrar(serviceflow_host)
    yield registrar
    registrar.close()


@pytest.fixture
def serviceflow_engine(serviceflow_host: PluginHost) -> Iterator[Callable[..., Engine]]:
    """Build engines from the test's host (built-ins plus registered plugins); closed after the test.

    ``serviceflow_engine(policies=[path], bundled=False, evaluator="native", settings={id: {...}})``
    (see :func:`serviceflow.testing.make_engine`).
    """
    engines: list[Engine] = []

    def build(**options: Any) -> Engine:
        engine = make_engine(serviceflow_host, **options)
        engines.append(engine)
        return engine

    yield build
    for engine in engines:
        engine.close()


@pytest.fixture
def make_record() -> RecordFactory:
    """``make_record("commitment", resource="plumber:jake")``: valid records, defaults filled."""
    return RecordFactory()


@pytest.fixture(params=EVALUATORS)
def serviceflow_evaluator(request: pytest.FixtureRequest) -> str:
    """Run the test once per evaluator; durable is skipped where durable-rules cannot be imported."""
    if request.param == "durable" and not durable_available():
        pytest.skip("the durable evaluator needs durable-rules (pip install 'serviceflow[durable]')")
    return str(request.param)


@pytest.fixture(name="load_policy_pack")
def load_policy_pack_fixture() -> Callable[..., PolicyPack]:
    """``load_policy_pack(plugin)``: the plugin's policy pack on a fresh host (see
    :func:`serviceflow.testing.load_policy_pack`)."""
    return load_policy_pack


@pytest.fixture
def run_policy_tests() -> Callable[..., SuiteResult]:
    """``run_policy_tests(plugin)``: run the tests of the plugin's policy pack; fail the test on any
    failure with the runner's report. Options: ``evaluator``, ``pack``, ``name``, ``check``."""

    def run(
        plugin: object,
        *,
        evaluator: str = "native",
        pack: str | None = None,
        name: str | None = None,
        check: bool = True,
    ) -> SuiteResult:
        return load_policy_pack(plugin, name, pack=pack).run_tests(evaluator, check=check)

    return run


def durable_available() -> bool:
    """Whether durable-rules imports here (its C extension does not build on CPython 3.13)."""
    if importlib.util.find_spec("durable") is None:
        return False
    try:
        import durable.lang  # noqa: F401
    except Exception:
        return False
    return True
