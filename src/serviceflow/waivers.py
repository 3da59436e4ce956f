"""Waivers: exceptions to a policy that someone accepted, for a case or a record, until a date.

A team sometimes decides that a finding is right but acceptable: the customer asked for a third
agent, the confirmation was given in person. Rather than disable the policy, they write a waiver::

    waivers:
      - policy: one-human
        case: C-1042
        reason: The customer asked for a specialist; agreed with the team lead.
        owner: maria.lopez
        expires: 2024-06-30

A waiver matches the findings of its ``policy`` in its ``case``, about its ``record`` (the finding's
subject), or both. Applied to an evaluation (:func:`apply_waivers`), a live waiver moves the
violations and pending obligations it matches to ``Evaluation.waived``: they are counted apart and no
longer fail the run. Engine errors are never waived, since they say a policy could not decide.

Expiry is compared with the evaluation's ``now``, never the wall clock, so that re-linting last
month's export gives last month's answer. A waiver whose expiry is at or before ``now`` no longer
applies (its findings are reported again) and is listed as expired; a live waiver that matched no
finding is listed as unused, since it is stale or misspelt. A bare date (``2024-06-30``) means the
end of that day in UTC, so that the waiver still applies all through the day it names.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serviceflow.errors import ConfigError, Location, PolicyError
from serviceflow.findings import Evaluation, Finding
from serviceflow.policy.yamlsource import SourceDocument, escape_pointer_token, parse_yaml
from serviceflow.timeutil import format_datetime, parse_datetime

if TYPE_CHECKING:
    import jsonschema

__all__ = [
    "WaivedFinding",
    "Waiver",
    "apply_waivers",
    "load_waivers",
    "parse_waivers",
    "waiver_warnings",
    "waivers_schema",
]

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True, slots=True)
class Waiver:
    """One entry of a waivers file."""

    policy: str
    case_id: str | None
    record_id: str | None
    reason: str
    owner: str
    expires: datetime
    """The first instant at which the waiver no longer applies."""
    expires_as_written: str
    location: Location

    def matches(self, finding: Finding) -> bool:
        return (
            finding.policy == self.policy
            and (self.case_id is None or finding.case_id == self.case_id)
            and (self.record_id is None or finding.record_id == self.record_id)
        )

    def applies_at(self, now: datetime) -> bool:
        return now < self.expires

    @property
    def scope(self) -> str:
        """``case C-1``, ``record r5`` or ``case C-1, record r5``."""
        parts = [f"case {self.case_id}"] if self.case_id is not None else []
        if self.record_id is not None:
            parts.append(f"record {self.record_id}")
        return ", ".join(parts)

    def expired_notice(self) -> str:
        """What to tell the owner of an expired waiver."""
        when = "on" if _DATE.fullmatch(self.expires_as_written) else "at"
        return (
            f"waiver for {self.policy} on {self.scope} expired {when} {self.expires_as_written}; "
            "it no longer applies"
        )

    def unused_notice(self, policy_ran: bool = True) -> str:
        """What to tell the owner of a live waiver that matched nothing."""
        notice = f"waiver for {self.policy} on {self.scope} matched no finding"
        return notice if policy_ran else f"{notice} (policy '{self.policy}' did not run)"

    @property
    def specificity(self) -> int:
        """Which of several matching waivers a finding names: a record's before a whole case's."""
        return (2 if self.record_id is not None else 0) + (1 if self.case_id is not None else 0)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"policy": self.policy}
        if self.case_id is not None:
            data["case_id"] = self.case_id
        if self.record_id is not None:
            data["record_id"] = self.record_id
        data |= {
            "reason": self.reason,
            "owner": self.owner,
            "expires": self.expires_as_written,
            "expires_at": format_datetime(self.expires),
            "location": {"file": self.location.file, "line": self.location.line},
        }
        return data


@dataclass(frozen=True, slots=True)
class WaivedFinding:
    """A violation or pending obligation that a live waiver covers."""

    finding: Finding
    waiver: Waiver

    def to_dict(self) -> dict[str, Any]:
        return self.finding.to_dict() | {"waiver": self.waiver.to_dict()}


@cache
def waivers_schema() -> dict[str, Any]:
    """The JSON Schema a waivers file must satisfy."""
    text = resources.files("serviceflow").joinpath("waivers.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def load_waivers(path: Path) -> list[Waiver]:
    """Read a waivers file; any problem is a ConfigError naming the file, the line and the pointer."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"cannot read waivers file: {reason}", Location(str(path))) from None
    return parse_waivers(text, str(path))


def parse_waivers(text: str, file: str) -> list[Waiver]:
    """The waivers in ``text`` (YAML); an empty document has none."""
    try:
        document = parse_yaml(text, file)
    except PolicyError as exc:  # the YAML loader is shared with policies; here it reads configuration
        raise ConfigError(exc.message, exc.location) from None
    if document.data is None:
        return []
    _validate(document)
    return [_waiver(document, index, entry) for index, entry in enumerate(document.data["waivers"])]


def _validate(document: SourceDocument) -> None:
    import jsonschema  # only when a waivers file is read: it is slow to import

    validator = jsonschema.Draft202012Validator(waivers_schema())
    errors = list(validator.iter_errors(document.data))
    if not errors:
        return
    # The first problem in the file; an unknown key before a missing one, as it is often its misspelling.
    error = min(
        errors,
        key=lambda e: (
            document.location(_pointer(e)).line or 0,
            e.validator != "additionalProperties",
            len(e.absolute_path),
        ),
    )
    raise ConfigError(_schema_message(error), document.location(_pointer(error)))


