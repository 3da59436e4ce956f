"""The library's front door: build an :class:`Engine` from policies and configuration, then evaluate.

This is what a help desk embeds::

    from serviceflow import Engine
    engine = Engine.from_config()                       # bundled policies, nearest serviceflow.toml
    evaluation = engine.evaluate(records, now=now)      # records: dicts as exported
    for finding in evaluation.findings: ...

It imports no CLI, HTTP or database code; adapters call it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from serviceflow.calendars import ALWAYS, Calendar
from serviceflow.config import CASE_CALENDAR, Config, find_config, load_config
from serviceflow.enrichers import ActiveEnricher, EnricherChain
from serviceflow.errors import ConfigError, EvaluatorError, InputError, Location, PolicyError, RecordError
from serviceflow.evaluators.base import Evaluator
from serviceflow.evaluators.native import NativeEvaluator
from serviceflow.findings import Evaluation, Finding, Severity, Status
from serviceflow.plugins import PluginHost, discover
from serviceflow.policy import CompiledPolicy, PolicyDefinition, load_policies
from serviceflow.policy.fieldrefs import check_field_references
from serviceflow.records import CaseStore, Record, RecordValidator
from serviceflow.records.schemas import load_schemas

ProgressCallback = Callable[[int], None]
PROGRESS_EVERY = 10_000


def make_evaluator(
    name: str, policies: Sequence[CompiledPolicy], calendars: Mapping[str, Calendar] | None = None
) -> Evaluator:
    """Instantiate an evaluator by name; the durable one is imported only when asked for."""
    if name == "native":
        return NativeEvaluator(policies, calendars)
    if name == "durable":
        try:
            from serviceflow.evaluators.durable import DurableEvaluator
        except ImportError as exc:
            raise EvaluatorError(
                "the durable evaluator needs durable-rules, which installs on CPython 3.11 and 3.12: "
                f"pip install 'serviceflow[durable]' ({exc})"
            ) from None
        return DurableEvaluator(policies, calendars)
    raise EvaluatorError(f"unknown evaluator '{name}' (evaluators: native, durable)")


class Engine:
    """Validates records and evaluates them, case by case, against compiled policies at ``now``."""

    def __init__(
        self,
        policies: Sequence[CompiledPolicy],
        evaluator: str = "native",
        validator: RecordValidator | None = None,
        definitions: Sequence[PolicyDefinition] = (),
        calendars: Mapping[str, Calendar] | None = None,
        plugins: PluginHost | None = None,
        enrichers: EnricherChain | None = None,
    ) -> None:
        """``plugins`` supplies input formats and record types (default: the built-ins only);
        ``enrichers`` the enrichers to run on each record (default: none)."""
        self.policies = list(policies)
        self.definitions = list(definitions)
        self.evaluator_name = evaluator
        self.plugins = plugins if plugins is not None else PluginHost()
        self.validator = validator or validator_for(self.plugins)
        self.enrichers = enrichers if enrichers is not None else EnricherChain([])
        self.calendars = dict(calendars) if calendars is not None else {ALWAYS.name: ALWAYS}
        _check_policy_calendars(self.policies, self.calendars)
        self._evaluator = make_evaluator(evaluator, self.policies, self.calendars)

    @classmethod
    def from_config(
        cls,
        policy_paths: Sequence[Path | str] = (),
        config: Config | Path | str | None = None,
        evaluator: str | None = None,
        bundled: bool | None = None,
        search_from: Path | None = None,
        plugins: PluginHost | None = None,
    ) -> Engine:
        """Load bundled, plugin and named policies, apply the configuration, choose the evaluator.

        ``config`` may be a :class:`Config`, a path, or ``None`` to look for the nearest
        ``serviceflow.toml`` / ``pyproject.toml`` above ``search_from`` (default: the working directory).
        ``plugins`` defaults to discovering installed plugins (``SERVICEFLOW_LOAD_PLUGINS`` chooses;
        see :mod:`serviceflow.plugins.discovery`).
        """
        if not isinstance(config, Config):
            path = Path(config) if config is not None else find_config(search_from or Path.cwd())
            config = load_config(path)
        host = plugins if plugins is not None else discover()
        use_bundled = config.bundled if bundled is None else bundled
        paths = [pack.path for pack in host.policy_packs if use_bundled or not pack.bundled]
        paths.extend(config.policy_paths)
        paths.extend(Path(p) for p in policy_paths)
        definitions = load_policies(paths, host.named_conditions)
        engine = cls(
            bind_policies(definitions, config),
            evaluator=evaluator or config.evaluator,
            definitions=definitions,
            calendars=config.calendars,
            plugins=host,
            enrichers=enricher_chain(host, config),
        )
        # A policy reading a field no schema defines would silently never fire: refuse it up front.
        wrong_fields = check_field_references(definitions, engine.validator.schemas)
        if wrong_fields:
            engine.close()
            more = (
                f" (and {len(wrong_fields) - 1} more; see 'serviceflow policies check')"
                if len(wrong_fields) > 1
                else ""
            )
            first = wrong_fields[0]
            raise PolicyError(first.message + more, first.location, first.policy_id)
        return engine

    def evaluate(self, records: Iterable[Mapping[str, Any] | Record], now: datetime) -> Evaluation:
        """Validate ``records`` (dicts, or Records already validated) and evaluate every case at ``now``.

        Invalid records are reported in ``input_errors`` and skipped; the others are still evaluated.
        """
        _require_aware(now)
        store = CaseStore(self.validator.schemas)
        evaluation = Evaluation(now=now)
        for index, item in enumerate(records, start=1):
            self._admit(item, Location("<records>", index), store, evaluation)
        self._evaluate_store(store, evaluation)
        return evaluation

    def lint(
        self,
        sources: Sequence[str | Path],
        now: datetime,
        stdin: BinaryIO | None = None,
        on_progress: ProgressCallback | None = None,
        input_format: str | None = None,
    ) -> Evaluation:
        """Read record files (JSON Lines, JSON arrays, ``.gz``, ``-`` for stdin), validate, evaluate.

        ``input_format`` names an importer (:mod:`serviceflow.importers`) that maps another format, such
        as a help desk's event log, to records. A malformed or invalid record, or an unreadable file, is
        reported and skipped; every other record is still evaluated.
        """
        reader = self.plugins.reader(input_format or "records")
        _require_aware(now)
        store = CaseStore(self.validator.schemas)
        evaluation = Evaluation(now=now)
        read = 0
        for source in reader.expand(sources):
            try:
                for item in reader.read([source], stdin):
                    read += 1
                    if on_progress is not None and read % PROGRESS_EVERY == 0:
                        on_progress(read)
                    if item.error is not None:
                        evaluation.input_errors.append(item.error)
                    else:
                        self._admit(item.data, item.origin, store, evaluation)
            except InputError as error:
                evaluation.input_errors.append(error)
        self._evaluate_store(store, evaluation)
        return evaluation

    def evaluate_case(self, case_id: str, records: Sequence[Record], now: datetime) -> Evaluation:
        """Evaluate one case whose records are already validated and in case order."""
        _require_aware(now)
        evaluation = Evaluation(now=now, cases=1, records=len(records))
        for finding in self._evaluator.evaluate_case(case_id, records, now):
            evaluation.add(finding)
        evaluation.sort()
        return evaluation

    def _admit(self, item: Any, origin: Location, store: CaseStore, evaluation: Evaluation) -> None:
        """Validate and enrich one item and keep it for its case, or record why it was rejected."""
        try:
            record = item if isinstance(item, Record) else self.validator.to_record(item, origin)
        except RecordError as error:
            evaluation.input_errors.append(error)
            return
        if self.enrichers and not isinstance(item, Record):
            record = self._enrich(item, record, origin, evaluation)
        calendar = record.get("calendar") if record.type == "case_opened" else None
        if calendar is not None and calendar not in self.calendars:
            known = ", ".join(sorted(self.calendars))
            evaluation.input_errors.append(
                RecordError(
                    f"unknown calendar '{calendar}' (calendars: {known})",
                    replace(record.origin or origin, pointer="/calendar"),
                    record.id,
                )
            )
            return
        duplicate = store.add(record)
        if duplicate is not None:
            evaluation.input_errors.append(duplicate)

    def _enrich(
        self, data: Mapping[str, Any], record: Record, origin: Location, evaluation: Evaluation
    ) -> Record:
        """The record with its enrichers' fields, validated again; as read when an enricher failed."""
        enriched, failures = self.enrichers.apply(data)
        for failure in failures:
            evaluation.add(
                Finding(
                    policy=f"enricher:{failure.name}",
                    severity=Severity.ERROR,
                    status=Status.ERROR,
                    case_id=record.case_id,
                    record_id=record.id,
                    message=failure.message,
                    evidence=(record.id,),
                    origin=record.origin,
                )
            )
        if enriched is None:
            return record
        try:
            return self.validator.to_record(enriched, origin)
        except RecordError as error:
            names = ", ".join(enricher.name for enricher in self.enrichers.enrichers)
            evaluation.input_errors.append(
                RecordError(f"after enrichment ({names}): {error.message}", error.location, error.record_id)
            )
            return record

    def _evaluate_store(self, store: CaseStore, evaluation: Evaluation) -> None:
        evaluation.records = len(store)
        evaluation.cases = store.case_count
        for case_id, case_records in store.cases():
            for finding in self._evaluator.evaluate_case(case_id, case_records, evaluation.now):
                evaluation.add(finding)
        evaluation.sort()

    def wrap_evaluator(self, wrap: Callable[[Evaluator], Evaluator]) -> None:
        """Put ``wrap(evaluator)`` in place of the evaluator, for the rest of the engine's life.

        The seam for observers that must see every case the engine evaluates (``lint --explain``
        re-traces the cases with findings, ``explain`` captures one case's records) without a
        second reading of the input.
        """
        self._evaluator = wrap(self._evaluator)

    def close(self) -> None:
        self._evaluator.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()



