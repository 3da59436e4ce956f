"""What every phone contact shares, whichever system reported it: who the customer is, which case,
and the customer's words made safe to store.

* :func:`find_party`: the customer's number in E.164 form and what the lookup knows about it;
* :func:`case_for`: the case of a call or message (``case-by``: ``lookup`` or ``call``);
* :func:`clean_text`: a message body or caller name without control characters, bounded in length.

``meta.status`` is one vocabulary for Twilio and Asterisk: ``answered``, ``no_answer``, ``busy``,
``failed``, ``congestion``, ``canceled`` (:data:`STATUSES`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from serviceflow_phone.customers import CustomerLookup, CustomerMatch
from serviceflow_phone.numbers import PhoneNumbers

__all__ = ["CASE_BY", "MAX_TEXT", "STATUSES", "Party", "case_for", "clean_text", "find_party"]

STATUSES = ("answered", "no_answer", "busy", "failed", "congestion", "canceled")
CASE_BY = ("lookup", "call")
#: Twilio caps a message at 1,600 characters; more than this is not a message.
MAX_TEXT = 10_000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(text: str) -> str:
    """A customer's words as a record keeps them: no control characters but tabs and line breaks
    (a NUL cannot even be stored in PostgreSQL text), at most :data:`MAX_TEXT` characters."""
    cleaned = _CONTROL.sub("\ufffd", text)
    return cleaned if len(cleaned) <= MAX_TEXT else cleaned[: MAX_TEXT - 1] + "\u2026"


@dataclass(frozen=True)
class Party:
    """The customer's side of a call or message: number, match, and the actor a record names."""

    number: str | None
    match: CustomerMatch | None

    def customer_actor(self) -> dict[str, str]:
        if self.match is not None:
            return {"role": "customer", "id": self.match.customer_id}
        return {"role": "customer", "id": self.number or "unknown"}


def find_party(address: str, numbers: PhoneNumbers, lookup: CustomerLookup | None) -> Party:
    """The customer behind ``address`` (a number, ``whatsapp:+...``, or a withheld caller id)."""
    number = numbers.e164(address)
    match = lookup(number) if lookup is not None and number is not None else None
    return Party(number, match)


def case_for(party: Party, own_case: str, case_by: str) -> str:
    """``lookup``: the case the lookup names for the number, else the call's own; ``call``: its own."""
    if case_by == "lookup" and party.match is not None and party.match.case_id:
        return party.match.case_id
    return own_case
