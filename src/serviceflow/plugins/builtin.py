"""serviceflow's own contributions, registered as a plugin like any other.

Every hook here is ``trylast``: the bundled policies, readers, reporters, the ``phrase-flags``
enricher and the ``log`` action are defaults that any installed plugin can replace by declaring the
same name. Nothing here is special-cased elsewhere: ``serviceflow plugins`` lists it as
``serviceflow``.
"""

from __future__ import annotations

from serviceflow.actions import log
from serviceflow.contributions import (
    ActionSpec,
    EnricherSpec,
    PolicyPackSpec,
    ReaderSpec,
    ReporterSpec,
)
from serviceflow.enrichers import phrase_flags
from serviceflow.hookspecs import hookimpl
from serviceflow.importers import IMPORTERS, TicketLogImporter
from serviceflow.importers.csvlog import expand_csv_sources
from serviceflow.policy.loader import bundled_policy_dir
from serviceflow.records.reader import expand_sources, read_source
from serviceflow.reporters import REPORTERS

RECORDS_FORMAT = "records"
_REPORTER_DESCRIPTIONS = {
    "text": "findings by case, for people",
    "json": "one JSON object: findings, pending, errors, summary",
    "sarif": "SARIF 2.1.0 for code-scanning dashboards",
    "junit": "JUnit XML, one test per policy, for CI systems",
    "github": "GitHub Actions workflow commands (annotations)",
}


@hookimpl(trylast=True)
def serviceflow_policy_packs() -> list[PolicyPackSpec]:
    directory = bundled_policy_dir()
    tests = directory / "tests"
    return [PolicyPackSpec("core", directory, tests if tests.is_dir() else None, bundled=True)]


@hookimpl(trylast=True)
def serviceflow_readers() -> list[ReaderSpec]:
    records = ReaderSpec(
        RECORDS_FORMAT,
        lambda sources, stdin: (item for source in sources for item in read_source(source, stdin)),
        "serviceflow records: JSON Lines or JSON arrays, optionally .gz; - for stdin",
        expand=expand_sources,
    )
    return [records, *(_importer_reader(importer) for importer in IMPORTERS.values())]


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
        ReporterSpec(name, render, _REPORTER_DESCRIPTIONS.get(name, "")) for name, render in REPORTERS.items()
    ]


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
