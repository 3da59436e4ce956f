"""Where a zone's wall-clock times fall on the real timeline: the one place that knows about DST.

Opening hours are written in local wall-clock time ("08:00"), but business time is counted on the real
timeline, so every boundary has to become an instant. Two kinds of local time need a rule:

* a *repeated* time (clocks fall back, 02:30 happens twice) means its first occurrence;
* a *skipped* time (clocks spring forward over 02:30) means the instant the clocks jump past it.

Both are "the first instant at which the clocks show that time or later", which keeps the mapping
monotonic: an interval can shrink to nothing inside a gap, but it never runs backwards.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

ONE_MICROSECOND = timedelta(microseconds=1)
# tzdb has no two offset changes of one zone closer than about a week since 1970 (checked against
# every zone in tzdata); sampling every six hours therefore cannot step over a change and its undoing.
_SAMPLE_STEP = timedelta(hours=6)


def instant_at(zone: ZoneInfo, wall: datetime) -> datetime:
    """The first instant (in UTC) at which ``zone``'s clocks show the naive time ``wall`` or later."""
    instant = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == wall:
        return instant
    # ``wall`` is skipped: fold=1 reads it with the offset after the jump, which lands before the jump.
    before, after = wall.replace(tzinfo=zone, fold=1).astimezone(UTC), instant
    offset_after = after.astimezone(zone).utcoffset()
    while after - before > ONE_MICROSECOND:
        middle = before + (after - before) // 2
        if middle.astimezone(zone).utcoffset() == offset_after:
            after = middle
        else:
            before = middle
    return after


def local_date(zone: ZoneInfo, instant: datetime) -> date:
    """The calendar date in ``zone`` at an aware ``instant``."""
    return instant.astimezone(zone).date()


def first_offset_change(zone: ZoneInfo, after: datetime, before: datetime) -> datetime | None:
    """A lower bound for the first change of ``zone``'s UTC offset in ``[after, before]``, or ``None``.

    The bound is at most six hours early, which is all a caller that skips whole weeks needs: it only
    has to know that the weeks ending before the bound have one fixed offset.
    """
    for year in range(after.year, before.year + 1):
        for low, high in _offset_changes(zone, year):
            if high > after and low < before:
                return low
    return None


@lru_cache(maxsize=512)
def _offset_changes(zone: ZoneInfo, year: int) -> tuple[tuple[datetime, datetime], ...]:
    """Windows ``(low, high]`` of one UTC year, each holding one change of ``zone``'s offset."""
    moment = datetime(year, 1, 1, tzinfo=UTC)
    if year >= datetime.max.year:
        # Sampling would overflow; claiming a change keeps callers on their exact, slower path.
        return ((moment, datetime.max.replace(tzinfo=UTC)),)
    changes = []
    end = datetime(year + 1, 1, 1, tzinfo=UTC)
    offset = moment.astimezone(zone).utcoffset()
    while moment < end:
        following = moment + _SAMPLE_STEP
        following_offset = following.astimezone(zone).utcoffset()
        if following_offset != offset:
            changes.append((moment, following))
            offset = following_offset
        moment = following
    return tuple(changes)
