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
