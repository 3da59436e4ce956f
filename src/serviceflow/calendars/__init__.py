"""Business-hours calendars: SLA time counted only while a service desk is open.

A :class:`Calendar` answers ``add`` (a deadline), ``between`` (business time elapsed), ``is_open`` and
``next_opening`` across weekends, holidays, partial closures and daylight-saving changes. Holidays come
from configuration or iCalendar files; ``ALWAYS`` is the bundled 24/7 calendar. See docs/calendars.md.
"""

from serviceflow.calendars.ical import DEFAULT_YEARS, Holidays, load_ical_holidays
from serviceflow.calendars.loading import calendars_from_config
from serviceflow.calendars.model import ALWAYS, Calendar, Closure, OpeningHoursError

__all__ = [
    "ALWAYS",
    "DEFAULT_YEARS",
    "Calendar",
    "Closure",
    "Holidays",
    "OpeningHoursError",
    "calendars_from_config",
    "load_ical_holidays",
]
