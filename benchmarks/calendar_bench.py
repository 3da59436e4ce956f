"""How fast business-time arithmetic is, from a 4-hour deadline to 2000 hours across holidays and DST.

    python benchmarks/calendar_bench.py [--repeat 200]

Prints a Markdown table: for each case, the first call on a fresh calendar (it fills the per-day and
per-year caches) and the median of later calls, in microseconds. The long rows show that whole weeks are
skipped arithmetically: 2000 business hours cost about as much as a few weeks of stepping, not 2000.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time as clock
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from serviceflow.calendars import ALWAYS, Calendar, load_ical_holidays

HOLIDAYS_FILE = Path(__file__).resolve().parent.parent / "tests" / "data" / "calendars" / "de-2024.ics"
BERLIN = ZoneInfo("Europe/Berlin")
LUNCH_BREAK_DAY = [(time(8), time(12)), (time(13), time(17))]
HOURS = timedelta(hours=1)


def german_office() -> Calendar:
    holidays = load_ical_holidays(HOLIDAYS_FILE, years=range(2024, 2031))
    hours = {day: LUNCH_BREAK_DAY for day in range(4)} | {4: [(time(8), time(15))]}
    return Calendar("emea", "Europe/Berlin", hours, holidays.dates, holidays.closures)


def night_shift() -> Calendar:
    return Calendar("nights", "America/New_York", {day: [(time(22), time(6))] for day in range(5)})


START = datetime(2024, 3, 27, 15, 30, tzinfo=BERLIN)
CASES: list[tuple[str, Callable[[], Calendar], Callable[[Calendar], object]]] = [
    ("emea: add 4h", german_office, lambda calendar: calendar.add(START, 4 * HOURS)),
    ("emea: add 48h", german_office, lambda calendar: calendar.add(START, 48 * HOURS)),
    ("emea: add 2000h", german_office, lambda calendar: calendar.add(START, 2000 * HOURS)),
    ("emea: add 20000h", german_office, lambda calendar: calendar.add(START, 20000 * HOURS)),
    (
        "emea: between over 1 year",
        german_office,
        lambda calendar: calendar.between(START, START + 365 * 24 * HOURS),
    ),
    ("nights (New York): add 2000h", night_shift, lambda calendar: calendar.add(START, 2000 * HOURS)),
    ("always: add 2000h", lambda: ALWAYS, lambda calendar: calendar.add(START.astimezone(UTC), 2000 * HOURS)),
]


def measure(
    build: Callable[[], Calendar], run: Callable[[Calendar], object], repeat: int
) -> tuple[float, float]:
    calendar = build()
    began = clock.perf_counter()
    run(calendar)
    first = clock.perf_counter() - began
    timings = []
    for _ in range(repeat):
        began = clock.perf_counter()
        run(calendar)
        timings.append(clock.perf_counter() - began)
    return first * 1e6, statistics.median(timings) * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200, help="calls to take the median of (default 200)")
    options = parser.parse_args(argv)
    print("| case | first call (µs) | later calls, median (µs) |")
    print("| --- | ---: | ---: |")
    for label, build, run in CASES:
        first, median = measure(build, run, options.repeat)
        print(f"| {label} | {first:,.0f} | {median:,.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
