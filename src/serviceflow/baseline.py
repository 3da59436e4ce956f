"""Baselines: adopt serviceflow on a backlog by reporting only the violations that are new.

A desk that starts linting an export with 50,000 existing violations cannot fix them before it can
use the tool in CI. As with ruff's and semgrep's baselines, it records what is there today
(``lint --write-baseline FILE``) and from then on is told only about what is not in that file
(``lint --baseline FILE``), with a count of the recorded violations that are gone.

A violation matches a baseline entry by its *obligation*: policy, case and subject record ids
(:attr:`Finding.obligation <serviceflow.findings.Finding.obligation>`). The message is written to
the file for the person reading it and never compared, so rewording a policy's message, changing its
severity or its deadline parameters does not make old violations new. Matching counts: an entry
matches one violation.

Only violations are baselined. Pending obligations are not debt yet: they stay in the report, and
one that is later broken is a new violation, as it should be. Engine errors are never baselined
(a policy that cannot decide is a bug to fix, as waivers never hide one either). Entries of
policies that did not run (``--select``, a disabled policy) are neither matched nor counted as gone.

The file is JSON, one entry per line, sorted, so that it diffs well in version control::

    {"serviceflow-baseline": 1, "now": "2024-05-09T14:00:00Z", "violations": [
    {"policy": "one-human", "case_id": "C-1042", "record_id": "r-7", "severity": "warning", "message": "..."},
    ...
    ]}
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from serviceflow.errors import ConfigError, Location
from serviceflow.findings import Evaluation, Finding
from serviceflow.reporters.escaping import json_text
from serviceflow.timeutil import format_datetime

__all__ = [
    "BASELINE_VERSION",
    "Baseline",
    "BaselineComparison",
    "BaselineEntry",
    "apply_baseline",
    "baseline_text",
    "load_baseline",
    "parse_baseline",
]

#: The format's version, written as the value of the ``serviceflow-baseline`` key.
BASELINE_VERSION = 1
_VERSION_KEY = "serviceflow-baseline"
_ENTRY_KEYS = ("policy", "case_id", "record_id")


@dataclass(frozen=True, slots=True)
class BaselineEntry:
    """One recorded violation: the obligation it is about, and what it said then (never compared)."""

    policy: str
    case_id: str
    record_id: str
    severity: str | None = None
    message: str | None = None

    @property
    def obligation(self) -> tuple[str, str, str]:
        """The same key as :attr:`Finding.obligation`: case, policy, subject record."""
        return (self.case_id, self.policy, self.record_id)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"policy": self.policy, "case_id": self.case_id, "record_id": self.record_id}
        if self.severity is not None:
            data["severity"] = self.severity
        if self.message is not None:
            data["message"] = self.message
        return data


@dataclass(frozen=True)
class Baseline:
    """The violations recorded in a baseline file, and where it was read from."""

    entries: tuple[BaselineEntry, ...]
    source: str | None = None


@dataclass(frozen=True)
class BaselineComparison:
    """What a baseline did to a run: the violations it matched and the entries nothing matched."""

    matched: tuple[Finding, ...]
    """Violations found in the baseline: left out of the report and of the exit status."""
    gone: tuple[BaselineEntry, ...]
    """Entries of policies that ran which matched no violation: fixed, or no longer found."""
    not_checked: int
    """Entries of policies that did not run in this lint (``--select``, a disabled policy)."""
    source: str | None = None

    def summary(self) -> str:
        """``52,110 violations in the baseline not reported; 3 baseline entries gone``."""
        text = f"{len(self.matched):,} {_plural(len(self.matched), 'violation')} in the baseline not reported"
        text += f"; {len(self.gone):,} baseline {_plural(len(self.gone), 'entry', 'entries')} gone"
        if self.not_checked:
            text += f" ({self.not_checked:,} of policies that did not run, not checked)"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline": self.source,
            "matched": len(self.matched),
            "gone": [entry.to_dict() for entry in self.gone],
            "not_checked": self.not_checked,
        }


def entries_of(violations: Iterable[Finding]) -> list[BaselineEntry]:
    """The baseline entries for these violations, in the file's order (case, policy, record)."""
    entries = [
        BaselineEntry(f.policy, f.case_id, f.record_id, f.severity.value, f.message) for f in violations
    ]
    entries.sort(key=lambda entry: entry.obligation)
    return entries


