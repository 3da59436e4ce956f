"""Out: tell RT about a finding, once, on the ticket it is about.

:func:`comment_on_ticket` writes a private comment on the ticket of the finding's case naming the
policy, the message and the reason, and can also set a custom field and move the ticket to an
escalation queue. It is idempotent by the key it is given: the comment carries a marker line made from
the key (``serviceflow-action: <sha-256 prefix>``), and before writing anything the action searches
the ticket for that marker; when its own earlier comment is there, it does nothing. So a retried action
(the outbox delivers at least once) writes once. The field and queue changes are made before the
comment, and are no-ops when already made, so a retry after a half-done attempt completes it.

:func:`create` makes it the ``rt-comment`` action of the ``serviceflow_actions`` hook: the live
service's outbox calls it with each transition's idempotency key (the same on every retry, in every
process), ``lint --action rt-comment`` with the finding's key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from serviceflow.plugin import ActionContext, ActionFunction, ConfigError, Finding
from serviceflow_rt.client import RtClient, RtError
from serviceflow_rt.config import config_from_options
from serviceflow_rt.mapping import ACTION_MARKER

NAME = "rt-comment"
_KEY_SHOWN = 200


class NotAnRtCase(RtError):
    """The finding's case is not a ticket of this RT (its id lacks the configured prefix)."""


@dataclass(frozen=True)
class ActionOutcome:
    """What :func:`comment_on_ticket` did: ``written`` false when its earlier comment was found."""

    ticket: int
    written: bool
    detail: str


def marker(idempotency_key: str) -> str:
    """The line that identifies the comment written for ``idempotency_key``: ASCII, short, no ``=``
    (quoted-printable storage would split a long line at ``=``)."""
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:40]
    return f"{ACTION_MARKER} {digest}"


def comment_text(finding: Mapping[str, Any], idempotency_key: str) -> str:
    """The comment: policy, severity and status, the message, the reason, the record, the marker."""
    policy = str(finding.get("policy") or "(no policy)")
    severity = str(finding.get("severity") or "")
    status = str(finding.get("status") or "")
    kind = ", ".join(part for part in (severity, status) if part)
    lines = [f"serviceflow: {policy}" + (f" ({kind})" if kind else ""), "", str(finding.get("message") or "")]
    reason = finding.get("reason")
    if reason:
        lines += ["", f"Why: {reason}"]
    details = []
    if finding.get("record_id"):
        details.append(f"Record: {finding['record_id']}")
    if finding.get("deadline"):
        details.append(f"Deadline: {finding['deadline']}")
    if details:
        lines += ["", *details]
    shown_key = (
        idempotency_key if len(idempotency_key) <= _KEY_SHOWN else idempotency_key[:_KEY_SHOWN] + "..."
    )
    lines += ["", f"Key: {shown_key}", marker(idempotency_key)]
    return "\n".join(lines)


def find_earlier_comment(client: RtClient, ticket_id: int, idempotency_key: str) -> int | None:
    """The transaction of this action's earlier comment on the ticket, if there is one."""
    for part in client.find_ticket_attachments(ticket_id, marker(idempotency_key)):
        transaction_id = part.get("TransactionId")
        if isinstance(transaction_id, Mapping):
            transaction_id = transaction_id.get("id")
        if transaction_id is None:
            continue
        # A person quoting the comment in a reply to the customer is not this action's comment.
        if client.transaction(str(transaction_id)).get("Type") == "Comment":
            return int(str(transaction_id))
    return None


