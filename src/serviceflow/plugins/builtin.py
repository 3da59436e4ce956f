"""serviceflow's own contributions, registered as a plugin like any other.

Every hook here is ``trylast``: the bundled policies, readers, reporters, evaluators, the
``phrase-flags`` enricher and the ``log`` action are defaults that any installed plugin can replace by
declaring the same name. Nothing here is special-cased elsewhere: ``serviceflow plugins`` lists it as
``serviceflow``, and the plugin host is the one registry of all of them.

What each declaration points at is imported when first called (:class:`_Lazy`): every command
collects the plugins' declarations, and ``serviceflow --version`` should not wait for the HTML
report, the evaluators and the importers to load.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from serviceflow.contributions import (
    ActionSpec,
    EnricherSpec,
    EvaluatorSpec,
    PolicyPackSpec,
    ReaderSpec,
    ReporterSpec,
)
from serviceflow.errors import EvaluatorError
from serviceflow.hookspecs import hookimpl
from serviceflow.policy.bundled import bundled_policy_dir
from serviceflow.records.raw import RECORDS_FORMAT
from serviceflow.records.reader import expand_sources, read_records

if TYPE_CHECKING:
    from serviceflow.calendars import Calendar
    from serviceflow.evaluators.base import Evaluator
    from serviceflow.importers import TicketLogImporter
    from serviceflow.policy.ir import CompiledPolicy


class _Lazy:
    """A function (or callable object) named ``module:attribute``, imported when first called."""

    __slots__ = ("_target", "where")

    def __init__(self, where: str) -> None:
        self.where = where
        self._target: Any = None

    @property
    def target(self) -> Any:
        if self._target is None:
            module, attribute = self.where.split(":")
            self._target = getattr(importlib.import_module(module), attribute)
        return self._target

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.target(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<{self.where}>"


@hookimpl(trylast=True)
def serviceflow_policy_packs() -> list[PolicyPackSpec]:
    directory = bundled_policy_dir()
    tests = directory / "tests"
    return [PolicyPackSpec("core", directory, tests if tests.is_dir() else None, bundled=True)]


@hookimpl(trylast=True)
def serviceflow_readers() -> list[ReaderSpec]:
    records = ReaderSpec(
        RECORDS_FORMAT,
        read_records,
        "serviceflow records: JSON Lines or JSON arrays, optionally gzip; - for stdin",
        expand=expand_sources,
    )
    from serviceflow.importers import BUILT_IN_IMPORTERS, abcd, twcs

    return [
        records,
        *(_importer_reader(importer()) for importer in BUILT_IN_IMPORTERS),
        twcs.reader(),
        abcd.reader(),
    ]


def _importer_reader(importer: TicketLogImporter) -> ReaderSpec:
    from serviceflow.importers.csvlog import expand_csv_sources

    return ReaderSpec(
        importer.name,
        importer,
        f"{importer.summary} (CSV, optionally .gz; see docs/importers.md)",
        expand=lambda paths: expand_csv_sources(paths, importer.accepts),
    )


@hookimpl(trylast=True)
def serviceflow_reporters() -> list[ReporterSpec]:
    return [
        ReporterSpec("text", _Lazy("serviceflow.reporters.text:render_text"), "findings by case, for people"),
        ReporterSpec(
            "json",
            _Lazy("serviceflow.reporters.json_report:render_json"),
            "one JSON object: violations, pending, errors, summary",
        ),
        ReporterSpec(
            "sarif",
            _Lazy("serviceflow.reporters.sarif:render_sarif"),
            "SARIF 2.1.0 for code-scanning dashboards",
        ),
        ReporterSpec(
            "junit",
            _Lazy("serviceflow.reporters.junit:render_junit"),
            "JUnit XML, one test per policy, for CI",
        ),
        ReporterSpec(
            "github",
            _Lazy("serviceflow.reporters.github:render_github"),
            "GitHub Actions workflow commands (annotations)",
        ),
        ReporterSpec(
            "html",
            _Lazy("serviceflow.reporters.html:render_html"),
            "one self-contained HTML page: charts, cases, a searchable table",
        ),
    ]


@hookimpl(trylast=True)
def serviceflow_evaluators() -> list[EvaluatorSpec]:
    return [
        EvaluatorSpec(
            "native",
            _Lazy("serviceflow.evaluators.native:NativeEvaluator"),
            "the reference evaluator, in plain Python",
        ),
        EvaluatorSpec(
            "durable", _durable, "durable-rules' Rete network (extra 'durable'; CPython 3.11, 3.12)"
        ),
    ]


def _durable(policies: Sequence[CompiledPolicy], calendars: Mapping[str, Calendar]) -> Evaluator:
    """The durable evaluator, imported only when chosen: durable-rules is an optional dependency."""
    try:
        from serviceflow.evaluators.durable import DurableEvaluator
    except ImportError as exc:
        raise EvaluatorError(
            "the durable evaluator needs durable-rules, which installs on CPython 3.11 and 3.12: "
            f"pip install 'serviceflow[durable]' ({exc})"
        ) from None
    return DurableEvaluator(policies, calendars)


@hookimpl(trylast=True)
def serviceflow_enrichers() -> list[EnricherSpec]:
    return [
        EnricherSpec(
            "phrase-flags",
            _Lazy("serviceflow.enrichers.phrase_flags:create"),
            "flags contacts whose text questions values, policies or next steps (off unless enabled)",
        )
    ]


@hookimpl(trylast=True)
def serviceflow_actions() -> list[ActionSpec]:
    return [
        ActionSpec(
            "log",
            _Lazy("serviceflow.actions.log:create"),
            "writes each finding to a JSON Lines file or the Python log",
        ),
        ActionSpec(
            "webhook",
            _Lazy("serviceflow.actions.webhook:create"),
            "POSTs each finding to a URL, signed per Standard Webhooks",
        ),
    ]