def baseline_text(violations: Iterable[Finding], now: datetime | None = None) -> str:
    """The baseline file recording ``violations``: JSON, one entry per line, sorted.

    ``now``, the recorded run's, is written for the reader: when the run looked.
    """
    head: dict[str, Any] = {_VERSION_KEY: BASELINE_VERSION}
    if now is not None:
        head["now"] = format_datetime(now)
    lines = [json_text(entry.to_dict(), indent=None) for entry in entries_of(violations)]
    opening = json_text(head, indent=None)[:-1] + ', "violations": ['
    if not lines:
        return opening + "]}\n"
    return opening + "\n" + ",\n".join(lines) + "\n]}\n"


def load_baseline(path: Path) -> Baseline:
    """Read a baseline file; any problem is a :class:`ConfigError` naming the file (and entry)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"cannot read baseline file: {reason}", Location(str(path))) from None
    return parse_baseline(text, str(path))


def parse_baseline(text: str, file: str | None = None) -> Baseline:
    """The baseline in ``text``, checked entry by entry (``file`` names it in errors)."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        line = getattr(exc, "lineno", None)
        message = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        raise ConfigError(f"a baseline file is JSON: {message}", Location(file, line)) from None
    if not isinstance(data, dict) or _VERSION_KEY not in data:
        raise ConfigError(
            f"not a serviceflow baseline (no '{_VERSION_KEY}' key); write one with 'lint --write-baseline'",
            Location(file),
        )
    if data[_VERSION_KEY] != BASELINE_VERSION:
        raise ConfigError(
            f"baseline format version {data[_VERSION_KEY]!r} is not supported (this serviceflow reads "
            f"version {BASELINE_VERSION})",
            Location(file, None, f"/{_VERSION_KEY}"),
        )
    violations = data.get("violations")
    if not isinstance(violations, list):
        raise ConfigError("'violations' must be a list", Location(file, None, "/violations"))
    return Baseline(tuple(_entry(item, index, file) for index, item in enumerate(violations)), file)


def _entry(item: Any, index: int, file: str | None) -> BaselineEntry:
    pointer = f"/violations/{index}"
    if not isinstance(item, dict):
        raise ConfigError(
            "each entry is an object with policy, case_id and record_id", Location(file, None, pointer)
        )
    for key in _ENTRY_KEYS:
        if not isinstance(item.get(key), str):
            raise ConfigError(f"'{key}' must be text", Location(file, None, f"{pointer}/{key}"))
    severity, message = item.get("severity"), item.get("message")
    return BaselineEntry(
        item["policy"],
        item["case_id"],
        item["record_id"],
        severity if isinstance(severity, str) else None,
        message if isinstance(message, str) else None,
    )


def apply_baseline(
    evaluation: Evaluation, baseline: Baseline, policies_run: Collection[str] | None = None
) -> tuple[Evaluation, BaselineComparison]:
    """The evaluation without the violations the baseline records, and what the baseline matched.

    ``policies_run``, the ids of the policies that ran, keeps the entries of the others out of the
    gone count (``None``: every entry's policy ran).
    """
    checked: list[BaselineEntry] = []
    not_checked = 0
    for entry in baseline.entries:
        if policies_run is None or entry.policy in policies_run:
            checked.append(entry)
        else:
            not_checked += 1
    remaining = Counter(entry.obligation for entry in checked)
    kept: list[Finding] = []
    matched: list[Finding] = []
    for finding in evaluation.violations:
        if remaining[finding.obligation] > 0:
            remaining[finding.obligation] -= 1
            matched.append(finding)
        else:
            kept.append(finding)
    gone = _gone(checked, remaining)
    filtered = dataclasses.replace(evaluation, violations=tuple(kept))
    return filtered, BaselineComparison(tuple(matched), gone, not_checked, baseline.source)


def _gone(
    entries: Sequence[BaselineEntry], unmatched: Counter[tuple[str, str, str]]
) -> tuple[BaselineEntry, ...]:
    """The entries left unmatched, in file order: the last ``n`` of a key repeated ``n`` times too many."""
    gone: list[BaselineEntry] = []
    for entry in reversed(entries):
        if unmatched[entry.obligation] > 0:
            unmatched[entry.obligation] -= 1
            gone.append(entry)
    gone.reverse()
    return tuple(gone)


def _plural(count: int, singular: str, plural_form: str | None = None) -> str:
    return singular if count == 1 else plural_form or singular + "s"
