"""The store protocol: what the service needs of a database, and the rows it hands back.

A :class:`Store` runs units of work in transactions (:meth:`Store.transact`); everything the service
does to one case (append records, re-evaluate, replace findings, log the decision, enqueue actions)
happens in one :class:`Unit`, so it is committed whole or not at all. Stores are adapters
(:mod:`serviceflow.stores`): SQLite embedded, PostgreSQL shared; the service imports neither.

Instants cross this boundary as aware datetimes; how a store keeps them is its own business.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from serviceflow.findings import Finding
from serviceflow.live.customers import CaseFacts, Close
from serviceflow.records.customers import PreviousCase

__all__ = [
    "CaseRow",
    "Decision",
    "FindingRow",
    "NewOutboxItem",
    "NewRecord",
    "OutboxItem",
    "OutboxState",
    "SchemaStatus",
    "SourceState",
    "Store",
    "StoredRecord",
    "TokenRow",
    "Unit",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class NewRecord:
    """A record to append: as admitted (``body``), the digest of what was sent, and where it came from."""

    record_id: str
    case_id: str
    type: str
    at: datetime
    body: str
    digest: str
    received_at: datetime
    provenance: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A record of the append-only log, with its place in it (``seq``)."""

    seq: int
    record_id: str
    case_id: str
    body: str
    digest: str
    received_at: datetime
    provenance: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class CaseRow:
    """A case's state: its version (records stored), customer facts and last evaluation."""

    case_id: str
    version: int = 0
    customer_id: str | None = None
    opened_at: datetime | None = None
    previous_case: PreviousCase | None = None
    next_change: datetime | None = None
    revision: str | None = None
    evaluated_at: datetime | None = None
    open: bool = True

    @property
    def facts(self) -> CaseFacts:
        return CaseFacts(self.case_id, self.customer_id, self.opened_at)


@dataclass(frozen=True, slots=True)
class FindingRow:
    """A current finding of a case, with the revision and the instant it was evaluated under."""

    finding: Finding
    revision: str
    evaluated_at: datetime


@dataclass(frozen=True, slots=True)
class Decision:
    """One entry of the decision log: an evaluation (ingest, sweep, re-evaluation) or a gate check."""

    decision_id: str
    kind: str
    case_id: str
    case_version: int
    revision: str
    now: datetime
    result: Mapping[str, Any]


class OutboxState(StrEnum):
    """The life of one action for one transition, as states of one row."""

    PENDING = "pending"
    """Waiting for its next attempt (``next_attempt_at``)."""
    DELIVERING = "delivering"
    """Handed to its action by a worker, until ``lease_until``; after that, another may try."""
    DELIVERED = "delivered"
    DEAD = "dead"
    """Failed ``max-attempts`` times, or refused for good (a 4xx): kept, visible, retryable by hand."""


@dataclass(frozen=True, slots=True)
class NewOutboxItem:
    idempotency_key: str
    action: str
    case_id: str
    transition: Mapping[str, Any]
    revision: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    idempotency_key: str
    action: str
    case_id: str
    transition: Mapping[str, Any]
    state: OutboxState
    attempts: int
    next_attempt_at: datetime
    lease_until: datetime | None
    last_error: str | None
    revision: str
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        from serviceflow.timeutil import format_datetime

        def instant(moment: datetime | None) -> str | None:
            return format_datetime(moment) if moment is not None else None

        return {
            "id": self.id,
            "idempotency_key": self.idempotency_key,
            "action": self.action,
            "case_id": self.case_id,
            "state": self.state.value,
            "attempts": self.attempts,
            "next_attempt_at": instant(self.next_attempt_at),
            "last_error": self.last_error,
            "policy_revision": self.revision,
            "created_at": instant(self.created_at),
            "updated_at": instant(self.updated_at),
            "delivered_at": instant(self.delivered_at),
            "transition": dict(self.transition),
        }


@dataclass(frozen=True, slots=True)
class TokenRow:
    id: int
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SourceState:
    """A source's row: its cursor, and how its polls have gone (what ``/metrics`` shows of it)."""

    name: str
    cursor: str | None
    polls: int = 0
    records: int = 0
    """Records stored from it (accepted, not duplicates) over its life."""
    failures: int = 0
    """Failed polls since the last one that succeeded."""
    last_error: str | None = None
    last_success_at: datetime | None = None
    last_attempt_at: datetime | None = None


@dataclass(frozen=True)
class SchemaStatus:
    """The store's schema version against the code's."""

    current: int
    latest: int
    applied: tuple[int, ...] = field(default=())

    @property
    def up_to_date(self) -> bool:
        return self.current == self.latest


