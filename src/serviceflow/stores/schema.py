"""The store's schema, as numbered migrations, written once for both databases.

Each migration is a list of statements; ``{id}`` is the dialect's auto-numbered primary key
(``INTEGER PRIMARY KEY AUTOINCREMENT`` in SQLite, ``BIGSERIAL PRIMARY KEY`` in PostgreSQL). Instants
are ``BIGINT`` microseconds since the epoch (``*_us``): exact, indexable, and the same in both.
A migration, once released, is never edited: a change is a new one at the end.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "latest_version"]

MIGRATIONS: dict[int, list[str]] = {
    1: [
        # The append-only record log: the record as admitted, its place (seq), when and how it came.
        """CREATE TABLE records (
            seq {id},
            record_id TEXT NOT NULL UNIQUE,
            case_id TEXT NOT NULL,
            type TEXT NOT NULL,
            at_us BIGINT NOT NULL,
            body TEXT NOT NULL,
            digest TEXT NOT NULL,
            received_us BIGINT NOT NULL,
            provenance TEXT NOT NULL
        )""",
        "CREATE INDEX records_by_case ON records (case_id, seq)",
        # A case: its version (records stored), customer facts, and its last evaluation.
        """CREATE TABLE cases (
            case_id TEXT PRIMARY KEY,
            version BIGINT NOT NULL DEFAULT 0,
            customer_id TEXT,
            opened_us BIGINT,
            previous_case_id TEXT,
            previous_closed_us BIGINT,
            next_change_us BIGINT,
            revision TEXT,
            evaluated_us BIGINT,
            is_open INTEGER NOT NULL DEFAULT 1
        )""",
        "CREATE INDEX cases_by_next_change ON cases (next_change_us) WHERE next_change_us IS NOT NULL",
        "CREATE INDEX cases_by_customer ON cases (customer_id) WHERE customer_id IS NOT NULL",
        "CREATE INDEX cases_by_revision ON cases (is_open, revision)",
        # Closes of cases (status changes to closed/solved): what the customer scope reads.
        "CREATE TABLE closes (case_id TEXT NOT NULL, at_us BIGINT NOT NULL, seq BIGINT NOT NULL)",
        "CREATE INDEX closes_by_case ON closes (case_id)",
        # Each case's current findings, with the revision and instant they were evaluated under.
        """CREATE TABLE findings (
            case_id TEXT NOT NULL,
            policy TEXT NOT NULL,
            record_id TEXT NOT NULL,
            status TEXT NOT NULL,
            severity TEXT NOT NULL,
            deadline_us BIGINT,
            body TEXT NOT NULL,
            revision TEXT NOT NULL,
            evaluated_us BIGINT NOT NULL,
            PRIMARY KEY (case_id, policy, record_id)
        )""",
        "CREATE INDEX findings_by_status ON findings (status, case_id, policy, record_id)",
        "CREATE INDEX findings_by_policy ON findings (policy, case_id, record_id)",
        "CREATE INDEX findings_by_deadline ON findings (deadline_us, case_id, policy, record_id) "
        "WHERE status = 'pending'",
        # The decision log: every evaluation and gate check.
        """CREATE TABLE decisions (
            entry {id},
            decision_id TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            case_id TEXT NOT NULL,
            case_version BIGINT NOT NULL,
            revision TEXT NOT NULL,
            now_us BIGINT NOT NULL,
            created_us BIGINT NOT NULL,
            result TEXT NOT NULL
        )""",
        "CREATE INDEX decisions_by_case ON decisions (case_id, created_us)",
        # The outbox: one row per (transition, action), its whole delivery life as states.
        """CREATE TABLE outbox (
            id {id},
            idempotency_key TEXT NOT NULL UNIQUE,
            action TEXT NOT NULL,
            case_id TEXT NOT NULL,
            transition TEXT NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_us BIGINT NOT NULL,
            lease_us BIGINT,
            last_error TEXT,
            revision TEXT NOT NULL,
            created_us BIGINT NOT NULL,
            updated_us BIGINT NOT NULL,
            delivered_us BIGINT
        )""",
        "CREATE INDEX outbox_due ON outbox (action, state, next_attempt_us)",
        "CREATE INDEX outbox_by_state ON outbox (state, id)",
        # Bearer tokens, by hash only; a name is unique among live tokens.
        """CREATE TABLE tokens (
            id {id},
            name TEXT NOT NULL,
            token_hash TEXT NOT NULL UNIQUE,
            scopes TEXT NOT NULL,
            created_us BIGINT NOT NULL,
            revoked_us BIGINT
        )""",
        "CREATE UNIQUE INDEX tokens_live_name ON tokens (name) WHERE revoked_us IS NULL",
        # Idempotency-Key: the first answer to each (token, key).
        """CREATE TABLE requests (
            scope TEXT NOT NULL,
            request_key TEXT NOT NULL,
            request_hash TEXT NOT NULL,
            response TEXT,
            created_us BIGINT NOT NULL,
            PRIMARY KEY (scope, request_key)
        )""",
    ],
    2: [
        # Connectors (docs/plugins.md): each source's cursor, moved in the transaction that stores the
        # records it covers, and how its polls have gone.
        """CREATE TABLE source_cursors (
            source TEXT PRIMARY KEY,
            cursor_value TEXT,
            polls BIGINT NOT NULL DEFAULT 0,
            records BIGINT NOT NULL DEFAULT 0,
            failures INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            last_success_us BIGINT,
            last_attempt_us BIGINT,
            updated_us BIGINT NOT NULL
        )""",
        # Webhook requests already accepted (a signature covers no time, so a replay must be remembered),
        # each until it expires; claimed in the transaction that stores the request's records.
        """CREATE TABLE webhook_claims (
            claim_key TEXT PRIMARY KEY,
            seen_us BIGINT NOT NULL,
            expires_us BIGINT NOT NULL
        )""",
        "CREATE INDEX webhook_claims_by_expiry ON webhook_claims (expires_us)",
    ],
}


def latest_version() -> int:
    return max(MIGRATIONS)
