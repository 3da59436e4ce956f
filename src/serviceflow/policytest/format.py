"""Policy test files: what they say, and reading them with every error pinned to file, line and pointer.

A test file states, for the policies it is about, records at a ``now`` and every finding those
policies must produce: no more, no fewer. The common case is one policy and inline records::

    policy: respond-promptly
    tests:
      - name: an unanswered email is pending until the window closes
        now: "2024-05-07T10:00:00Z"
        records:
          - {id: o, type: case_opened, at: "2024-05-07T09:00:00Z", channel: email}
        expect:
          - {record: o, status: pending, deadline: "2024-05-07T13:00:00Z"}

Inline records get ``case_id: c1`` and an agent ``actor`` unless they give their own, and an expected
finding's ``case`` defaults to ``c1``, so a test names only what it is about. The full reference is
``docs/policy-tests.md``; the structure is checked against ``test-file.schema.json``.

Reading a file needs no policies: whether the policies it names exist, and whether its settings suit
them, is checked when it runs (:mod:`serviceflow.policytest.runner`).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from serviceflow.calendars import Calendar, calendars_from_config
from serviceflow.config import PolicySettings
from serviceflow.errors import ConfigError, Location, PolicyError, ServiceflowError
from serviceflow.findings import Severity, Status
from serviceflow.policy.yamlsource import SourceDocument, escape_pointer_token, load_yaml
from serviceflow.timeutil import parse_datetime

#: What an inline record or an expected finding that names no case belongs to.
DEFAULT_CASE = "c1"
#: The actor of an inline record that names none: an agent, the side most records are written by.
DEFAULT_ACTOR: Mapping[str, str] = {"role": "agent", "id": "agent-1"}
#: The keys of a test that configure the one policy under test, as ``[policies.ID]`` would.
SHORTHAND_SETTINGS = ("params", "severity", "calendar")


class PolicyTestError(ServiceflowError):
    """A policy test file cannot be read, fails its schema, or contradicts itself (file, line, pointer)."""


@dataclass(frozen=True)
class ExpectedFinding:
    """One finding a test expects: identity always; evidence, a message substring, severity when given."""

    policy: str
    case_id: str
    record_id: str
    status: Status
    deadline: datetime | None = None
    evidence: tuple[str, ...] | None = None
    message: str | None = None
    severity: Severity | None = None
    location: Location = field(default_factory=Location, compare=False)


@dataclass(frozen=True)
class InlineRecord:
    """A record written in the test file, defaults filled, with where it was written."""

    data: dict[str, Any]
    location: Location


@dataclass(frozen=True)
class PolicyTest:
    """One test: records at ``now``, the settings to run the policies with, and what they must find."""

    name: str
    file: Path
    policies: tuple[str, ...]
    now: datetime
    expected: tuple[ExpectedFinding, ...]
    records: tuple[InlineRecord, ...] = ()
    records_file: Path | None = None
    settings: Mapping[str, PolicySettings] = field(default_factory=dict)
    """Per policy under test; a policy not named here runs with its defaults."""
    settings_pointers: Mapping[str, str] = field(default_factory=dict)
    """Where each policy's settings were written, to point errors found when binding at them."""
    calendars: Mapping[str, Calendar] = field(default_factory=dict)
    location: Location = field(default_factory=Location)
    document: SourceDocument | None = field(default=None, repr=False, compare=False)

    @property
    def qualified_name(self) -> str:
        """``POLICY: NAME``: how reports name the test, and what ``-k`` searches."""
        return f"{', '.join(self.policies)}: {self.name}"

    def locate(self, pointer: str) -> Location:
        """The file and line of a JSON pointer into this test's file."""
        if self.document is None:
            return Location(str(self.file), None, pointer)
        return self.document.location(pointer)


@dataclass(frozen=True)
class PolicyTestFile:
    """A parsed test file: the policies it is about and its tests, in file order."""

    path: Path
    policies: tuple[str, ...]
    tests: tuple[PolicyTest, ...]
    description: str = ""
    document: SourceDocument | None = field(default=None, repr=False, compare=False)


@cache
def policy_test_schema() -> dict[str, Any]:
    """The JSON Schema every policy test file must satisfy."""
    text = resources.files("serviceflow.policytest").joinpath("test-file.schema.json").read_text("utf-8")
    return json.loads(text)


