"""The pack's one named condition: a number read out of what an agent typed.

The guidelines branch on numbers the agent types into a free-text form: Mistimed Billing Already
Returned asks "how long the customer has waited for the refund to show up, in days" and records it
with Record Reason; under 7 days the membership level decides. The importer keeps what was typed
(``5``, ``5 days``, ``more than 7 days``, ``previous purchase``) in ``meta.value``, and the policy
language compares numbers but cannot read one out of text.
"""

from __future__ import annotations

import re

from serviceflow.plugin import ConditionContext, NamedCondition

NUMBER_BELOW = "abcd-number-below"
_NUMBER = re.compile(r"(?<![\d.])\d+(?:\.\d+)?")


def first_number(text: str | None) -> float | None:
    """The first number written with digits in ``text`` (``5 days`` is 5), or ``None``."""
    match = _NUMBER.search(text or "")
    return float(match.group()) if match else None


def number_below(context: ConditionContext, text: str | None, limit: int | float) -> bool:
    """Whether the first number in ``text`` is below ``limit``; false when the text holds none.

    A text without a number ("previous purchase") does not say the customer waited less: the branch
    that needs a short wait is not required of the agent.
    """
    number = first_number(text)
    return number is not None and number < limit


CONDITIONS = [
    NamedCondition(
        NUMBER_BELOW,
        number_below,
        {"text": "string", "limit": "number"},
        "the first number written in the text is below the limit (none: false)",
    ),
]