class Unit(Protocol):
    """One transaction's operations. Reads see the transaction's snapshot; writes commit with it."""

    # --- cases and their records -----------------------------------------------------------------
    def lock_customers(self, customer_ids: Sequence[str]) -> None:
        """Serialise work on these customers' cases (a no-op where the store has one writer)."""

    def lock_cases(self, case_ids: Sequence[str]) -> None:
        """Create the cases that do not exist and hold their rows until the transaction ends."""

    def find_records(self, record_ids: Sequence[str]) -> dict[str, StoredRecord]: ...

    def append_records(self, records: Sequence[NewRecord]) -> list[int]:
        """Append in order; the ``seq`` each got."""

    def case_records(self, case_id: str, after_seq: int = -1) -> list[StoredRecord]:
        """The case's records with ``seq`` above ``after_seq``, in ``seq`` order."""

    def records_of(self, case_ids: Sequence[str]) -> dict[str, list[StoredRecord]]:
        """Each case's records, in ``seq`` order (one read for many cases)."""

    def case(self, case_id: str) -> CaseRow | None: ...

    def cases(self, case_ids: Sequence[str]) -> dict[str, CaseRow]:
        """The rows of those of ``case_ids`` that exist."""

    def save_case(self, row: CaseRow) -> None: ...

    def save_cases(self, rows: Sequence[CaseRow]) -> None:
        """Save existing cases' rows (their cases were locked or created in this unit)."""

    def customer_cases(self, customer_ids: Sequence[str]) -> dict[str, list[CaseRow]]:
        """Each customer's cases."""

    def customer_closes(self, customer_ids: Sequence[str]) -> dict[str, list[Close]]:
        """The closes of each customer's cases."""

    def add_closes(self, closes: Sequence[Close]) -> None: ...

    # --- findings, decisions, outbox --------------------------------------------------------------
    def findings_of(self, case_id: str) -> list[FindingRow]: ...

    def findings_of_cases(self, case_ids: Sequence[str]) -> dict[str, list[FindingRow]]: ...

    def replace_findings_of(
        self, findings: Mapping[str, Sequence[Finding]], revision: str, evaluated_at: datetime
    ) -> None:
        """Each case's findings replaced by these."""

    def log_decisions(self, decisions: Sequence[Decision], created_at: datetime) -> None: ...

    def enqueue(self, items: Sequence[NewOutboxItem]) -> set[str]:
        """Add the items whose idempotency key is new; the keys added."""

    def due_cases(self, now: datetime, limit: int) -> list[str]:
        """Cases whose ``next_change`` is at or before ``now``, soonest first, locked for this unit
        (skipping those another unit holds)."""

    def stale_cases(self, revision: str, limit: int) -> list[str]:
        """Open cases last evaluated under another revision, locked as :meth:`due_cases` locks."""

    # --- idempotent requests ------------------------------------------------------------------------
    def claim_request(self, scope: str, key: str, request_hash: str, now: datetime) -> tuple[str, Any] | None:
        """Take the key for this request; ``None`` when it is new, else the (hash, response) kept
        (``response`` ``None`` never happens: a claim is committed with its response)."""

    def finish_request(self, scope: str, key: str, response: Any) -> None: ...

    # --- connectors: sources' cursors, webhooks' replay claims ------------------------------------------
    def source_state(self, name: str) -> SourceState | None: ...

    def advance_source(
        self, name: str, expected: str | None, cursor: str, records: int, now: datetime
    ) -> bool:
        """Move the source's cursor from ``expected`` to ``cursor`` (a poll succeeded, ``records``
        stored); False, changing nothing, when the stored cursor is no longer ``expected`` (another
        process polled meanwhile)."""

    def claim_key(self, key: str, now: datetime, expires_at: datetime) -> bool:
        """Hold ``key`` until ``expires_at``; False when it is already held (unexpired)."""


class Store(Protocol):
    """A database the service keeps its state in."""

    url: str
    """Where the store is, without any password: for messages and ``/readyz``."""

    def transact(self, work: Callable[[Unit], T], *, write: bool = True) -> T:
        """Run ``work`` in one transaction and commit; retried whole when the database asks
        (a deadlock broken, a serialisation failure). ``write=False`` may run on a read snapshot."""

    def schema_status(self) -> SchemaStatus:
        """The schema version; raises :class:`~serviceflow.live.errors.StoreError` when unreachable."""

    def upgrade(self) -> SchemaStatus:
        """Apply the migrations this code has and the store lacks; refuses a newer store."""

    def close(self) -> None: ...

    # --- queries outside a unit of work (each its own read) --------------------------------------------
    def list_findings(
        self,
        *,
        status: str | None,
        policy: str | None,
        case_id: str | None,
        after: Sequence[Any] | None,
        limit: int,
    ) -> list[FindingRow]: ...

    def list_obligations(
        self, *, due_before: datetime | None, after: Sequence[Any] | None, limit: int
    ) -> list[FindingRow]: ...

    def list_outbox(self, *, state: str | None, after: int | None, limit: int) -> list[OutboxItem]: ...

    def outbox_item(self, item_id: int) -> OutboxItem | None: ...

    def outbox_depth(self) -> dict[str, int]: ...

    def claim_outbox(self, action: str, now: datetime, lease_until: datetime, limit: int) -> list[OutboxItem]:
        """Items of ``action`` due at ``now`` (pending, or delivering past their lease), marked
        delivering until ``lease_until``, each attempt counted; locked so that no other worker takes them."""

    def finish_outbox(
        self, item_id: int, *, state: OutboxState, next_attempt_at: datetime, error: str | None, now: datetime
    ) -> None: ...

    def retry_outbox(self, item_id: int, now: datetime) -> OutboxItem | None:
        """Make an item pending again, attempts reset, due now."""

    def earliest_next_change(self) -> datetime | None: ...

    def earliest_attempt(self) -> datetime | None: ...

    def count_stale(self, revision: str) -> int: ...

    def case_count(self) -> int: ...

    def decisions(self, case_id: str | None = None, limit: int = 100) -> list[Decision]: ...

    # --- connectors ---------------------------------------------------------------------------------
    def source_states(self) -> list[SourceState]: ...

    def source_failed(self, name: str, error: str, now: datetime) -> None:
        """Count a failed poll of the source and keep its error (its cursor does not move)."""

    def key_claimed(self, key: str, now: datetime) -> bool:
        """Whether ``key`` is held (claimed and unexpired) at ``now``."""

    # --- tokens -------------------------------------------------------------------------------------
    def add_token(self, name: str, token_hash: str, scopes: Iterable[str], now: datetime) -> TokenRow: ...

    def token_by_hash(self, token_hash: str) -> TokenRow | None: ...

    def list_tokens(self) -> list[TokenRow]: ...

    def revoke_token(self, name: str, now: datetime) -> bool: ...