def validator_for(plugins: PluginHost) -> RecordValidator:
    """A validator for the built-in record types plus the plugins' (built once per engine)."""
    extra = {name: dict(spec.schema) for name, spec in plugins.record_types.items()}
    return RecordValidator(load_schemas(extra) if extra else None)


def enricher_chain(plugins: PluginHost, config: Config) -> EnricherChain:
    """The enrichers the configuration enables (or that are on by default), created with their options.

    Naming an enricher no plugin provides is a configuration error: a misspelt name would otherwise
    silently enrich nothing.
    """
    available = plugins.enrichers
    for name in config.enrichers:
        if name not in available:
            raise ConfigError(
                f"unknown enricher '{name}' (enrichers: {', '.join(sorted(available)) or 'none'})",
                Location(str(config.source) if config.source else None, None, f"/enrichers/{name}"),
            )
    active = []
    for name, spec in available.items():
        options = dict(config.enrichers.get(name, {}))
        if not options.pop("enabled", spec.enabled_by_default if name not in config.enrichers else True):
            continue
        active.append(ActiveEnricher(name, spec.plugin, spec.create(options)))
    return EnricherChain(active)


def bind_policies(definitions: Sequence[PolicyDefinition], config: Config) -> list[CompiledPolicy]:
    """Apply the user's per-policy settings; settings for an unknown policy id are an error."""
    known = {definition.id for definition in definitions}
    for policy_id in config.policies:
        if policy_id not in known:
            raise ConfigError(
                f"configuration names unknown policy '{policy_id}' (policies: {', '.join(sorted(known))})",
                Location(str(config.source) if config.source else None, None, f"/policies/{policy_id}"),
            )
    compiled = []
    for definition in definitions:
        settings = config.settings_for(definition.id)
        if not settings.enabled:
            continue
        try:
            compiled.append(definition.bind(settings.params, settings.severity, settings.calendar))
        except PolicyError as exc:
            raise ConfigError(
                exc.message,
                Location(
                    str(config.source) if config.source else None, None, f"/policies/{definition.id}/params"
                ),
            ) from None
    return compiled


def _check_policy_calendars(policies: Sequence[CompiledPolicy], calendars: Mapping[str, Calendar]) -> None:
    for policy in policies:
        if policy.calendar not in (None, CASE_CALENDAR) and policy.calendar not in calendars:
            raise ConfigError(
                f"policy '{policy.id}' counts time in calendar '{policy.calendar}', which is not configured "
                f"(calendars: {', '.join(sorted(calendars))})"
            )


def _require_aware(now: datetime) -> None:
    if not isinstance(now, datetime) or now.tzinfo is None:
        raise EvaluatorError(f"'now' must be a date-time with a time zone offset, got {now!r}")
