"""The library's front door: build an :class:`Engine` from policies and configuration, then evaluate.

This is what a help desk embeds::

    from serviceflow import Engine
    engine = Engine.from_config()                        # bundled policies, nearest serviceflow.toml
    result = engine.evaluate_case("case-7", records, now=now)   # one case, as a live service does
    answer = engine.check("case-7", records, {"type": "status_change", ...}, now=now)  # "may I close?"
    evaluation = engine.evaluate(all_records, now=now)   # a batch of interleaved cases

Every evaluation takes an explicit ``now``. The engine imports no CLI, HTTP or database code;
adapters call it. Reading files and applying waivers and actions is :mod:`serviceflow.run`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from serviceflow.batch import Partition
from serviceflow.calendars import ALWAYS, Calendar
from serviceflow.config import Config, find_config, load_config
from serviceflow.contributions import EnricherSpec
from serviceflow.enrichers import ActiveEnricher, EnricherChain
from serviceflow.errors import (
    PLUGIN_FAILURES,
    ConfigError,
    EvaluatorError,
    Location,
    PolicyError,
    RecordError,
)
from serviceflow.evaluators.base import CaseView, Evaluator
from serviceflow.findings import Evaluation, Finding, Severity, Status
from serviceflow.plugins import PluginHost, discover
from serviceflow.policy import CompiledPolicy, PolicyDefinition, load_policies
from serviceflow.policy.fieldrefs import check_field_references
from serviceflow.policy.ir import CASE_CALENDAR, reads_field
from serviceflow.records import Admission, Record, RecordValidator
from serviceflow.records.model import case_order
from serviceflow.records.schemas import load_schemas
from serviceflow.transitions import Transition, TransitionKind, transitions

__all__ = ["DEFAULT_RECHECK", "CaseResult", "CheckResult", "Engine", "bind_policies", "validator_for"]

#: How soon a case is evaluated again when a policy's use of ``$now`` gives no exact instant
#: (:mod:`serviceflow.policy.timing`).
DEFAULT_RECHECK = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class CaseResult:
    """One case evaluated at ``now``.

    ``next_change`` is the earliest instant after ``now`` at which the case's findings could change
    with no new record: a pending deadline, a future-dated record becoming visible, or a policy's
    comparison of ``$now`` turning (``None``: time alone changes nothing). A sweeper wakes the case then.
    """

    case_id: str
    now: datetime
    violations: tuple[Finding, ...]
    pending: tuple[Finding, ...]
    engine_errors: tuple[Finding, ...]
    next_change: datetime | None
    records: int

    @property
    def findings(self) -> tuple[Finding, ...]:
        """Every finding: violations, pending obligations, engine errors, in report order."""
        return tuple(sorted((*self.violations, *self.pending, *self.engine_errors), key=_report_order))


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The what-if of a gate: what a proposed record would change in its case at ``now``.

    ``violations``: the obligations the record would break; ``pending``: those it would open (with
    their deadlines); ``fulfils``: those it would meet, or clear; ``engine_errors``: policies that
    could not decide with it. ``transitions`` has every change, deadlines moved included.
    """

    case_id: str
    now: datetime
    record: Record
    violations: tuple[Finding, ...]
    pending: tuple[Finding, ...]
    fulfils: tuple[Finding, ...]
    engine_errors: tuple[Finding, ...]
    transitions: tuple[Transition, ...]

    def allowed(self, gate: Severity | str = Severity.ERROR) -> bool:
        """Whether no new violation is at or above ``gate`` and no policy failed to decide."""
        threshold = Severity(gate).rank
        return not self.engine_errors and all(f.severity.rank < threshold for f in self.violations)