def _pointer(error: jsonschema.ValidationError) -> str:
    """Where the error is; for an unknown key, the key itself, so that its line is the one named."""
    path = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        path.append(_unknown_keys(error)[0])
    return "".join(f"/{escape_pointer_token(part)}" for part in path)


def _unknown_keys(error: jsonschema.ValidationError) -> list[str]:
    return sorted(set(error.instance) - set(error.schema.get("properties", {})))


def _schema_message(error: jsonschema.ValidationError) -> str:
    """The schema's complaint in the words of the file format."""
    path = list(error.absolute_path)
    if not path and error.validator in ("type", "required"):
        return "a waivers file is a mapping with a 'waivers' list"
    if len(path) == 2 and error.validator == "type":
        return "each waiver is a mapping with policy, case and/or record, reason, owner and expires"
    if error.validator == "anyOf":
        return "a waiver names a 'case', a 'record' or both"
    if error.validator == "additionalProperties":
        declared = ", ".join(error.schema.get("properties", {}))
        return f"unknown key '{_unknown_keys(error)[0]}' (keys: {declared})"
    if error.validator in ("minLength", "pattern"):
        return f"'{path[-1]}' must not be empty"
    if error.validator == "type" and path:
        expected = _TYPE_WORDS.get(str(error.validator_value), str(error.validator_value))
        return f"'{path[-1]}' must be {expected}, got {error.instance!r}"
    return error.message


_TYPE_WORDS = {"string": "text (quote ids that look like numbers: '1042')", "array": "a list"}


def _waiver(document: SourceDocument, index: int, entry: dict[str, Any]) -> Waiver:
    pointer = f"/waivers/{index}"
    written = entry["expires"]
    try:
        expires = parse_expiry(written)
    except ValueError:
        raise ConfigError(
            f"'expires' must be a date (2024-06-30) or an RFC 3339 date-time with an offset "
            f"(2024-06-30T17:00:00Z), got {written!r}",
            document.location(f"{pointer}/expires"),
        ) from None
    return Waiver(
        policy=entry["policy"],
        case_id=entry.get("case"),
        record_id=entry.get("record"),
        reason=entry["reason"].strip(),
        owner=entry["owner"],
        expires=expires,
        expires_as_written=written,
        location=document.location(pointer),
    )


def parse_expiry(text: str) -> datetime:
    """An expiry instant: a date-time with an offset, or a date meaning the end of that day in UTC.

    The end of 9999-12-31 is one microsecond past what a datetime holds; its last microsecond is
    used instead (a waiver written to last for ever must not overflow).
    """
    if _DATE.fullmatch(text):
        day = date.fromisoformat(text)
        if day == date.max:
            return datetime.max.replace(tzinfo=UTC)
        return datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
    return parse_datetime(text)


def apply_waivers(evaluation: Evaluation, waivers: Sequence[Waiver]) -> Evaluation:
    """The evaluation with the findings live waivers match moved to ``waived``, and the expired and
    unused waivers recorded.

    Apply once per evaluation. Each waived finding names the most specific waiver that matched it
    (a record's before a case's, then the first in the file); every waiver that matched counts as used.
    """
    if not waivers:
        return evaluation
    now = evaluation.now
    live = [waiver for waiver in waivers if waiver.applies_at(now)]
    expired = tuple(waiver for waiver in waivers if not waiver.applies_at(now))
    by_policy: dict[str, list[Waiver]] = {}
    for waiver in sorted(live, key=lambda waiver: -waiver.specificity):  # stable: file order in a tie
        by_policy.setdefault(waiver.policy, []).append(waiver)
    used: set[int] = set()
    waived = list(evaluation.waived)

    def unwaived(findings: Sequence[Finding]) -> tuple[Finding, ...]:
        kept: list[Finding] = []
        for finding in findings:
            matching = [waiver for waiver in by_policy.get(finding.policy, ()) if waiver.matches(finding)]
            if matching:
                used.update(id(waiver) for waiver in matching)
                waived.append(WaivedFinding(finding, matching[0]))
            else:
                kept.append(finding)
        return tuple(kept)

    violations, pending = unwaived(evaluation.violations), unwaived(evaluation.pending)
    waived.sort(key=lambda item: item.finding.key)
    return dataclasses.replace(
        evaluation,
        violations=violations,
        pending=pending,
        waived=tuple(waived),
        expired_waivers=evaluation.expired_waivers + expired,
        unused_waivers=evaluation.unused_waivers + tuple(w for w in live if id(w) not in used),
    )


def waiver_warnings(evaluation: Evaluation, policy_ids: Sequence[str] | None = None) -> list[str]:
    """``file:line: message`` for each expired and unused waiver, in file order.

    ``policy_ids``, the policies that ran, lets an unused waiver say when its policy did not run at all
    (a misspelt id, or a disabled policy).
    """
    lines = [(waiver.location, waiver.expired_notice()) for waiver in evaluation.expired_waivers]
    for waiver in evaluation.unused_waivers:
        ran = policy_ids is None or waiver.policy in policy_ids
        lines.append((waiver.location, waiver.unused_notice(ran)))
    lines.sort(key=lambda item: (item[0].file or "", item[0].line or 0))
    return [f"{_place(location)}: {message}" for location, message in lines]


def _place(location: Location) -> str:
    place = location.file or "<waivers>"
    return place if location.line is None else f"{place}:{location.line}"