def comment_on_ticket(
    client: RtClient,
    finding: Mapping[str, Any],
    idempotency_key: str,
    *,
    custom_field: tuple[str, str] | None = None,
    escalation_queue: str | None = None,
) -> ActionOutcome:
    """Comment on the finding's ticket once per ``idempotency_key``; optionally set a custom field
    (``(name, value)``) and move the ticket to ``escalation_queue`` first.

    Raises :class:`NotAnRtCase` when the case is not one of this RT's tickets, and :class:`RtError`
    when RT cannot be reached or refuses a change (REST2 answers 200 with a message when it refuses,
    so the ticket is read back to check).
    """
    if not idempotency_key:
        raise ValueError("an idempotency key is required: it is what makes a retry write nothing")
    config = client.config
    case_id = str(finding.get("case_id") or "")
    ticket_id = config.ticket_id(case_id)
    if ticket_id is None:
        raise NotAnRtCase(
            f"case {case_id!r} is not an RT ticket here (RT cases are {config.case_prefix}<ticket id>)"
        )
    earlier = find_earlier_comment(client, ticket_id, idempotency_key)
    if earlier is not None:
        return ActionOutcome(
            ticket_id, False, f"ticket {ticket_id}: already commented (transaction {earlier})"
        )
    changes: dict[str, Any] = {}
    if custom_field is not None:
        changes["CustomFields"] = {custom_field[0]: custom_field[1]}
    if escalation_queue:
        changes["Queue"] = escalation_queue
    if changes:
        messages = client.update_ticket(ticket_id, changes)
        _check_applied(client, ticket_id, custom_field, escalation_queue, messages)
    client.comment(ticket_id, comment_text(finding, idempotency_key))
    done = ["commented"]
    if custom_field is not None:
        done.append(f"set {custom_field[0]}")
    if escalation_queue:
        done.append(f"moved to {escalation_queue}")
    return ActionOutcome(ticket_id, True, f"ticket {ticket_id}: {', '.join(done)}")


def _check_applied(
    client: RtClient,
    ticket_id: int,
    custom_field: tuple[str, str] | None,
    escalation_queue: str | None,
    messages: list[str],
) -> None:
    ticket = client.ticket(ticket_id)
    wrong = []
    queue = ticket.get("Queue")
    if escalation_queue and not (isinstance(queue, Mapping) and queue.get("Name") == escalation_queue):
        wrong.append(f"the ticket is not in queue {escalation_queue!r}")
    if custom_field is not None:
        values = next(
            (
                field.get("values") or []
                for field in ticket.get("CustomFields") or []
                if isinstance(field, Mapping)
                and str(field.get("name", "")).casefold() == custom_field[0].casefold()
            ),
            None,
        )
        if values is None or custom_field[1] not in values:
            wrong.append(f"custom field {custom_field[0]!r} does not hold {custom_field[1]!r}")
    if wrong:
        raise RtError(
            f"RT did not apply the change to ticket {ticket_id}: {'; '.join(wrong)} "
            f"(RT said: {' / '.join(messages)})"
        )


def create(options: Mapping[str, Any]) -> ActionFunction:
    """The ``rt-comment`` action for ``[actions.rt-comment]``: the :class:`RtConfig` options (``url``,
    ``token``, ``case-prefix``...) plus ``custom-field`` and ``custom-field-value`` (set on the ticket)
    and ``escalation-queue`` (the ticket is moved there)."""
    settings = {
        str(key) if key == "token-env" else str(key).replace("-", "_"): value
        for key, value in options.items()
    }
    field_name = settings.pop("custom_field", None)
    field_value = settings.pop("custom_field_value", None)
    escalation_queue = settings.pop("escalation_queue", None)
    if (field_name is None) != (field_value is None):
        raise ConfigError(f"action '{NAME}': custom-field and custom-field-value go together")
    config = config_from_options(settings, what=f"action '{NAME}'")
    client = RtClient(config)
    custom_field = (str(field_name), str(field_value)) if field_name is not None else None

    def act(finding: Finding, context: ActionContext) -> str:
        # Live mode's key is per transition and the same on every retry; lint has none, and a
        # finding's own key is then the one that recognises a re-run.
        key = context.idempotency_key or "/".join(finding.key)
        try:
            outcome = comment_on_ticket(
                client, finding.to_dict(), key, custom_field=custom_field, escalation_queue=escalation_queue
            )
        except NotAnRtCase as error:
            return f"skipped: {error}"
        return outcome.detail

    return act