class Engine:
    """Admits records and evaluates them, case by case, against compiled policies at ``now``."""

    def __init__(
        self,
        policies: Sequence[CompiledPolicy],
        evaluator: str = "native",
        validator: RecordValidator | None = None,
        definitions: Sequence[PolicyDefinition] = (),
        calendars: Mapping[str, Calendar] | None = None,
        plugins: PluginHost | None = None,
        enrichers: EnricherChain | None = None,
        recheck: timedelta = DEFAULT_RECHECK,
    ) -> None:
        """``plugins`` supplies evaluators, input formats and record types (default: the built-ins only);
        ``enrichers`` the enrichers to run on each record (default: none); ``recheck`` how soon a case
        is due again when a policy's use of ``$now`` cannot say (see :attr:`CaseResult.next_change`)."""
        self.policies = list(policies)
        self.definitions = list(definitions)
        self.evaluator_name = evaluator
        self.plugins = plugins if plugins is not None else PluginHost()
        self.validator = validator or validator_for(self.plugins)
        self.enrichers = enrichers if enrichers is not None else EnricherChain([])
        self.calendars = dict(calendars) if calendars is not None else {ALWAYS.name: ALWAYS}
        self.recheck = recheck
        _check_policy_calendars(self.policies, self.calendars)
        self.admission = Admission(self.validator, self.enrichers, self.calendars)
        self._evaluator = self.plugins.evaluator(evaluator).create(self.policies, self.calendars)
        self._unbounded = [policy for policy in self.policies if policy.timing.unbounded is not None]
        self.customer_scope = any(reads_field(policy, "previous_case") for policy in self.policies)
        """Whether a batch must derive ``previous_case`` (:mod:`serviceflow.records.customers`): only
        when a policy reads it, as the returning-customer one does."""

    @classmethod
    def from_config(
        cls,
        policy_paths: Sequence[Path | str] = (),
        config: Config | Path | str | None = None,
        evaluator: str | None = None,
        bundled: bool | None = None,
        search_from: Path | None = None,
        plugins: PluginHost | None = None,
        select: Callable[[str], bool] | None = None,
    ) -> Engine:
        """Load bundled, plugin and named policies, apply the configuration, choose the evaluator.

        ``config`` may be a :class:`Config`, a path, or ``None`` to look for the nearest
        ``serviceflow.toml`` / ``pyproject.toml`` above ``search_from`` (default: the working directory).
        ``plugins`` defaults to discovering installed plugins (``SERVICEFLOW_LOAD_PLUGINS`` chooses;
        see :mod:`serviceflow.plugins.discovery`). ``select``, given a policy id, says whether it runs
        (``lint --select/--ignore``); policies it leaves out are not compiled for evaluation.
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
        chosen = evaluator or config.evaluator
        if chosen not in host.evaluators and evaluator is None:
            known = ", ".join(sorted(host.evaluators))
            where = Location(str(config.source) if config.source else None, None, "/evaluator")
            raise ConfigError(f"unknown evaluator '{chosen}' (evaluators: {known})", where)
        host.evaluator(chosen)  # an unknown name given directly is an EvaluatorError naming the known
        validator = validator_for(host)
        # A policy reading a field no schema defines would silently never fire: refuse it up front.
        wrong_fields = check_field_references(definitions, validator.schemas)
        if wrong_fields:
            more = (
                f" (and {len(wrong_fields) - 1} more; see 'serviceflow policies check')"
                if len(wrong_fields) > 1
                else ""
            )
            first = wrong_fields[0]
            raise PolicyError(first.message + more, first.location, first.policy_id)
        policies = bind_policies(definitions, config)
        if select is not None:
            policies = [policy for policy in policies if select(policy.id)]
        return cls(
            policies,
            evaluator=chosen,
            validator=validator,
            definitions=definitions,
            calendars=config.calendars,
            plugins=host,
            enrichers=enricher_chain(host, config),
        )

    # --- one case -----------------------------------------------------------------------------------

    def evaluate_case(self, case_id: str, records: Iterable[Record], now: datetime) -> CaseResult:
        """Evaluate one case at ``now``: its violations, pending obligations, engine errors, next change.

        ``records`` are the case's admitted records in any order (they are put in case order here:
        ``at``, then ``seq``); a record of another case is an error.
        """
        _require_aware(now)
        ordered = sorted(records, key=case_order)
        for record in ordered:
            if record.case_id != case_id:
                raise EvaluatorError(
                    f"record '{record.id}' belongs to case '{record.case_id}', not '{case_id}'"
                )
        outcome = self._evaluator.evaluate_case(case_id, ordered, now)
        violations: list[Finding] = []
        pending: list[Finding] = []
        errors: list[Finding] = []
        for finding in outcome.findings:
            status = finding.status
            (
                pending if status is Status.PENDING else errors if status is Status.ERROR else violations
            ).append(finding)
        moments = [finding.deadline for finding in pending if finding.deadline is not None]
        moments.extend(moment for moment in outcome.changes if moment > now)
        later = [record.at for record in ordered if record.at > now]
        if later:
            moments.append(min(later))
        if self._unbounded and self._applies_unbounded(case_id, ordered, now):
            moments.append(now + self.recheck)
        return CaseResult(
            case_id=case_id,
            now=now,
            violations=tuple(sorted(violations, key=_report_order)),
            pending=tuple(sorted(pending, key=_report_order)),
            engine_errors=tuple(sorted(errors, key=_report_order)),
            next_change=min(moments) if moments else None,
            records=len(ordered),
        )

    def check(
        self,
        case_id: str,
        records: Iterable[Record],
        proposed: Mapping[str, Any] | Record,
        now: datetime,
        before: Iterable[Finding] | None = None,
    ) -> CheckResult:
        """What ``proposed`` (a record as a help desk would send it) would change in the case at ``now``.

        The proposed record is admitted like any other (an invalid one raises :class:`RecordError`
        with its JSON pointer) and comes after every record of the case in ingestion order. Nothing
        is kept: this only answers the question. ``before``: the case's findings at ``now`` when the
        caller already knows them (a store whose evaluation is still current), saving one evaluation.
        """
        existing = list(records)
        seq = max((record.seq for record in existing), default=-1) + 1
        problems: list[Finding | RecordError] = []
        record = self.admission.admit(proposed, Location("<proposed>"), seq, problems)
        for problem in problems:
            if isinstance(problem, RecordError):
                raise problem
        if record.case_id != case_id:
            raise RecordError(
                f"the proposed record is for case '{record.case_id}', not '{case_id}'",
                Location("<proposed>", None, "/case_id"),
                record.id,
            )
        if any(other.id == record.id for other in existing):
            raise RecordError(
                f"the case already has a record '{record.id}'", Location("<proposed>", None, "/id"), record.id
            )
        found_before = self.evaluate_case(case_id, existing, now).findings if before is None else before
        after = self.evaluate_case(case_id, [*existing, record], now)
        changes = tuple(transitions(found_before, after.findings))

        def of(*kinds: TransitionKind, was: bool = False) -> tuple[Finding, ...]:
            chosen = (change.before if was else change.after for change in changes if change.kind in kinds)
            return tuple(finding for finding in chosen if finding is not None)

        return CheckResult(
            case_id=case_id,
            now=now,
            record=record,
            violations=of(TransitionKind.VIOLATED, TransitionKind.BREACHED),
            pending=of(TransitionKind.OPENED, TransitionKind.REOPENED),
            fulfils=of(TransitionKind.FULFILLED, TransitionKind.CLEARED, was=True),
            engine_errors=of(TransitionKind.ERRORED),
            transitions=changes,
        )

    # --- a batch --------------------------------------------------------------------------------------

    def admit(self, items: Iterable[Mapping[str, Any] | Record]) -> list[Record]:
        """The records of ``items`` (dicts as exported), validated and numbered in order, for
        :meth:`evaluate_case` and :meth:`check`, which take admitted records.

        Raises :class:`RecordError` for the first item that is refused (origin ``<records>:N``, N
        counted from 1, and the JSON pointer); :meth:`evaluate` instead reports and skips it. An
        enricher's failure is an error here too: a caller holding records has nowhere else to see it.
        """
        admitted = []
        for index, item in enumerate(items, start=1):
            problems: list[Finding | RecordError] = []
            admitted.append(self.admission.admit(item, Location("<records>", index), index - 1, problems))
            for problem in problems:
                if isinstance(problem, RecordError):
                    raise problem
                raise EvaluatorError(problem.message)
        return admitted

    def evaluate(self, records: Iterable[Mapping[str, Any] | Record], now: datetime) -> Evaluation:
        """Admit ``records`` (dicts as exported, or Records) and evaluate every case at ``now``.

        A record that is refused is reported in ``input_errors`` (origin ``<records>:N``, N counted
        from 1) and the others are still evaluated.
        """
        _require_aware(now)
        partition = Partition(self.admission, now, customer_scope=self.customer_scope)
        for index, item in enumerate(records, start=1):
            partition.add(item, Location("<records>", index), index - 1)
        return partition.evaluate(self.evaluator).freeze()

    @property
    def evaluator(self) -> Evaluator:
        """The evaluator the engine uses (wrapped, after :meth:`wrap_evaluator`)."""
        return self._evaluator

    def wrap_evaluator(self, wrap: Callable[[Evaluator], Evaluator]) -> None:
        """Put ``wrap(evaluator)`` in place of the evaluator, for the rest of the engine's life.

        The seam for observers that must see every case the engine evaluates (``lint --explain``
        adds each finding's reason) without a second reading of the input.
        """
        self._evaluator = wrap(self._evaluator)

    def close(self) -> None:
        self._evaluator.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _applies_unbounded(self, case_id: str, records: Sequence[Record], now: datetime) -> bool:
        """Whether a policy whose use of ``$now`` is unbounded has a subject among the visible records."""
        view = CaseView(case_id, records, now)
        return any(view.of_types(policy.subject.types) for policy in self._unbounded)


def _report_order(finding: Finding) -> tuple[str, str, str, str]:
    return finding.key


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
        active.append(ActiveEnricher(name, spec.plugin, _created(spec, options, config)))
    return EnricherChain(active)


def _created(spec: EnricherSpec, options: dict[str, Any], config: Config) -> Any:
    """The enricher's function from its factory; a failing factory is named, with where it is configured."""
    where = Location(str(config.source) if config.source else None, None, f"/enrichers/{spec.name}")
    origin = f"enricher '{spec.name}'" + (f" (plugin '{spec.plugin}')" if spec.plugin else "")
    try:
        function = spec.create(options)
    except PLUGIN_FAILURES as exc:
        raise ConfigError(f"{origin} could not be created: {type(exc).__name__}: {exc}", where) from exc
    if not callable(function):
        raise ConfigError(f"{origin} was created as {function!r}, not a function of a record", where)
    return function


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
