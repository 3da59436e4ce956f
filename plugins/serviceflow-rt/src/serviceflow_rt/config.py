"""What a desk tells serviceflow-rt about its Request Tracker: where it is, which queues, what means what.

One frozen :class:`RtConfig` serves the source (history in), the actions (comments out) and the gate
installer, so that a ticket is case ``rt-42`` and ``resolved`` means ``closed`` everywhere.
:func:`config_from_options` reads the ``[sources.rt]`` and ``[actions.rt-comment]`` tables of
serviceflow.toml (the token from the environment when they do not hold it); every unknown key is a
:class:`~serviceflow.plugin.ConfigError` naming it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Literal, cast

from serviceflow.plugin import ConfigError

#: serviceflow's status vocabulary (schemas/status_change.schema.json).
SERVICEFLOW_STATUSES = frozenset({"open", "pending", "on_hold", "solved", "closed", "reopened"})

#: RT 5's default lifecycle onto serviceflow's statuses. ``resolved`` is RT's close: the ticket is
#: inactive and the requestor is told, so it is ``closed`` (and ``no-close-without-confirmation`` asks
#: for the customer's confirmation before it). ``new`` and ``open`` are both serviceflow's ``open``, so
#: RT's automatic new -> open makes no record.
DEFAULT_STATUSES: Mapping[str, str] = MappingProxyType(
    {
        "new": "open",
        "open": "open",
        "stalled": "on_hold",
        "resolved": "closed",
        "rejected": "closed",
        "deleted": "closed",
    }
)

#: The serviceflow statuses after which new work on the case is a reopen.
CLOSED_STATUSES = frozenset({"solved", "closed"})

RecordKind = Literal["confirmation", "capacity_check", "concession"]
CUSTOM_FIELD_RECORDS: tuple[RecordKind, ...] = ("confirmation", "capacity_check", "concession")


@dataclass(frozen=True)
class CustomFieldRule:
    """An RT custom field whose new values become records of one type.

    * ``confirmation``: a value in ``yes`` is the customer confirming the problem is solved
      (``resolved: true``), a value in ``no`` is the customer saying it is not; other values are ignored.
    * ``capacity_check``: ``yes`` / ``no`` is ``confirmed``; a date-time value is a confirmation up to
      that time. The window runs from the change to the ticket's due date (or to the date given); the
      resource is the ticket's owner.
    * ``concession``: ``"<kind> [amount] [currency]"``, kind one of discount, credit, refund,
      free_service, gesture (another first word is a ``gesture`` with the value in ``meta``), for the
      ticket's due-date commitment.

    Values are compared case-insensitively, without surrounding spaces.
    """

    name: str
    record: RecordKind
    yes: tuple[str, ...] = ("yes", "true", "confirmed", "resolved", "1")
    no: tuple[str, ...] = ("no", "false", "not confirmed", "unresolved", "not resolved", "0")

    def __post_init__(self) -> None:
        if not self.name:
            raise ConfigError("an RT custom field rule needs the custom field's name")
        if self.record not in CUSTOM_FIELD_RECORDS:
            raise ConfigError(
                f"custom field {self.name!r}: record must be one of {', '.join(CUSTOM_FIELD_RECORDS)}, "
                f"not {self.record!r}"
            )
        object.__setattr__(self, "yes", tuple(value.strip().casefold() for value in self.yes))
        object.__setattr__(self, "no", tuple(value.strip().casefold() for value in self.no))


@dataclass(frozen=True)
class RtConfig:
    """One Request Tracker and how its tickets become serviceflow cases.

    ``url`` is RT's web address (``https://rt.example.com`` or with a path, ``.../rt``); the REST2 API
    is under it at ``/REST/2.0/``. ``token`` is an RT auth token (Preferences > Auth Tokens) of a user
    who can see the queues and, for the actions, comment on and modify their tickets.
    """

    url: str
    token: str
    queues: tuple[str, ...] = ("General",)
    case_prefix: str = "rt-"
    """A ticket ``42`` is case ``rt-42``; its transaction ``350`` gives record ``rt-42-350``."""
    statuses: Mapping[str, str] = field(default_factory=lambda: DEFAULT_STATUSES)
    """RT status -> serviceflow status; a change between two statuses that map alike makes no record."""
    escalation_queues: tuple[str, ...] = ()
    """Moving a ticket into one of these queues is an ``escalation``; they are polled too."""
    escalation_owners: tuple[str, ...] = ()
    """Giving a ticket to one of these users is an ``escalation``; ``"*"`` means to anyone."""
    custom_fields: tuple[CustomFieldRule, ...] = ()
    due_commitments: bool = True
    """The ticket's Due is a ``commitment`` (``rt-42-due``), a changed Due a ``reschedule``, and the
    move to a closed status while a Due is set its ``fulfillment``."""
    inbound_channel: str = "web"
    """Channel of a customer's message that did not come by email (web form, REST, typed in by staff)."""
    outbound_channel: str = "email"
    """Channel of staff replies: RT mails correspondence to the requestors."""
    max_text: int = 20_000
    """Characters of a message kept in ``text``; the rest is cut and the length kept in ``meta``."""
    max_fetch_bytes: int = 2_000_000
    """A message part larger than this is not downloaded at all (its size is kept in ``meta``)."""
    page_size: int = 100
    max_transactions: int = 2_000
    """Transactions read by one poll at most; the cursor says where the next poll goes on."""
    timeout: float = 20.0
    """Seconds per HTTP request to RT."""

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or not self.url.startswith(("http://", "https://")):
            raise ConfigError(f"RT url must be an http:// or https:// address, not {self.url!r}")
        if not isinstance(self.token, str) or not self.token.strip():
            raise ConfigError("RT token is empty: create one in RT under Preferences > Auth Tokens")
        object.__setattr__(self, "queues", _names("queues", self.queues))
        object.__setattr__(self, "escalation_queues", _names("escalation_queues", self.escalation_queues))
        object.__setattr__(self, "escalation_owners", _names("escalation_owners", self.escalation_owners))
        if not self.queues:
            raise ConfigError("RT queues: name at least one queue to read")
        statuses = {str(rt).casefold(): str(ours) for rt, ours in dict(self.statuses).items()}
        unknown = sorted(set(statuses.values()) - SERVICEFLOW_STATUSES)
        if unknown:
            raise ConfigError(
                f"RT statuses map to {', '.join(unknown)}, which serviceflow does not know "
                f"(use {', '.join(sorted(SERVICEFLOW_STATUSES))})"
            )
        object.__setattr__(self, "statuses", MappingProxyType(statuses))
        rules = tuple(
            rule if isinstance(rule, CustomFieldRule) else _custom_field_rule(rule)
            for rule in self.custom_fields
        )
        object.__setattr__(self, "custom_fields", rules)
        for name in ("max_text", "max_fetch_bytes", "page_size", "max_transactions"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"RT {name} must be a positive integer, not {value!r}")
        if not isinstance(self.timeout, int | float) or self.timeout <= 0:
            raise ConfigError(f"RT timeout must be a positive number of seconds, not {self.timeout!r}")
        object.__setattr__(self, "page_size", min(self.page_size, 100))  # RT's own cap

    @property
    def rest_url(self) -> str:
        """The REST2 base, ending in ``/REST/2.0/``."""
        base = self.url.rstrip("/")
        return base + "/" if base.endswith("/REST/2.0") else base + "/REST/2.0/"

    @property
    def polled_queues(self) -> tuple[str, ...]:
        """The queues read: ``queues`` and the escalation queues, so an escalated ticket stays in view."""
        return tuple(dict.fromkeys([*self.queues, *self.escalation_queues]))

    def case_id(self, ticket_id: int | str) -> str:
        return f"{self.case_prefix}{ticket_id}"

    def ticket_id(self, case_id: str) -> int | None:
        """The ticket a case id names, or ``None`` when it is not one of this RT's cases."""
        if not case_id.startswith(self.case_prefix):
            return None
        number = case_id[len(self.case_prefix) :]
        return int(number) if number.isdigit() and number.isascii() else None

    def rule_for(self, custom_field: str) -> CustomFieldRule | None:
        folded = custom_field.casefold()
        return next((rule for rule in self.custom_fields if rule.name.casefold() == folded), None)

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any], *, what: str = "rt") -> RtConfig:
        """Build from a TOML table: the field names with ``-`` or ``_``; ``custom-fields`` a table
        of ``name = "record"`` or ``name = {record = "...", yes = [...], no = [...]}``."""
        known = {item.name for item in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in options.items():
            name = str(key).replace("-", "_")
            if name not in known:
                raise ConfigError(f"{what}: unknown option {key!r} (options: {', '.join(sorted(known))})")
            values[name] = value
        for name in ("url", "token"):
            if name not in values:
                raise ConfigError(f"{what}: {name!r} is required")
        custom = values.get("custom_fields", ())
        if isinstance(custom, Mapping):
            values["custom_fields"] = tuple(
                _custom_field_rule(
                    {"name": name, **(spec if isinstance(spec, Mapping) else {"record": spec})}
                )
                for name, spec in custom.items()
            )
        for name in ("queues", "escalation_queues", "escalation_owners"):
            if isinstance(values.get(name), str):
                values[name] = (values[name],)
        try:
            return cls(**values)
        except TypeError as error:
            raise ConfigError(f"{what}: {error}") from None


#: Where the token comes from when the options do not give it (it need not be written in a file).
TOKEN_ENV = "SERVICEFLOW_RT_TOKEN"


def config_from_options(
    options: Mapping[str, Any], *, what: str = "rt", environ: Mapping[str, str] | None = None
) -> RtConfig:
    """The :class:`RtConfig` of a ``[sources.rt]`` or ``[actions.rt-comment]`` table.

    The token is ``token``, else the environment variable ``token-env`` names, else
    ``SERVICEFLOW_RT_TOKEN``: configuration files are read by more people than secrets should be.
    """
    environ = os.environ if environ is None else environ
    values = dict(options)
    variable = values.pop("token-env", values.pop("token_env", None))
    if variable is not None and (not isinstance(variable, str) or not variable):
        raise ConfigError(f"{what}: 'token-env' must name an environment variable")
    if "token" not in values:
        name = variable or TOKEN_ENV
        if environ.get(name):
            values["token"] = environ[name]
        elif variable is not None:
            raise ConfigError(f"{what}: 'token-env' names {variable}, which is not set")
    return RtConfig.from_mapping(values, what=what)


def _names(option: str, values: Iterable[str]) -> tuple[str, ...]:
    if isinstance(values, str) or not all(isinstance(value, str) and value for value in values):
        raise ConfigError(f"RT {option} must be a list of non-empty names, not {values!r}")
    return tuple(values)


def _custom_field_rule(spec: Any) -> CustomFieldRule:
    if not isinstance(spec, Mapping):
        raise ConfigError(f"an RT custom field rule must be a table with name and record, not {spec!r}")
    unknown = set(spec) - {"name", "record", "yes", "no"}
    if unknown:
        raise ConfigError(f"RT custom field rule: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    extra = {key: tuple(spec[key]) for key in ("yes", "no") if key in spec}
    record = cast(RecordKind, spec.get("record"))  # checked by CustomFieldRule itself
    return CustomFieldRule(name=str(spec.get("name", "")), record=record, **extra)


__all__ = [
    "CLOSED_STATUSES",
    "DEFAULT_STATUSES",
    "TOKEN_ENV",
    "CustomFieldRule",
    "RtConfig",
    "config_from_options",
]
