"""Phone numbers: one canonical form (E.164) for matching, and a masked form for logs and errors.

Phone systems write the same number many ways: Twilio sends ``+14155550123``, an Asterisk trunk
``4155550123`` or ``004930123456``, a CRM export ``(415) 555-0123``. A customer is matched on the
E.164 form, which needs each country's trunk prefixes and number lengths: that is what Google's
libphonenumber (the ``phonenumbers`` package) maintains, so it is used rather than a regular expression.

A number is personal data. Records keep it (it is what identifies an unknown caller), but every
message this package writes to a log or puts in an error goes through :func:`mask` or
:func:`mask_in_text` first.
"""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult

from serviceflow.plugin import ConfigError

__all__ = ["PhoneNumbers", "check_region", "mask", "mask_in_text"]

#: A run of at least six digits, possibly split by spaces, dots, dashes or brackets: a phone number
#: as people and systems write it. Extensions (``1001``) and small counts stay readable.
_NUMBER_LIKE = re.compile(r"\+?\d(?:[\d\s().\-/]*\d){5,}")
_DIGIT = re.compile(r"\d")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[ T]\d{2}(?::\d{2}){0,2})?$")
#: Digits left visible at each end of a masked number: enough to tell two numbers apart in a log.
_VISIBLE_HEAD = 2
_VISIBLE_TAIL = 2
#: Prefixes of Twilio addresses that carry a number on another channel (``whatsapp:+1415...``).
_CHANNEL_PREFIXES = ("whatsapp:", "tel:")


def mask_in_text(text: str) -> str:
    """``text`` with every number-like run masked, keeping its first and last two digits.

    Dates and times (``2024-05-06``, ``2024-05-06 09:15:02``) are left as they are.
    """
    return _NUMBER_LIKE.sub(_mask_match, text)


def _mask_match(match: re.Match[str]) -> str:
    found = match.group(0)
    return found if _DATE.match(found) else _mask_digits(found)


def mask(number: str | None) -> str:
    """A number as it may appear in a log: ``+14155550123`` becomes ``+14*******23``."""
    if number is None:
        return "<none>"
    return mask_in_text(number)


def _mask_digits(text: str) -> str:
    total = len(_DIGIT.findall(text))
    seen = 0

    def hide(match: re.Match[str]) -> str:
        nonlocal seen
        seen += 1
        return match.group(0) if seen <= _VISIBLE_HEAD or seen > total - _VISIBLE_TAIL else "*"

    return _DIGIT.sub(hide, text)


def check_region(region: object, option: str = "default-region") -> str | None:
    """A region code libphonenumber knows (``US``, ``DE``), upper-cased; ``None`` stays ``None``."""
    if region is None:
        return None
    if not isinstance(region, str) or region.strip().upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigError(
            f"'{option}' must be a two-letter region code such as US, GB or DE (got {region!r})"
        )
    return region.strip().upper()


class PhoneNumbers:
    """Normalises numbers to E.164; numbers without a country code are read in ``default_region``.

    Without a default region only numbers written with their country code (``+44 20 7946 0958``)
    can be normalised: ``020 7946 0958`` is then "not a number".
    """

    def __init__(self, default_region: str | None = None) -> None:
        self.default_region = check_region(default_region)

    def e164(self, text: str | None) -> str | None:
        """The E.164 form of ``text``, or ``None`` when it is not a complete phone number.

        Not numbers: ``client:alice`` and ``sip:...`` addresses, ``anonymous`` and other withheld
        caller ids, extensions and local-only numbers (``555 0123`` without its area code).
        """
        if not text:
            return None
        candidate = text.strip()
        for prefix in _CHANNEL_PREFIXES:
            if candidate.lower().startswith(prefix):
                candidate = candidate[len(prefix) :]
        if ":" in candidate:  # client:alice, sip:..., messenger:...: addresses, not numbers
            return None
        if not candidate or len(candidate) > 64 or not any(char.isdigit() for char in candidate):
            return None
        try:
            parsed = phonenumbers.parse(candidate, self.default_region)
        except NumberParseException:
            return None
        if phonenumbers.is_possible_number_with_reason(parsed) != ValidationResult.IS_POSSIBLE:
            return None
        return phonenumbers.format_number(parsed, PhoneNumberFormat.E164)
