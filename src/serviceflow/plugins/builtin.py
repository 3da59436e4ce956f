"""serviceflow's own contributions, registered as a plugin like any other.

Every hook here is ``trylast``: the bundled policies, readers, reporters, evaluators, the
``phrase-flags`` enricher and the ``log`` action are defaults that any installed plugin can replace by
declaring the same name. Nothing here is special-cased elsewhere: ``serviceflow plugins`` lists it as
``serviceflow``, and the plugin host is the one registry of all of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from serviceflow.actions import log
from serviceflow.calendars import Calendar
from serviceflow.contributions import (
    ActionSpec,
    EnricherSpec,
    EvaluatorSpec,
    PolicyPackSpec,
    ReaderSpec,
    ReporterSpec,
)
from serviceflow.enrichers import phrase_flags
from serviceflow.errors import EvaluatorError
from serviceflow.evaluators.base import Evaluator
from serviceflow.evaluators.native import NativeEvaluator
from serviceflow.hookspecs import hookimpl
from serviceflow.importers import BUILT_IN_IMPORTERS, TicketLogImporter, abcd, twcs
from serviceflow.importers.csvlog import expand_csv_sources
from serviceflow.policy.ir import CompiledPolicy
from serviceflow.policy.loader import bundled_policy_dir
from serviceflow.records.raw import RECORDS_FORMAT
from serviceflow.records.reader import expand_sources, read_records
from serviceflow.reporters.github import render_github
from serviceflow.reporters.json_report import render_json
from serviceflow.reporters.junit import render_junit
from serviceflow.reporters.sarif import render_sarif
from serviceflow.reporters.text import render_text


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
    return [
        records,
        *(_importer_reader(importer()) for importer in BUILT_IN_IMPORTERS),
        twcs.reader(),
        abcd.reader(),
    ]


def _importer_reader(importer: TicketLogImporter) -> ReaderSpec:
    return ReaderSpec(
        importer.name,
        importer,
        f"{importer.summary} (CSV, optionally .gz; see docs/importers.md)",
        expand=lambda paths: expand_csv_sources(paths, importer.accepts),
    )


@hookimpl(trylast=True)
def serviceflow_reporters() -> list[ReporterSpec]:
    return [
        ReporterSpec("text", render_text, "findings by case, for people"),
        ReporterSpec("json", render_json, "one JSON object: violations, pending, errors, summary"),
        ReporterSpec("sarif", render_sarif, "SARIF 2.1.0 for code-scanning dashboards"),
        ReporterSpec("junit", render_junit, "JUnit XML, one test per policy, for CI systems"),
        ReporterSpec("github", render_github, "GitHub Actions workflow commands (annotations)"),
    ]


@hookimpl(trylast=True)
def serviceflow_evaluators() -> list[EvaluatorSpec]:
    return [
        EvaluatorSpec("native", NativeEvaluator, "the reference evaluator, in plain Python"),
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
            phrase_flags.NAME,
            phrase_flags.create,
            "flags contacts whose text questions values, policies or next steps (off unless enabled)",
        )
    ]


@hookimpl(trylast=True)
def serviceflow_actions() -> list[ActionSpec]:
    return [ActionSpec(log.NAME, log.create, "writes each finding to a JSON Lines file or the Python log")]
