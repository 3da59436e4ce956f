"""Every limit serviceflow puts on its input, in one place (documented in docs/limits.md).

Policies, waivers, configuration, calendars and records are data from outside: a small file must
not make serviceflow recurse until Python gives up, expand into gigabytes, or run for ever. Each
limit is far above what a real file needs; past it, the file (or the one record) gets a clear error
naming where, never a traceback. To raise one for an unusual but legitimate input, change it here:
the modules read these names at call time, so a test or an embedding application may also patch
them (``monkeypatch.setattr(serviceflow.limits, "MAX_YAML_DEPTH", 200)``).

This module imports nothing, so that every layer may read it.
"""

from __future__ import annotations

# --- YAML (policies, waivers, policy tests) -----------------------------------------------------

MAX_YAML_DEPTH = 100
"""Deepest nesting of mappings and sequences in a YAML document, aliases expanded. The bundled
policies nest 12 deep; every nested level costs a few Python stack frames when it is loaded,
compiled and evaluated, and Python allows about a thousand."""

MAX_YAML_ALIAS_NODES = 10_000
"""Most values that aliases (``*name``) may add to one YAML document when they are expanded. An alias
re-uses a block written once; a "billion laughs" file of 900 bytes would add hundreds of millions."""

# --- Durations (policies, configuration, calendars) ---------------------------------------------

MAX_DURATION_DAYS = 36_525
"""The longest duration a policy or the configuration may give (``within: 4h``): 100 years. A
deadline further away than that is a typo, and would overflow date arithmetic near year 9999."""

# --- Regular expressions (a policy's ``matches``) -----------------------------------------------

MAX_PATTERN_LENGTH = 10_000
"""The longest ``matches`` pattern, in characters."""

MAX_PATTERN_MEMORY = 8 << 20
"""Memory RE2 may use for one compiled ``matches`` pattern (bytes); a pattern that needs more (such
as ``(a{1000}){1000}``) is refused when the policy loads."""

# --- Calendars ----------------------------------------------------------------------------------

MAX_BUSINESS_SPAN_YEARS = 500
"""How far (wall-clock years) business-time arithmetic looks from its start. Office hours reach 100
years of business time (the longest duration) in about 420; a calendar open one second a week, or
shut by a closure that never ends, gets an error after walking at most this far (about a second)."""

MAX_ICAL_OCCURRENCES = 100_000
"""Most closed dates and closures one iCalendar file may produce, recurrences expanded. A public
holiday calendar over a century has a few thousand; ``RRULE:FREQ=SECONDLY`` would have billions."""

# --- Records (the record path) ------------------------------------------------------------------

MAX_LINE_BYTES = 16 << 20
"""The longest JSON Lines line, in bytes (16 MiB): a record is a few hundred bytes, a long email body
a few hundred kilobytes. A longer line is that line's error and is skipped without being held in
memory, so a file that is one endless line cannot exhaust it; the lines after it are read."""

MAX_ARRAY_BYTES = 1 << 30
"""The largest file (decompressed) that is one JSON array (1 GiB). An array is read whole, as it cannot
be split reliably without parsing it; JSON Lines, which is streamed, has no size limit."""

MAX_RECORD_DEPTH = 64
"""Deepest nesting of objects and arrays in one record (the record itself is level 1). Only ``meta``
and plugins' record types nest at all; a deeper record is that record's error. Policy test files embed
records in YAML, which is limited to :data:`MAX_YAML_DEPTH`, so this stays well below it."""

MAX_DECOMPRESSED_BYTES = 64 << 30
"""The most bytes one gzip file (or gzip on standard input) may decompress to (64 GiB): an export of
tens of millions of records. Past it the rest of the file is skipped with an error, so that a small
"gzip bomb" cannot keep a run busy for hours."""

MAX_DIRECTORY_FILES = 100_000
"""The most record files a directory argument may contribute. Past it the directory is an input error
(naming it) rather than a walk through a whole file system, such as ``serviceflow lint /``."""

MAX_INPUT_ERRORS = 1000
"""How many input errors an evaluation keeps, in input order; the rest are only counted. A file of a
million broken lines must not hold a million messages (or print them): the first ones say what is
wrong, and "and N more" says how much."""
