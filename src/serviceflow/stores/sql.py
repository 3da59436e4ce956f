"""The SQL both stores speak: one unit of work and the listings, over a small connection adapter.

SQLite (3.35+) and PostgreSQL share everything here: ``INSERT ... ON CONFLICT DO NOTHING``,
``RETURNING``, partial indexes. What differs is locking (a single writer in SQLite; row locks,
``SKIP LOCKED`` and advisory locks in PostgreSQL), the placeholder style and the connections: the
:class:`Dialect` of each store module says those. Statements are written with ``?`` placeholders;
the PostgreSQL adapter rewrites them once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from serviceflow.findings import Finding
from serviceflow.live.codec import dump_json, finding_from_dict, from_micros, load_json, to_micros
from serviceflow.live.customers import Close
from serviceflow.live.store import (
    CaseRow,
    Decision,
    FindingRow,
    NewOutboxItem,
    NewRecord,
    OutboxItem,
    OutboxState,
    SourceState,
    StoredRecord,
    TokenRow,
    Unit,
)

__all__ = ["Connection", "Dialect", "SqlQueries", "SqlUnit"]

T = TypeVar("T")


class Connection(Protocol):
    """The little a unit needs of a database connection inside a transaction."""

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Execute; the number of rows changed."""

    def run_many(self, sql: str, params: Iterable[Sequence[Any]]) -> None: ...


@dataclass(frozen=True)
class Dialect:
    """What one database does differently."""

    name: str
    lock_rows: str
    """Appended to a SELECT to lock its rows for the transaction ('' where there is one writer)."""
    skip_locked: str
    """Appended to a SELECT that takes rows no other transaction holds."""
    serial_key: str
    """The auto-numbered primary key's column type."""
    advisory_lock: str | None
    """A statement taking a transaction-scoped lock on a text key, or None."""


def marks(count: int) -> str:
    return "(" + ",".join("?" * count) + ")"


def _us(moment: datetime | None) -> int | None:
    return to_micros(moment) if moment is not None else None


def _at(micros: int | None) -> datetime | None:
    return from_micros(micros) if micros is not None else None


_CASE_COLUMNS = (
    "case_id, version, customer_id, opened_us, previous_case_id, previous_closed_us, next_change_us, "
    "revision, evaluated_us, is_open"
)
_RECORD_COLUMNS = "seq, record_id, case_id, body, digest, received_us, provenance"
_FINDING_COLUMNS = "body, revision, evaluated_us"
_OUTBOX_COLUMNS = (
    "id, idempotency_key, action, case_id, transition, state, attempts, next_attempt_us, lease_us, "
    "last_error, revision, created_us, updated_us, delivered_us"
)
_TOKEN_COLUMNS = "id, name, scopes, created_us, revoked_us"
_SOURCE_COLUMNS = (
    "source, cursor_value, polls, records, failures, last_error, last_success_us, last_attempt_us"
)
#: A successful poll's bookkeeping, as the SET clause of an update of ``source_cursors``.
_SOURCE_SUCCESS = (
    "cursor_value = ?, polls = source_cursors.polls + 1, records = source_cursors.records + ?, "
    "failures = 0, last_error = NULL, last_success_us = ?, last_attempt_us = ?, updated_us = ?"
)


def case_row(row: Sequence[Any]) -> CaseRow:
    previous = (row[4], from_micros(row[5])) if row[4] is not None else None
    return CaseRow(
        row[0], int(row[1]), row[2], _at(row[3]), previous, _at(row[6]), row[7], _at(row[8]), bool(row[9])
    )


def record_row(row: Sequence[Any]) -> StoredRecord:
    return StoredRecord(int(row[0]), row[1], row[2], row[3], row[4], from_micros(row[5]), load_json(row[6]))


def finding_row(row: Sequence[Any]) -> FindingRow:
    return FindingRow(finding_from_dict(load_json(row[0])), row[1], from_micros(row[2]))