def load_test_file(path: Path) -> PolicyTestFile:
    """Read and check one test file; raise :class:`PolicyTestError` naming file, line and pointer."""
    try:
        document = load_yaml(path)
    except PolicyError as exc:
        message = exc.message.replace("cannot read policy file", "cannot read test file")
        raise PolicyTestError(message, exc.location) from None
    return _Reader(path, document).read()


class _Reader:
    """Turns one validated document into a :class:`PolicyTestFile`, checking what the schema cannot."""

    def __init__(self, path: Path, document: SourceDocument) -> None:
        self.path = path
        self.document = document

    def error(self, message: str, pointer: str) -> PolicyTestError:
        return PolicyTestError(message, self.document.location(pointer))

    def read(self) -> PolicyTestFile:
        data = self.document.data
        if not isinstance(data, dict):
            raise self.error("a test file is a mapping with 'policy' (or 'policies') and 'tests'", "")
        if "for_each" in data and "tests" not in data:
            raise self.error(
                "this is a policy, not a policy test file: pass its tests (*.test.yaml, or a tests/ "
                "folder), and the policy itself with --policies",
                "",
            )
        self.check_schema(data)
        policies = self.policies_under_test(data)
        shared_calendars = self.calendars(data.get("calendars", {}), "")
        tests = []
        seen: dict[str, int] = {}
        for index, raw in enumerate(data["tests"]):
            pointer = f"/tests/{index}"
            if raw["name"] in seen:
                raise self.error(
                    f"two tests named {raw['name']!r} (the first is test {seen[raw['name']]})",
                    f"{pointer}/name",
                )
            seen[raw["name"]] = index
            tests.append(self.test(raw, pointer, policies, shared_calendars))
        return PolicyTestFile(
            self.path, policies, tuple(tests), str(data.get("description", "")), self.document
        )

    def check_schema(self, data: dict[str, Any]) -> None:
        validator = jsonschema.Draft202012Validator(policy_test_schema())
        errors = list(validator.iter_errors(data))
        if not errors:
            return
        # A misspelt key also makes the key it was meant to be missing: name the misspelling.
        unknown = [error for error in errors if error.validator == "additionalProperties"]
        error = jsonschema.exceptions.best_match(unknown or errors)
        pointer = "".join(f"/{escape_pointer_token(part)}" for part in error.absolute_path)
        if error.validator == "additionalProperties":
            allowed = list(error.schema.get("properties", {}))
            key = sorted(set(error.instance) - set(allowed))[0]
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (keys: {', '.join(allowed)})"
            raise self.error(f"unknown key '{key}'{hint}", f"{pointer}/{escape_pointer_token(key)}")
        raise self.error(error.message, pointer)

    def policies_under_test(self, data: dict[str, Any]) -> tuple[str, ...]:
        if "policy" in data and "policies" in data:
            raise self.error("give 'policy' (one) or 'policies' (several), not both", "/policies")
        if "policy" in data:
            return (data["policy"],)
        if "policies" in data:
            return tuple(data["policies"])
        raise self.error("name the policies under test: 'policy: ID' or 'policies: [ID, ...]'", "")

    def test(
        self,
        raw: dict[str, Any],
        pointer: str,
        policies: tuple[str, ...],
        shared_calendars: Mapping[str, Calendar],
    ) -> PolicyTest:
        try:
            now = parse_datetime(raw["now"])
        except ValueError:
            raise self.error(
                f"'now' must be an RFC 3339 date-time with an offset, got {raw['now']!r}", f"{pointer}/now"
            ) from None
        records, records_file = self.records(raw, pointer)
        settings, settings_pointers = self.settings(raw, pointer, policies)
        calendars = {**shared_calendars, **self.calendars(raw.get("calendars", {}), pointer)}
        expected = tuple(
            self.expected(item, f"{pointer}/expect/{index}", policies)
            for index, item in enumerate(raw["expect"])
        )
        return PolicyTest(
            name=raw["name"],
            file=self.path,
            policies=policies,
            now=now,
            expected=expected,
            records=records,
            records_file=records_file,
            settings=settings,
            settings_pointers=settings_pointers,
            calendars=calendars,
            location=self.document.location(pointer),
            document=self.document,
        )

    def records(self, raw: dict[str, Any], pointer: str) -> tuple[tuple[InlineRecord, ...], Path | None]:
        if ("records" in raw) == ("records_file" in raw):
            raise self.error(
                "give the records inline ('records') or in a file ('records_file'), once", pointer
            )
        if "records_file" in raw:
            records_file = self.path.parent / raw["records_file"]
            if not records_file.is_file():
                raise self.error(
                    f"no such records file: {records_file} (relative to the test file)",
                    f"{pointer}/records_file",
                )
            return (), records_file
        inline = []
        for index, record in enumerate(raw["records"]):
            filled = dict(record)
            filled.setdefault("case_id", DEFAULT_CASE)
            filled.setdefault("actor", dict(DEFAULT_ACTOR))
            inline.append(InlineRecord(filled, self.document.location(f"{pointer}/records/{index}")))
        return tuple(inline), None

    def settings(
        self, raw: dict[str, Any], pointer: str, policies: tuple[str, ...]
    ) -> tuple[dict[str, PolicySettings], dict[str, str]]:
        settings: dict[str, PolicySettings] = {}
        pointers: dict[str, str] = {}
        shorthand = [key for key in SHORTHAND_SETTINGS if key in raw]
        if shorthand:
            if len(policies) != 1:
                raise self.error(
                    f"'{shorthand[0]}' at a test sets the one policy under test; with several policies "
                    f"write it under 'settings: {{ID: {{{shorthand[0]}: ...}}}}'",
                    f"{pointer}/{shorthand[0]}",
                )
            settings[policies[0]] = _policy_settings(raw)
            pointers[policies[0]] = pointer
        for policy_id, table in raw.get("settings", {}).items():
            where = f"{pointer}/settings/{escape_pointer_token(policy_id)}"
            if policy_id not in policies:
                raise self.error(
                    f"settings for '{policy_id}', which is not under test (policies under test: "
                    f"{', '.join(policies)})",
                    where,
                )
            if policy_id in settings:
                raise self.error(
                    f"'{policy_id}' is already set by '{shorthand[0]}' at this test; set it in one place",
                    where,
                )
            settings[policy_id] = _policy_settings(table)
            pointers[policy_id] = where
        return settings, pointers

    def calendars(self, tables: dict[str, Any], pointer: str) -> dict[str, Calendar]:
        if not tables:
            return {}
        try:
            return calendars_from_config(
                {"calendars": tables}, self.path.parent, source=self.path, pointer_prefix=pointer
            )
        except ConfigError as exc:
            raise self.error(exc.message, exc.location.pointer or f"{pointer}/calendars") from None

    def expected(self, item: dict[str, Any], pointer: str, policies: tuple[str, ...]) -> ExpectedFinding:
        policy = item.get("policy")
        if policy is None:
            if len(policies) != 1:
                raise self.error(
                    f"with several policies under test each expected finding names its 'policy' "
                    f"({', '.join(policies)})",
                    pointer,
                )
            policy = policies[0]
        elif policy not in policies:
            raise self.error(
                f"'{policy}' is not under test (policies under test: {', '.join(policies)})",
                f"{pointer}/policy",
            )
        status = Status(item["status"])
        deadline = None
        if status is Status.PENDING:
            if "deadline" not in item:
                raise self.error("a pending finding needs its 'deadline'", pointer)
            try:
                deadline = parse_datetime(item["deadline"])
            except ValueError:
                raise self.error(
                    f"'deadline' must be an RFC 3339 date-time with an offset, got {item['deadline']!r}",
                    f"{pointer}/deadline",
                ) from None
        elif "deadline" in item:
            raise self.error("a violation has no deadline; only pending findings do", f"{pointer}/deadline")
        evidence = tuple(item["evidence"]) if "evidence" in item else None
        return ExpectedFinding(
            policy=policy,
            case_id=item.get("case", DEFAULT_CASE),
            record_id=item["record"],
            status=status,
            deadline=deadline,
            evidence=evidence,
            message=item.get("message"),
            severity=Severity(item["severity"]) if "severity" in item else None,
            location=self.document.location(pointer),
        )


def _policy_settings(table: Mapping[str, Any]) -> PolicySettings:
    return PolicySettings(
        enabled=table.get("enabled", True),
        severity=table.get("severity"),
        params=dict(table.get("params", {})),
        calendar=table.get("calendar"),
    )
