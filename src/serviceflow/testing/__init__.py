"""Testing serviceflow plugins: records, engines and policy packs for a plugin author's tests.

With pytest, this package is a pytest plugin (entry point ``pytest11: serviceflow``), so installing
serviceflow is enough for these fixtures to be available in any test:

===========================  ==========================================================================
``make_record``              :class:`RecordFactory`: ``make_record("commitment", resource="jake")``
``serviceflow_host``         a strict :class:`~serviceflow.plugins.PluginHost`, built-ins only
``serviceflow_plugin``       ``with serviceflow_plugin(my_plugin) as host:`` registers for the test
``serviceflow_engine``       ``serviceflow_engine(policies=..., settings=...)``: engines on that host
``load_policy_pack``         ``load_policy_pack(my_plugin).evaluate(records, now)``
``run_policy_tests``         ``run_policy_tests(my_plugin)``: the pack's policy test files must pass
``serviceflow_evaluator``    parametrizes a test over the native and (where it runs) durable evaluators
===========================  ==========================================================================

``internal_imports(package_dir)`` lists the internal serviceflow modules a plugin package imports (it
should use only ``serviceflow`` and ``serviceflow.plugin``, which stay stable between releases).

Nothing here discovers installed plugins: a test sees serviceflow's built-ins and what it registers,
so it passes or fails the same on every machine. Without pytest the same helpers are plain functions
(``make_host``, ``make_engine``, ``load_policy_pack``, ``run_policy_test_files``...) and importing
this package needs no pytest; the fixtures are defined only when pytest can be imported.
"""

from serviceflow.testing.engines import (
    InvalidTestRecords,
    all_findings,
    as_now,
    config_with,
    evaluate,
    make_engine,
    make_host,
    outcomes,
    plugin_name,
    registered_plugin,
)
from serviceflow.testing.imports import PUBLIC_MODULES, imported_modules, internal_imports
from serviceflow.testing.packs import (
    PolicyPack,
    assert_passed,
    load_policy_pack,
    policy_test_id,
    run_policy_test_files,
)
from serviceflow.testing.records import KNOWN_TYPES, RecordFactory, actor_of

__all__ = [
    "KNOWN_TYPES",
    "PUBLIC_MODULES",
    "InvalidTestRecords",
    "PolicyPack",
    "RecordFactory",
    "actor_of",
    "all_findings",
    "as_now",
    "assert_passed",
    "config_with",
    "evaluate",
    "imported_modules",
    "internal_imports",
    "load_policy_pack",
    "make_engine",
    "make_host",
    "outcomes",
    "plugin_name",
    "policy_test_id",
    "registered_plugin",
    "run_policy_test_files",
]

try:
    import pytest  # noqa: F401  (only to know whether the fixtures can be defined)
except ModuleNotFoundError:  # a notebook or a script: the plain helpers above are all there is
    pass
else:
    # pytest collects fixtures from the attributes of the plugin module, which is this package.
    from serviceflow.testing.fixtures import (  # noqa: F401
        load_policy_pack_fixture,
        make_record,
        run_policy_tests,
        serviceflow_engine,
        serviceflow_evaluator,
        serviceflow_host,
        serviceflow_plugin,
    )