def outbox_row(row: Sequence[Any]) -> OutboxItem:
    return OutboxItem(
        id=int(row[0]),
        idempotency_key=row[1],
        action=row[2],
        case_id=row[3],
        transition=load_json(row[4]),
        state=OutboxState(row[5]),
        attempts=int(row[6]),
        next_attempt_at=from_micros(row[7]),
        lease_until=_at(row[8]),
        last_error=row[9],
        revision=row[10],
        created_at=from_micros(row[11]),
        updated_at=from_micros(row[12]),
        delivered_at=_at(row[13]),
    )


def source_row(row: Sequence[Any]) -> SourceState:
    return SourceState(
        row[0], row[1], int(row[2]), int(row[3]), int(row[4]), row[5], _at(row[6]), _at(row[7])
    )


def token_row(row: Sequence[Any]) -> TokenRow:
    return TokenRow(int(row[0]), row[1], tuple(row[2].split()), from_micros(row[3]), _at(row[4]))


class SqlUnit:
    """:class:`~serviceflow.live.store.Unit` over one connection in one transaction."""

    def __init__(self, connection: Connection, dialect: Dialect) -> None:
        self.db = connection
        self.dialect = dialect

    # --- cases and records ---------------------------------------------------------------------------

    def lock_customers(self, customer_ids: Sequence[str]) -> None:
        if self.dialect.advisory_lock is not None:
            for customer in sorted(set(customer_ids)):
                self.db.rows(self.dialect.advisory_lock, ("customer:" + customer,))

    def lock_cases(self, case_ids: Sequence[str]) -> None:
        ordered = sorted(set(case_ids))
        if not ordered:
            return
        self.db.run_many(
            "INSERT INTO cases (case_id) VALUES (?) ON CONFLICT DO NOTHING", [(c,) for c in ordered]
        )
        if self.dialect.lock_rows:
            for start in range(0, len(ordered), 500):
                chunk = ordered[start : start + 500]
                self.db.rows(
                    f"SELECT case_id FROM cases WHERE case_id IN {marks(len(chunk))} ORDER BY case_id"
                    f"{self.dialect.lock_rows}",
                    chunk,
                )

    def find_records(self, record_ids: Sequence[str]) -> dict[str, StoredRecord]:
        found: dict[str, StoredRecord] = {}
        unique = list(dict.fromkeys(record_ids))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            for row in self.db.rows(
                f"SELECT {_RECORD_COLUMNS} FROM records WHERE record_id IN {marks(len(chunk))}", chunk
            ):
                stored = record_row(row)
                found[stored.record_id] = stored
        return found

    def append_records(self, records: Sequence[NewRecord]) -> list[int]:
        seq_of: dict[str, int] = {}
        for start in range(0, len(records), 100):
            chunk = records[start : start + 100]
            values: list[Any] = []
            for record in chunk:
                values.extend(
                    (
                        record.record_id,
                        record.case_id,
                        record.type,
                        to_micros(record.at),
                        record.body,
                        record.digest,
                        to_micros(record.received_at),
                        dump_json(record.provenance),
                    )
                )
            # One statement per chunk; rows are matched back by id, not by the order RETURNING gives.
            for record_id, seq in self.db.rows(
                "INSERT INTO records (record_id, case_id, type, at_us, body, digest, received_us, "
                f"provenance) VALUES {', '.join([marks(8)] * len(chunk))} RETURNING record_id, seq",
                values,
            ):
                seq_of[record_id] = int(seq)
        return [seq_of[record.record_id] for record in records]

    def case_records(self, case_id: str, after_seq: int = -1) -> list[StoredRecord]:
        return [
            record_row(row)
            for row in self.db.rows(
                f"SELECT {_RECORD_COLUMNS} FROM records WHERE case_id = ? AND seq > ? ORDER BY seq",
                (case_id, after_seq),
            )
        ]

    def records_of(self, case_ids: Sequence[str]) -> dict[str, list[StoredRecord]]:
        found: dict[str, list[StoredRecord]] = {}
        for chunk in _chunks(case_ids):
            for row in self.db.rows(
                f"SELECT {_RECORD_COLUMNS} FROM records WHERE case_id IN {marks(len(chunk))} ORDER BY seq",
                chunk,
            ):
                stored = record_row(row)
                found.setdefault(stored.case_id, []).append(stored)
        return found

    def cases(self, case_ids: Sequence[str]) -> dict[str, CaseRow]:
        found: dict[str, CaseRow] = {}
        for chunk in _chunks(case_ids):
            for row in self.db.rows(
                f"SELECT {_CASE_COLUMNS} FROM cases WHERE case_id IN {marks(len(chunk))}", chunk
            ):
                case = case_row(row)
                found[case.case_id] = case
        return found

    def case(self, case_id: str) -> CaseRow | None:
        rows = self.db.rows(f"SELECT {_CASE_COLUMNS} FROM cases WHERE case_id = ?", (case_id,))
        return case_row(rows[0]) if rows else None

    def save_case(self, row: CaseRow) -> None:
        values = _case_values(row)
        changed = self.db.run(
            "UPDATE cases SET version = ?, customer_id = ?, opened_us = ?, previous_case_id = ?, "
            "previous_closed_us = ?, next_change_us = ?, revision = ?, evaluated_us = ?, is_open = ? "
            "WHERE case_id = ?",
            (*values, row.case_id),
        )
        if not changed:
            self.db.run(f"INSERT INTO cases ({_CASE_COLUMNS}) VALUES {marks(10)}", (row.case_id, *values))

    def save_cases(self, rows: Sequence[CaseRow]) -> None:
        self.db.run_many(
            "UPDATE cases SET version = ?, customer_id = ?, opened_us = ?, previous_case_id = ?, "
            "previous_closed_us = ?, next_change_us = ?, revision = ?, evaluated_us = ?, is_open = ? "
            "WHERE case_id = ?",
            [(*_case_values(row), row.case_id) for row in rows],
        )

    def customer_cases(self, customer_ids: Sequence[str]) -> dict[str, list[CaseRow]]:
        found: dict[str, list[CaseRow]] = {}
        for chunk in _chunks(sorted(set(customer_ids))):
            for row in self.db.rows(
                f"SELECT {_CASE_COLUMNS} FROM cases WHERE customer_id IN {marks(len(chunk))} "
                "ORDER BY case_id",
                chunk,
            ):
                case = case_row(row)
                found.setdefault(case.customer_id or "", []).append(case)
        return found

    def customer_closes(self, customer_ids: Sequence[str]) -> dict[str, list[Close]]:
        found: dict[str, list[Close]] = {}
        for chunk in _chunks(sorted(set(customer_ids))):
            for row in self.db.rows(
                "SELECT cases.customer_id, closes.case_id, closes.at_us, closes.seq FROM closes "
                "JOIN cases ON cases.case_id = closes.case_id "
                f"WHERE cases.customer_id IN {marks(len(chunk))}",
                chunk,
            ):
                found.setdefault(row[0], []).append(Close(row[1], from_micros(row[2]), int(row[3])))
        return found

    def add_closes(self, closes: Sequence[Close]) -> None:
        self.db.run_many(
            "INSERT INTO closes (case_id, at_us, seq) VALUES (?, ?, ?)",
            [(close.case_id, to_micros(close.at), close.seq) for close in closes],
        )

    # --- findings, decisions, outbox ------------------------------------------------------------------

    def findings_of(self, case_id: str) -> list[FindingRow]:
        return [
            finding_row(row)
            for row in self.db.rows(
                f"SELECT {_FINDING_COLUMNS} FROM findings WHERE case_id = ? ORDER BY policy, record_id",
                (case_id,),
            )
        ]

    def findings_of_cases(self, case_ids: Sequence[str]) -> dict[str, list[FindingRow]]:
        found: dict[str, list[FindingRow]] = {}
        for chunk in _chunks(case_ids):
            for row in self.db.rows(
                f"SELECT case_id, {_FINDING_COLUMNS} FROM findings WHERE case_id IN {marks(len(chunk))} "
                "ORDER BY case_id, policy, record_id",
                chunk,
            ):
                found.setdefault(row[0], []).append(finding_row(row[1:]))
        return found

    def replace_findings_of(
        self, findings: Mapping[str, Sequence[Finding]], revision: str, evaluated_at: datetime
    ) -> None:
        for chunk in _chunks(list(findings)):
            self.db.run(f"DELETE FROM findings WHERE case_id IN {marks(len(chunk))}", chunk)
        evaluated = to_micros(evaluated_at)
        self.db.run_many(
            "INSERT INTO findings (case_id, policy, record_id, status, severity, deadline_us, body, "
            "revision, evaluated_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    finding.case_id,
                    finding.policy,
                    finding.record_id,
                    finding.status.value,
                    finding.severity.value,
                    _us(finding.deadline),
                    dump_json(_stored_finding(finding)),
                    revision,
                    evaluated,
                )
                for case_findings in findings.values()
                for finding in case_findings
            ],
        )

    def log_decisions(self, decisions: Sequence[Decision], created_at: datetime) -> None:
        created = to_micros(created_at)
        self.db.run_many(
            "INSERT INTO decisions (decision_id, kind, case_id, case_version, revision, now_us, created_us, "
            "result) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    d.decision_id,
                    d.kind,
                    d.case_id,
                    d.case_version,
                    d.revision,
                    to_micros(d.now),
                    created,
                    dump_json(d.result),
                )
                for d in decisions
            ],
        )

    def enqueue(self, items: Sequence[NewOutboxItem]) -> set[str]:
        added: set[str] = set()
        for item in items:
            created = to_micros(item.created_at)
            for row in self.db.rows(
                "INSERT INTO outbox (idempotency_key, action, case_id, transition, state, attempts, "
                "next_attempt_us, revision, created_us, updated_us) "
                "VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, ?) "
                "ON CONFLICT (idempotency_key) DO NOTHING RETURNING idempotency_key",
                (
                    item.idempotency_key,
                    item.action,
                    item.case_id,
                    dump_json(item.transition),
                    OutboxState.PENDING.value,
                    created,
                    item.revision,
                    created,
                    created,
                ),
            ):
                added.add(row[0])
        return added

    def due_cases(self, now: datetime, limit: int) -> list[str]:
        return [
            row[0]
            for row in self.db.rows(
                "SELECT case_id FROM cases WHERE next_change_us <= ? ORDER BY next_change_us LIMIT ?"
                + self.dialect.skip_locked,
                (to_micros(now), limit),
            )
        ]

    def stale_cases(self, revision: str, limit: int) -> list[str]:
        return [
            row[0]
            for row in self.db.rows(
                "SELECT case_id FROM cases WHERE is_open = 1 AND version > 0 AND revision <> ? "
                "ORDER BY case_id LIMIT ?" + self.dialect.skip_locked,
                (revision, limit),
            )
        ]

    # --- idempotent requests --------------------------------------------------------------------------

    def claim_request(self, scope: str, key: str, request_hash: str, now: datetime) -> tuple[str, Any] | None:
        claimed = self.db.rows(
            "INSERT INTO requests (scope, request_key, request_hash, created_us) VALUES (?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING RETURNING request_key",
            (scope, key, request_hash, to_micros(now)),
        )
        if claimed:
            return None
        rows = self.db.rows(
            "SELECT request_hash, response FROM requests WHERE scope = ? AND request_key = ?", (scope, key)
        )
        return rows[0][0], load_json(rows[0][1])

    def finish_request(self, scope: str, key: str, response: Any) -> None:
        self.db.run(
            "UPDATE requests SET response = ? WHERE scope = ? AND request_key = ?",
            (dump_json(response), scope, key),
        )

    # --- connectors -----------------------------------------------------------------------------------

    def source_state(self, name: str) -> SourceState | None:
        rows = self.db.rows(f"SELECT {_SOURCE_COLUMNS} FROM source_cursors WHERE source = ?", (name,))
        return source_row(rows[0]) if rows else None

    def advance_source(
        self, name: str, expected: str | None, cursor: str, records: int, now: datetime
    ) -> bool:
        moment = to_micros(now)
        values = (cursor, records, moment, moment, moment)
        if expected is None:
            # A first cursor: the row may not exist yet, or exist with failures and no cursor. Of two
            # processes doing this at once, the second finds the first's cursor and changes nothing.
            changed = self.db.rows(
                "INSERT INTO source_cursors (source, cursor_value, polls, records, failures, "
                "last_success_us, last_attempt_us, updated_us) VALUES (?, ?, 1, ?, 0, ?, ?, ?) "
                f"ON CONFLICT (source) DO UPDATE SET {_SOURCE_SUCCESS} "
                "WHERE source_cursors.cursor_value IS NULL RETURNING source",
                (name, cursor, records, moment, moment, moment, *values),
            )
        else:
            # The row is locked until the transaction ends; a concurrent update re-reads the condition
            # after it, finds another cursor and changes nothing.
            changed = self.db.rows(
                f"UPDATE source_cursors SET {_SOURCE_SUCCESS} WHERE source = ? AND cursor_value = ? "
                "RETURNING source",
                (*values, name, expected),
            )
        return bool(changed)

    def claim_key(self, key: str, now: datetime, expires_at: datetime) -> bool:
        moment = to_micros(now)
        self.db.run("DELETE FROM webhook_claims WHERE expires_us <= ?", (moment,))
        claimed = self.db.rows(
            "INSERT INTO webhook_claims (claim_key, seen_us, expires_us) VALUES (?, ?, ?) "
            "ON CONFLICT (claim_key) DO UPDATE SET seen_us = excluded.seen_us, "
            "expires_us = excluded.expires_us WHERE webhook_claims.expires_us <= excluded.seen_us "
            "RETURNING claim_key",
            (key, moment, to_micros(expires_at)),
        )
        return bool(claimed)


