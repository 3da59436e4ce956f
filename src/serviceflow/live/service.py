"""The live service: records in, verdicts out, deadlines swept, actions delivered, over a store.

:class:`Service` is what a help desk embeds, from Python or behind the HTTP adapter
(:mod:`serviceflow.http`)::

    from serviceflow import Engine
    from serviceflow.live import Service, SystemClock
    from serviceflow.stores import open_store

    service = Service(open_store("serviceflow.db"), Engine.from_config(), clock=SystemClock())
    service.ingest([{"id": "r1", "case_id": "c1", "type": "case_opened", ...}])
    service.check("c1", {"id": "r9", "case_id": "c1", "type": "status_change", "to": "closed", ...})
    service.sweep()        # what the background sweeper does when a deadline passes

It imports no HTTP framework and no database driver: the store is any :class:`~.store.Store`, and
time is one :class:`~.clock.Clock` object.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from serviceflow.config import Config
from serviceflow.contributions import ActionFunction
from serviceflow.engine import Engine
from serviceflow.errors import RecordError
from serviceflow.findings import Finding, Status
from serviceflow.live.clock import Clock, SystemClock
from serviceflow.live.codec import RecordCodec, load_json
from serviceflow.live.customers import CaseFacts, customer_of, previous_cases, with_previous_case
from serviceflow.live.errors import BadRequest, Forbidden, IdempotencyMismatch, NotFound, Unauthorized
from serviceflow.live.evaluation import CaseEvaluator, Evaluated
from serviceflow.live.ingest import Ingestor, IngestResult, Rejected
from serviceflow.live.outbox import Delivered, Deliverer
from serviceflow.live.pagination import check_limit, decode_cursor, encode_cursor
from serviceflow.live.reasons import Reasons
from serviceflow.live.revision import policy_revision
from serviceflow.live.settings import LiveSettings, live_settings
from serviceflow.live.store import CaseRow, Decision, OutboxItem, OutboxState, Store, TokenRow, Unit
from serviceflow.live.tokens import check_scopes, grants, hash_token, new_token
from serviceflow.records.customers import PreviousCase
from serviceflow.records.model import Record
from serviceflow.timeutil import format_datetime, parse_datetime
from serviceflow.transitions import Transition

__all__ = ["CaseState", "GateResult", "Observer", "Page", "Service", "SweepResult"]

LOGGER = logging.getLogger("serviceflow.live")


class Observer(Protocol):
    """Told what the service does, for metrics (the HTTP adapter's Prometheus counters)."""

    def ingested(self, accepted: int, duplicates: int, rejected: int) -> None: ...

    def evaluated(self, cases: int) -> None: ...

    def checked(self, seconds: float, allowed: bool) -> None: ...


@dataclass(frozen=True)
class GateResult:
    """A gate check's answer: may the proposed record happen, and what it would change."""

    case_id: str
    allowed: bool
    violations: tuple[Finding, ...]
    pending: tuple[Finding, ...]
    fulfils: tuple[Finding, ...]
    engine_errors: tuple[Finding, ...]
    decision_id: str
    policy_revision: str
    now: datetime
    transitions: tuple[Transition, ...] = field(default=(), repr=False)
    """Every change the record would make to the case's obligations (deadlines moved included)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "violations": [_public(finding) for finding in self.violations],
            "pending": [_public(finding) for finding in self.pending],
            "fulfils": [_public(finding) for finding in self.fulfils],
            "decision_id": self.decision_id,
            "policy_revision": self.policy_revision,
        }


@dataclass(frozen=True)
class CaseState:
    """A stored case as the service shows it."""

    case_id: str
    version: int
    records: tuple[Mapping[str, Any], ...]
    violations: tuple[Finding, ...]
    pending: tuple[Finding, ...]
    engine_errors: tuple[Finding, ...]
    next_change: datetime | None
    revision: str | None
    evaluated_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "version": self.version,
            "records": [dict(record) for record in self.records],
            "violations": [finding.to_dict() for finding in (*self.violations, *self.engine_errors)],
            "pending": [finding.to_dict() for finding in self.pending],
            "next_change": format_datetime(self.next_change) if self.next_change else None,
            "policy_revision": self.revision,
            "evaluated_at": format_datetime(self.evaluated_at) if self.evaluated_at else None,
        }


@dataclass(frozen=True)
class Page:
    """One page of a listing; ``next_cursor`` ``None`` on the last."""

    items: tuple[Mapping[str, Any], ...]
    next_cursor: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"items": [dict(item) for item in self.items], "next_cursor": self.next_cursor}


@dataclass(frozen=True)
class SweepResult:
    """What one sweep did: cases re-evaluated, their transitions, outbox items enqueued."""

    cases: int = 0
    transitions: int = 0
    enqueued: int = 0
    evaluated: tuple[Evaluated, ...] = field(default=(), repr=False, compare=False)


class Service:
    """Ingest, gate, sweep and deliver over one store, engine and clock."""

    def __init__(
        self,
        store: Store,
        engine: Engine,
        *,
        clock: Clock | None = None,
        config: Config | None = None,
        settings: LiveSettings | None = None,
        actions: Mapping[str, ActionFunction] | None = None,
        observer: Observer | None = None,
        rng: random.Random | None = None,
    ) -> None:
        """``actions`` default to ``settings.actions`` created from the configuration's
        ``[actions.NAME]`` tables; ``rng`` drives the outbox's jitter (tests seed it)."""
        self.store = store
        self.engine = engine
        self.clock: Clock = clock or SystemClock()
        self.config = config or Config()
        self.settings = settings or live_settings(self.config)
        if actions is None:
            actions = engine.plugins.action_functions(list(self.settings.actions), self.config.actions)
        self.actions = dict(actions)
        self.observer = observer
        self.revision = policy_revision(engine, self.config)
        self.codec = RecordCodec(engine.validator.schemas)
        self.evaluator = CaseEvaluator(engine, self.codec, self.revision, sorted(self.actions))
        self.ingestor = Ingestor(engine.admission, self.codec, self.evaluator)
        self.reasons = Reasons(engine)
        self.deliverer = Deliverer(store, self.actions, self.clock, self.settings.outbox, rng)
        #: Set when records arrive, so that a sleeping sweeper looks again at the earliest deadline.
        self.sweeper_wake = threading.Event()

    # --- ingest ------------------------------------------------------------------------------------

    def ingest(
        self,
        items: Iterable[Any],
        *,
        provenance: Mapping[str, Any] | Callable[[int], Mapping[str, Any]] | None = None,
        idempotency: tuple[str, str, str] | None = None,
        now: datetime | None = None,
        within: Callable[[Unit, IngestResult], None] | None = None,
    ) -> IngestResult:
        """Admit, store and evaluate ``items`` (records as JSON objects) at the clock's ``now``.

        Each item is admitted or rejected on its own; the accepted ones are committed, with every
        re-evaluation and outbox item they cause, in one transaction. ``provenance`` is kept with each
        record (a mapping, or a function of the item's index). ``idempotency``: ``(scope, key,
        request_hash)``; a request with a key already used returns the first answer and does nothing
        again, and the same key with another request is :class:`IdempotencyMismatch`.

        ``within(unit, result)`` runs in the same transaction once the records are applied (also when
        none was new): a source moves its cursor there and a webhook takes its replay claims, so that
        they commit with the records or not at all. Raising from it rolls everything back.
        """
        moment = now or self.clock.now()
        admitted, rejected = self.ingestor.admit(items)
        describe = _provenance(provenance)

        def work(unit: Unit) -> IngestResult:
            if idempotency is not None:
                scope, key, request_hash = idempotency
                kept = unit.claim_request(scope, key, request_hash, moment)
                if kept is not None:
                    return _replayed(kept, request_hash)
            result = self.ingestor.apply(unit, admitted, rejected, describe, moment)
            if idempotency is not None:
                unit.finish_request(idempotency[0], idempotency[1], result.to_dict())
            if within is not None:
                within(unit, result)
            return result

        result = self.store.transact(work)
        if not result.replayed:
            self._after_evaluations(result.evaluated)
            if self.observer is not None:
                self.observer.ingested(result.accepted, result.duplicates, len(result.rejected))
            if result.accepted:
                self.sweeper_wake.set()
        return result

    # --- reading -------------------------------------------------------------------------------------

    def case(self, case_id: str) -> CaseState:
        """The case's records and current findings (each with its reason); NotFound when unknown."""
        if "\x00" in case_id:
            raise NotFound("no case with a NUL character in its id")

        def read(unit: Unit) -> tuple[CaseRow | None, list[Record], list[Finding]]:
            row = unit.case(case_id)
            if row is None or row.version == 0:
                return None, [], []
            records = self.evaluator.committed_records(unit, case_id, row.version)
            return row, records, [f.finding for f in unit.findings_of(case_id)]

        row, records, findings = self.store.transact(read, write=False)
        if row is None:
            raise NotFound(f"no case '{case_id}'")
        evaluated_at = row.evaluated_at or self.clock.now()
        with_previous = with_previous_case(records, row.previous_case)
        explained = self.reasons.explain(case_id, with_previous, evaluated_at, findings)
        ordered = sorted(with_previous, key=lambda record: (record.at, record.seq))
        return CaseState(
            case_id,
            row.version,
            tuple(load_json(self.codec.dump(record)) for record in ordered),
            tuple(f for f in explained if f.status is Status.VIOLATION),
            tuple(f for f in explained if f.status is Status.PENDING),
            tuple(f for f in explained if f.status is Status.ERROR),
            row.next_change,
            row.revision,
            row.evaluated_at,
        )

    def findings(
        self,
        *,
        status: str | None = None,
        policy: str | None = None,
        case_id: str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Page:
        """Current findings across cases, by case, policy and record; paginated."""
        if any(value is not None and "\x00" in value for value in (policy, case_id)):
            raise BadRequest("a filter cannot contain the NUL character")
        if status is not None and status not in {s.value for s in Status}:
            raise BadRequest(f"'status' must be one of {', '.join(s.value for s in Status)}")
        size = check_limit(limit)
        after = decode_cursor(cursor, 3)
        rows = self.store.list_findings(
            status=status, policy=policy, case_id=case_id, after=after, limit=size + 1
        )
        items = [_finding_row(row) for row in rows[:size]]
        last = rows[size - 1].finding if len(rows) > size else None
        return Page(tuple(items), encode_cursor(last.obligation) if last is not None else None)

    def obligations(
        self, *, due_before: datetime | None = None, cursor: str | None = None, limit: int | None = None
    ) -> Page:
        """Open (pending) obligations across all cases, soonest deadline first."""
        size = check_limit(limit)
        after = decode_cursor(cursor, 4)
        if after is not None:
            after[0] = parse_instant(str(after[0]), "cursor")
        rows = self.store.list_obligations(due_before=due_before, after=after, limit=size + 1)
        items = [_finding_row(row) for row in rows[:size]]
        next_cursor = None
        if len(rows) > size:
            last = rows[size - 1].finding
            assert last.deadline is not None
            next_cursor = encode_cursor([format_datetime(last.deadline), *last.obligation])
        return Page(tuple(items), next_cursor)

    def outbox(
        self, *, state: str | None = None, cursor: str | None = None, limit: int | None = None
    ) -> Page:
        if state is not None and state not in {s.value for s in OutboxState}:
            raise BadRequest(f"'state' must be one of {', '.join(s.value for s in OutboxState)}")
        size = check_limit(limit)
        after = decode_cursor(cursor, 1)
        after_id = after[0] if after is not None else None
        if after_id is not None and not isinstance(after_id, int):
            raise BadRequest("'cursor' is not a cursor this service gave out")
        rows = self.store.list_outbox(state=state, after=after_id, limit=size + 1)
        next_cursor = encode_cursor([rows[size - 1].id]) if len(rows) > size else None
        return Page(tuple(item.to_dict() for item in rows[:size]), next_cursor)

    def retry(self, item_id: int) -> OutboxItem:
        """Make an outbox item (typically dead) pending again, due now, attempts reset."""
        if not 0 < item_id < 2**63:
            raise NotFound(f"no outbox item {item_id}")
        item = self.store.retry_outbox(item_id, self.clock.now())
        if item is None:
            raise NotFound(f"no outbox item {item_id}")
        self.deliverer.notify()
        return item

    # --- the gate ----------------------------------------------------------------------------------

    def check(self, case_id: str, proposed: Mapping[str, Any], *, now: datetime | None = None) -> GateResult:
        """Whether ``proposed`` may happen in the case now: the new violations it would cause (with
        their reasons), the obligations it would open and those it would meet. Only the decision is
        stored. An invalid record raises :class:`RecordError` (pointer into the record); an unknown
        case is checked as a new one."""
        started = time.perf_counter()
        if "\x00" in case_id:
            raise BadRequest("a case id cannot contain the NUL character")
        moment = now or self.clock.now()
        problems: list[Finding | RecordError] = []
        record = self.engine.admission.admit(proposed, None, 0, problems)

        def read(unit: Unit) -> tuple[CaseRow | None, list[Record], list[Finding], PreviousCase | None]:
            row = unit.case(case_id)
            records = self.evaluator.committed_records(unit, case_id, row.version) if row is not None else []
            stored = [f.finding for f in unit.findings_of(case_id)] if row is not None else []
            return row, records, stored, self._previous_with(unit, row, case_id, record)

        row, records, stored, previous = self.store.transact(read, write=False)
        existing = with_previous_case(records, previous)
        if previous is not None and record.type == "case_opened" and "previous_case" not in record:
            record = with_previous_case([record], previous)[0]
        current = (
            row is not None
            and row.revision == self.revision
            and row.previous_case == previous
            and row.evaluated_at is not None
            and row.evaluated_at <= moment
            and (row.next_change is None or moment < row.next_change)
            and row.version == len(records)
        )
        answer = self.engine.check(case_id, existing, record, moment, before=stored if current else None)
        allowed = answer.allowed(self.settings.gate)
        violations = answer.violations
        if violations:
            after = [*existing, answer.record]
            violations = self.reasons.explain(case_id, after, moment, violations)
        decision_id = uuid.uuid4().hex
        result = GateResult(
            case_id,
            allowed,
            violations,
            answer.pending,
            answer.fulfils,
            answer.engine_errors,
            decision_id,
            self.revision,
            moment,
            answer.transitions,
        )
        decision = Decision(
            decision_id,
            "check",
            case_id,
            row.version if row is not None else 0,
            self.revision,
            moment,
            {
                "record_id": record.id,
                **result.to_dict(),
                "engine_errors": [_public(f) for f in answer.engine_errors],
            },
        )
        self.store.transact(lambda unit: unit.log_decisions([decision], moment))
        if self.observer is not None:
            self.observer.checked(time.perf_counter() - started, allowed)
        return result

    def _previous_with(
        self, unit: Unit, row: CaseRow | None, case_id: str, record: Record
    ) -> PreviousCase | None:
        """The case's previous case were ``record`` added to it."""
        customer = (row.customer_id if row is not None else None) or customer_of([record])
        if customer is None:
            return None
        opened = row.opened_at if row is not None else None
        if record.type == "case_opened" and (opened is None or record.at < opened):
            opened = record.at
        facts = {other.case_id: other.facts for other in unit.customer_cases([customer]).get(customer, ())}
        facts[case_id] = CaseFacts(case_id, customer, opened)
        return previous_cases(facts.values(), unit.customer_closes([customer]).get(customer, ())).get(case_id)

    # --- time passing ------------------------------------------------------------------------------

    def sweep(self, *, now: datetime | None = None, limit: int | None = None) -> SweepResult:
        """Re-evaluate every case whose ``next_change`` is at or before ``now``, in batches (one
        transaction each), recording transitions and enqueuing their actions."""
        moment = now or self.clock.now()
        batch = self.settings.sweeper.batch
        evaluated: list[Evaluated] = []
        while limit is None or len(evaluated) < limit:
            size = batch if limit is None else min(batch, limit - len(evaluated))

            def work(unit: Unit, size: int = size) -> list[Evaluated]:
                due = unit.due_cases(moment, size)
                rows = unit.cases(due)
                return self.evaluator.evaluate_many(unit, [rows[case_id] for case_id in due], moment, "sweep")

            done = self.store.transact(work)
            evaluated.extend(done)
            self._after_evaluations(done)
            stuck = all(e.case.next_change is not None and e.case.next_change <= moment for e in done)
            if len(done) < size or stuck:
                break
        return SweepResult(
            len(evaluated),
            sum(len(e.transitions) for e in evaluated),
            sum(e.enqueued for e in evaluated),
            tuple(evaluated),
        )

    def reevaluate_stale(self, *, limit: int | None = None) -> int:
        """Re-evaluate open cases last evaluated under another policy revision; how many."""
        batch = self.settings.sweeper.batch
        count = 0
        while limit is None or count < limit:
            size = batch if limit is None else min(batch, limit - count)
            moment = self.clock.now()

            def work(unit: Unit, size: int = size, moment: datetime = moment) -> list[Evaluated]:
                stale = unit.stale_cases(self.revision, size)
                rows = unit.cases(stale)
                return self.evaluator.evaluate_many(
                    unit, [rows[case_id] for case_id in stale], moment, "revision"
                )

            done = self.store.transact(work)
            self._after_evaluations(done)
            count += len(done)
            if len(done) < size:
                break
        return count

    def stale_cases(self) -> int:
        """Open cases still to be re-evaluated under this revision."""
        return self.store.count_stale(self.revision)

    def deliver(self, *, limit: int = 10) -> list[Delivered]:
        """One delivery pass over every action's due outbox items (the background lanes do this)."""
        return self.deliverer.deliver_due(limit=limit)

    def _after_evaluations(self, evaluated: Sequence[Evaluated]) -> None:
        if not evaluated:
            return
        if self.observer is not None:
            self.observer.evaluated(len(evaluated))
        if any(e.enqueued for e in evaluated):
            self.deliverer.notify()

    # --- health --------------------------------------------------------------------------------------

    def readiness(self) -> dict[str, Any]:
        """Whether the store answers and its schema is this code's (raises StoreError when not)."""
        status = self.store.schema_status()
        return {
            "store": self.store.url,
            "schema_version": status.current,
            "code_schema_version": status.latest,
            "migrations_current": status.up_to_date,
            "policy_revision": self.revision,
            "stale_cases": self.stale_cases() if status.up_to_date else None,
        }

    # --- tokens --------------------------------------------------------------------------------------

    def create_token(self, name: str, scopes: Iterable[str]) -> tuple[str, TokenRow]:
        """A new token (shown once: only its hash is stored) with ``scopes``."""
        if not name.strip():
            raise BadRequest("a token needs a name")
        token = new_token()
        row = self.store.add_token(name, hash_token(token), check_scopes(scopes), self.clock.now())
        return token, row

    def authenticate(self, authorization: str | None, scope: str) -> TokenRow:
        """The token row of an ``Authorization: Bearer`` header value granting ``scope``."""
        if not authorization:
            raise Unauthorized("this endpoint needs 'Authorization: Bearer <token>'")
        kind, _, token = authorization.partition(" ")
        if kind.lower() != "bearer" or not token.strip():
            raise Unauthorized("the Authorization header must be 'Bearer <token>'")
        row = self.store.token_by_hash(hash_token(token.strip()))
        if row is None or row.revoked_at is not None:
            raise Unauthorized("unknown or revoked token")
        if not grants(row.scopes, scope):
            raise Forbidden(f"token '{row.name}' lacks the '{scope}' scope")
        return row


def _provenance(
    provenance: Mapping[str, Any] | Callable[[int], Mapping[str, Any]] | None,
) -> Callable[[int], Mapping[str, Any]]:
    if provenance is None:
        fixed: Mapping[str, Any] = {"via": "python"}
        return lambda index: {**fixed, "index": index}
    if callable(provenance):
        return provenance
    fixed = dict(provenance)
    return lambda index: {**fixed, "index": index}


def _replayed(kept: tuple[str, Any], request_hash: str) -> IngestResult:
    kept_hash, response = kept
    if kept_hash != request_hash:
        raise IdempotencyMismatch(
            "this Idempotency-Key was used for a different request; use a new key for a new request"
        )
    return IngestResult(
        response["accepted"],
        response["duplicates"],
        tuple(
            Rejected(item["index"], item["pointer"], item["message"], item.get("stored"))
            for item in response["rejected"]
        ),
        tuple(response["cases"]),
        replayed=True,
    )


def _public(finding: Finding) -> dict[str, Any]:
    """A finding as the API shows it: no file location (live records come from no file)."""
    data = finding.to_dict()
    data.pop("location", None)
    return data


def _finding_row(row: Any) -> dict[str, Any]:
    data = row.finding.to_dict()
    data["policy_revision"] = row.revision
    data["evaluated_at"] = format_datetime(row.evaluated_at)
    return data


def parse_instant(text: str, name: str) -> datetime:
    """A query parameter's RFC 3339 date-time; BadRequest naming it when it is not one."""
    try:
        return parse_datetime(text)
    except ValueError:
        raise BadRequest(f"'{name}' must be an RFC 3339 date-time with an offset") from None
