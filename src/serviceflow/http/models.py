"""The shapes of the API's bodies, for its OpenAPI document.

Routes build their JSON from the service's own ``to_dict`` methods (one meaning, shared with
``lint --format json``) and return it as it is; these models describe it. A test checks every route
is in the document and that answers match these shapes.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Finding(_Open):
    """A finding as ``serviceflow lint --format json`` writes it."""

    policy: str
    severity: str = Field(description="info, warning or error")
    status: str = Field(description="violation, pending or error")
    case_id: str
    record_id: str
    message: str
    evidence: list[str]
    deadline: str | None = Field(None, description="RFC 3339; for a pending obligation, when it must be met")
    reason: str | None = Field(None, description="why the policy fired (the traced evaluator's words)")


class StoredFinding(Finding):
    policy_revision: str
    evaluated_at: str


class RejectedRecord(_Open):
    index: int = Field(description="the record's position in the request, from 0")
    pointer: str = Field(description="RFC 6901 JSON pointer into the record")
    message: str
    stored: dict[str, Any] | None = Field(None, description="for a conflict: the version already stored")


class IngestResponse(BaseModel):
    accepted: int
    duplicates: int
    rejected: list[RejectedRecord]
    cases: list[str] = Field(description="the cases that received records")


class CaseResponse(_Open):
    case_id: str
    version: int = Field(description="how many records the case has")
    records: list[dict[str, Any]] = Field(description="the case's records as admitted, in case order")
    violations: list[Finding]
    pending: list[Finding]
    next_change: str | None = Field(description="when time alone can next change the findings")
    policy_revision: str | None = None
    evaluated_at: str | None = None


class CheckRequest(BaseModel):
    record: dict[str, Any] = Field(description="the proposed record, as it would be ingested")


class CheckResponse(BaseModel):
    allowed: bool = Field(description="false when a new violation is at or above the gate severity")
    violations: list[Finding] = Field(description="the violations the record would cause, with reasons")
    pending: list[Finding] = Field(description="obligations the record would open")
    fulfils: list[Finding] = Field(description="obligations the record would meet (as they were)")
    decision_id: str
    policy_revision: str


class FindingsPage(BaseModel):
    items: list[StoredFinding]
    next_cursor: str | None = Field(description="pass as 'cursor' for the next page; null on the last")


class OutboxItem(_Open):
    id: int
    idempotency_key: str
    action: str
    case_id: str
    state: str = Field(description="pending, delivering, delivered or dead")
    attempts: int
    next_attempt_at: str | None
    last_error: str | None
    policy_revision: str
    created_at: str
    updated_at: str
    delivered_at: str | None
    transition: dict[str, Any]


class OutboxPage(BaseModel):
    items: list[OutboxItem]
    next_cursor: str | None


class Problem(_Open):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    pointer: str | None = Field(None, description="for a record error: where in the body")


class Health(_Open):
    status: str