def _case_values(row: CaseRow) -> tuple[Any, ...]:
    previous_id, previous_at = row.previous_case if row.previous_case is not None else (None, None)
    return (
        row.version,
        row.customer_id,
        _us(row.opened_at),
        previous_id,
        _us(previous_at),
        _us(row.next_change),
        row.revision,
        _us(row.evaluated_at),
        1 if row.open else 0,
    )


def _chunks(values: Sequence[str], size: int = 500) -> list[list[str]]:
    """``values`` in lists of at most ``size``: one ``IN (...)`` each, under every database's limit."""
    listed = list(values)
    return [listed[start : start + size] for start in range(0, len(listed), size)]


def _stored_finding(finding: Finding) -> dict[str, Any]:
    data = finding.to_dict()
    data.pop("location", None)  # live records have no file; keep rows independent of how they came
    return data


class SqlQueries:
    """The store's reads and small writes outside an ingest, each in its own transaction.

    Mixed into each store, which provides :meth:`transact` (a unit of work in one transaction, retried
    as its database needs); everything here is the same SQL on both.
    """

    dialect: Dialect

    def transact(self, work: Callable[[Unit], T], *, write: bool = True) -> T:
        raise NotImplementedError

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.transact(lambda unit: unit.db.rows(sql, params), write=False)  # type: ignore[attr-defined]

    def _write(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.transact(lambda unit: unit.db.rows(sql, params))  # type: ignore[attr-defined]

    def claim_outbox(self, action: str, now: datetime, lease_until: datetime, limit: int) -> list[OutboxItem]:
        return self.transact(lambda unit: claim_outbox_in(unit, action, now, lease_until, limit))  # type: ignore[arg-type]

    def list_findings(
        self,
        *,
        status: str | None,
        policy: str | None,
        case_id: str | None,
        after: Sequence[Any] | None,
        limit: int,
    ) -> list[FindingRow]:
        where, params = [], []
        for column, value in (("status", status), ("policy", policy), ("case_id", case_id)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if after is not None:
            where.append("(case_id > ? OR (case_id = ? AND (policy > ? OR (policy = ? AND record_id > ?))))")
            params.extend([after[0], after[0], after[1], after[1], after[2]])
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        return [
            finding_row(row)
            for row in self._read(
                f"SELECT {_FINDING_COLUMNS} FROM findings{clause} "
                "ORDER BY case_id, policy, record_id LIMIT ?",
                [*params, limit],
            )
        ]

    def list_obligations(
        self, *, due_before: datetime | None, after: Sequence[Any] | None, limit: int
    ) -> list[FindingRow]:
        where, params = ["status = 'pending'", "deadline_us IS NOT NULL"], []
        if due_before is not None:
            where.append("deadline_us < ?")
            params.append(to_micros(due_before))
        if after is not None:
            deadline = to_micros(after[0])
            where.append(
                "(deadline_us > ? OR (deadline_us = ? AND (case_id > ? OR (case_id = ? AND (policy > ? OR "
                "(policy = ? AND record_id > ?))))))"
            )
            params.extend([deadline, deadline, after[1], after[1], after[2], after[2], after[3]])
        return [
            finding_row(row)
            for row in self._read(
                f"SELECT {_FINDING_COLUMNS} FROM findings WHERE {' AND '.join(where)} "
                "ORDER BY deadline_us, case_id, policy, record_id LIMIT ?",
                [*params, limit],
            )
        ]

    def list_outbox(self, *, state: str | None, after: int | None, limit: int) -> list[OutboxItem]:
        where: list[str] = []
        params: list[Any] = []
        if state is not None:
            where.append("state = ?")
            params.append(state)
        if after is not None:
            where.append("id > ?")
            params.append(after)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        return [
            outbox_row(row)
            for row in self._read(
                f"SELECT {_OUTBOX_COLUMNS} FROM outbox{clause} ORDER BY id LIMIT ?", [*params, limit]
            )
        ]

    def outbox_item(self, item_id: int) -> OutboxItem | None:
        rows = self._read(f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE id = ?", (item_id,))
        return outbox_row(rows[0]) if rows else None

    def outbox_depth(self) -> dict[str, int]:
        depth = {state.value: 0 for state in OutboxState}
        for state, count in self._read("SELECT state, COUNT(*) FROM outbox GROUP BY state"):
            depth[state] = int(count)
        return depth

    def finish_outbox(
        self, item_id: int, *, state: OutboxState, next_attempt_at: datetime, error: str | None, now: datetime
    ) -> None:
        delivered = to_micros(now) if state is OutboxState.DELIVERED else None
        self._write(
            "UPDATE outbox SET state = ?, next_attempt_us = ?, lease_us = NULL, last_error = ?, "
            "updated_us = ?, "
            "delivered_us = ? WHERE id = ? RETURNING id",
            (state.value, to_micros(next_attempt_at), error, to_micros(now), delivered, item_id),
        )

    def retry_outbox(self, item_id: int, now: datetime) -> OutboxItem | None:
        moment = to_micros(now)
        rows = self._write(
            f"UPDATE outbox SET state = ?, attempts = 0, next_attempt_us = ?, lease_us = NULL, "
            f"updated_us = ? "
            f"WHERE id = ? RETURNING {_OUTBOX_COLUMNS}",
            (OutboxState.PENDING.value, moment, moment, item_id),
        )
        return outbox_row(rows[0]) if rows else None

    def earliest_next_change(self) -> datetime | None:
        rows = self._read("SELECT MIN(next_change_us) FROM cases")
        return _at(rows[0][0]) if rows else None

    def earliest_attempt(self) -> datetime | None:
        rows = self._read(
            "SELECT MIN(CASE WHEN state = 'pending' THEN next_attempt_us ELSE lease_us END) FROM outbox "
            "WHERE state IN ('pending', 'delivering')"
        )
        return _at(rows[0][0]) if rows else None

    def count_stale(self, revision: str) -> int:
        rows = self._read(
            "SELECT COUNT(*) FROM cases WHERE is_open = 1 AND version > 0 AND revision <> ?", (revision,)
        )
        return int(rows[0][0])

    def case_count(self) -> int:
        return int(self._read("SELECT COUNT(*) FROM cases WHERE version > 0")[0][0])

    def decisions(self, case_id: str | None = None, limit: int = 100) -> list[Decision]:
        clause, params = ("WHERE case_id = ? ", [case_id]) if case_id is not None else ("", [])
        return [
            Decision(row[0], row[1], row[2], int(row[3]), row[4], from_micros(row[5]), load_json(row[6]))
            for row in self._read(
                "SELECT decision_id, kind, case_id, case_version, revision, now_us, result FROM decisions "
                f"{clause}ORDER BY entry LIMIT ?",
                [*params, limit],
            )
        ]

    # --- connectors -----------------------------------------------------------------------------------

    def source_states(self) -> list[SourceState]:
        return [
            source_row(row)
            for row in self._read(f"SELECT {_SOURCE_COLUMNS} FROM source_cursors ORDER BY source")
        ]

    def source_failed(self, name: str, error: str, now: datetime) -> None:
        moment = to_micros(now)
        self._write(
            "INSERT INTO source_cursors (source, polls, failures, last_error, last_attempt_us, updated_us) "
            "VALUES (?, 1, 1, ?, ?, ?) ON CONFLICT (source) DO UPDATE SET polls = source_cursors.polls + 1, "
            "failures = source_cursors.failures + 1, last_error = excluded.last_error, "
            "last_attempt_us = excluded.last_attempt_us, updated_us = excluded.updated_us RETURNING source",
            (name, error[:2000], moment, moment),
        )

    def key_claimed(self, key: str, now: datetime) -> bool:
        return bool(
            self._read(
                "SELECT claim_key FROM webhook_claims WHERE claim_key = ? AND expires_us > ?",
                (key, to_micros(now)),
            )
        )

    # --- tokens ---------------------------------------------------------------------------------------

    def add_token(self, name: str, token_hash: str, scopes: Iterable[str], now: datetime) -> TokenRow:
        from serviceflow.live.errors import BadRequest

        if self._read("SELECT id FROM tokens WHERE name = ? AND revoked_us IS NULL", (name,)):
            raise BadRequest(f"a token named '{name}' exists; revoke it first or choose another name")
        rows = self._write(
            "INSERT INTO tokens (name, token_hash, scopes, created_us) VALUES (?, ?, ?, ?) "
            f"RETURNING {_TOKEN_COLUMNS}",
            (name, token_hash, " ".join(scopes), to_micros(now)),
        )
        return token_row(rows[0])

    def token_by_hash(self, token_hash: str) -> TokenRow | None:
        rows = self._read(f"SELECT {_TOKEN_COLUMNS} FROM tokens WHERE token_hash = ?", (token_hash,))
        return token_row(rows[0]) if rows else None

    def list_tokens(self) -> list[TokenRow]:
        return [token_row(row) for row in self._read(f"SELECT {_TOKEN_COLUMNS} FROM tokens ORDER BY id")]

    def revoke_token(self, name: str, now: datetime) -> bool:
        rows = self._write(
            "UPDATE tokens SET revoked_us = ? WHERE name = ? AND revoked_us IS NULL RETURNING id",
            (to_micros(now), name),
        )
        return bool(rows)


def claim_outbox_in(
    unit: SqlUnit, action: str, now: datetime, lease_until: datetime, limit: int
) -> list[OutboxItem]:
    """Take up to ``limit`` due items of ``action`` (pending and due, or delivering past their lease)
    for one worker: marked delivering until ``lease_until``, the attempt counted."""
    moment = to_micros(now)
    ids = [
        row[0]
        for row in unit.db.rows(
            "SELECT id FROM outbox WHERE action = ? AND ((state = 'pending' AND next_attempt_us <= ?) OR "
            "(state = 'delivering' AND lease_us <= ?)) ORDER BY next_attempt_us, id LIMIT ?"
            + unit.dialect.skip_locked,
            (action, moment, moment, limit),
        )
    ]
    if not ids:
        return []
    rows = unit.db.rows(
        f"UPDATE outbox SET state = 'delivering', lease_us = ?, attempts = attempts + 1, updated_us = ? "
        f"WHERE id IN {marks(len(ids))} RETURNING {_OUTBOX_COLUMNS}",
        (to_micros(lease_until), moment, *ids),
    )
    return sorted((outbox_row(row) for row in rows), key=lambda item: item.id)
