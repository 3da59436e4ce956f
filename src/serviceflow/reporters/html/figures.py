"""The numbers the HTML report draws, counted from findings: per period, actor, channel, age, case.

Each figure groups findings by what their :attr:`~serviceflow.findings.Finding.subject` says (filled
by :mod:`serviceflow.subjects`): a finding without one counts under ``(unknown)``. The rules, which
docs/html-report.md repeats for whoever checks the numbers:

* period: the Monday (UTC) of the ISO week of the subject's ``at``, every week from the first to
  the last drawn, empty ones too; over more than :data:`MAX_WEEKS` weeks, calendar months
  (``2016-02``); over more than :data:`MAX_PERIODS` months, only the months that have findings;
* actor: the subject's ``actor.id``; every customer's records count as one actor, ``(customers)``,
  as the chart is about the desk's people, and a customer's id says nothing there;
* channel: the subject's channel, else the case's, else ``(none)``;
* age of a pending obligation: ``now`` minus the subject's ``at``, in the buckets of :data:`AGE_BUCKETS`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta

from serviceflow.findings import Finding

__all__ = [
    "AGE_BUCKETS",
    "CUSTOMERS",
    "MAX_PERIODS",
    "MAX_WEEKS",
    "NO_CHANNEL",
    "UNKNOWN",
    "actor_of",
    "age_histogram",
    "by_period",
    "channel_of",
    "top_counts",
]

UNKNOWN = "(unknown)"
CUSTOMERS = "(customers)"
NO_CHANNEL = "(none)"
MAX_WEEKS = 156
MAX_PERIODS = 600

#: ``(label, upper bound)``: an age falls in the first bucket whose bound it is below.
AGE_BUCKETS: tuple[tuple[str, timedelta | None], ...] = (
    ("< 1h", timedelta(hours=1)),
    ("1-4h", timedelta(hours=4)),
    ("4-8h", timedelta(hours=8)),
    ("8-24h", timedelta(days=1)),
    ("1-3d", timedelta(days=3)),
    ("3-7d", timedelta(days=7)),
    ("7-30d", timedelta(days=30)),
    (">= 30d", None),
)


def actor_of(finding: Finding) -> str:
    subject = finding.subject
    if subject is None:
        return UNKNOWN
    if subject.role == "customer":
        return CUSTOMERS
    return subject.actor or UNKNOWN


def channel_of(finding: Finding) -> str:
    subject = finding.subject
    if subject is None:
        return UNKNOWN
    return subject.channel or NO_CHANNEL


def top_counts(labels: Iterable[str], limit: int) -> list[tuple[str, int]]:
    """The ``limit`` most frequent labels (ties by label), then one ``other (N)`` bar for the rest."""
    counts = Counter(labels)
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    shown = ordered[:limit]
    rest = ordered[limit:]
    if rest:
        shown.append((f"other ({len(rest):,} more)", sum(count for _, count in rest)))
    return shown


def _week(moment: datetime) -> date:
    day = moment.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


def _month(moment: datetime) -> str:
    day = moment.astimezone(UTC).date()
    return f"{day.year:04d}-{day.month:02d}"


def by_period(findings: Sequence[Finding]) -> tuple[list[str], dict[str, list[int]]]:
    """Categories (periods, oldest first; ``(unknown)`` last when a finding has no subject) and, per
    policy, its count in each, policies by id."""
    dated = [f for f in findings if f.subject is not None]
    undated = len(dated) != len(findings)
    if not dated:
        categories: list[str] = []
        period_of: dict[int, str] = {}
    else:
        weeks = [_week(f.subject.at) for f in dated]  # type: ignore[union-attr]
        first, last = min(weeks), max(weeks)
        if (last - first).days // 7 < MAX_WEEKS:
            categories = [
                (first + timedelta(weeks=n)).isoformat() for n in range((last - first).days // 7 + 1)
            ]
            period_of = {id(f): week.isoformat() for f, week in zip(dated, weeks, strict=True)}
        else:
            months = [_month(f.subject.at) for f in dated]  # type: ignore[union-attr]
            categories = _month_range(min(months), max(months))
            if len(categories) > MAX_PERIODS:
                categories = sorted(set(months))
            period_of = {id(f): month for f, month in zip(dated, months, strict=True)}
    if undated:
        categories.append(UNKNOWN)
    index = {category: position for position, category in enumerate(categories)}
    series: dict[str, list[int]] = {}
    for finding in findings:
        counts = series.setdefault(finding.policy, [0] * len(categories))
        counts[index[period_of.get(id(finding), UNKNOWN)]] += 1
    return categories, dict(sorted(series.items()))


def _month_range(first: str, last: str) -> list[str]:
    year, month = int(first[:4]), int(first[5:])
    end = (int(last[:4]), int(last[5:]))
    months: list[str] = []
    while (year, month) <= end and len(months) <= MAX_PERIODS:
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def age_histogram(pending: Iterable[Finding], now: datetime) -> list[tuple[str, int]]:
    """How many pending obligations are how old (``now`` minus the subject's ``at``), every bucket
    listed; ``(unknown)`` last when some have no subject."""
    counts = Counter[str]()
    for finding in pending:
        if finding.subject is None:
            counts[UNKNOWN] += 1
            continue
        age = now - finding.subject.at
        for label, bound in AGE_BUCKETS:
            if bound is None or age < bound:
                counts[label] += 1
                break
    buckets = [(label, counts.get(label, 0)) for label, _ in AGE_BUCKETS]
    if counts.get(UNKNOWN):
        buckets.append((UNKNOWN, counts[UNKNOWN]))
    return buckets
