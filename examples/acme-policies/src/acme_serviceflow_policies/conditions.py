"""Acme's named conditions: the two questions its technician policy asks that YAML cannot answer well.

* Did the customer ask for a different technician? The words come from a phone transcript or an
  agent's summary, with typographic apostrophes, line breaks and capitals; Acme's phrase list is a
  policy parameter so that each region can add its own ("un autre plombier").
* Does this commitment send back the technician whose fix failed? Acme's roster names resources
  ``plumber:jake`` while the technician's app records the visit as actor ``jake`` ("Jake"), and a
  fulfillment names only the commitment it kept: the technician is found by joining the fulfillment
  to that commitment and comparing people, not strings.

Both are pure functions of the records the engine shows them (the case as known at ``now``), so they
give the same answer on either evaluator and at any re-run.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from serviceflow.plugin import ConditionContext, NamedCondition, Record

ASKS_FOR_ANOTHER_TECHNICIAN = "acme-asks-for-another-technician"
SAME_TECHNICIAN = "acme-same-technician"
#: A help desk that records the request as a structured field sets ``meta.<this>: true``.
REQUEST_FLAG = "technician_change_requested"

_TYPOGRAPHIC = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u00a0": " "})


def asks_for_another_technician(context: ConditionContext, contact: Record, phrases: Sequence[str]) -> bool:
    """Whether the customer asked, in this contact, for someone other than the technician they had.

    Looks for any of ``phrases`` as whole words in the contact's ``text`` (the customer's words) and
    ``summary`` (the agent's), or for ``meta.technician_change_requested: true``.
    """
    if contact.get(("meta", REQUEST_FLAG)) is True:
        return True
    pattern = _phrase_pattern(tuple(normalize(phrase) for phrase in phrases if phrase.strip()))
    if pattern is None:
        return False
    return any(
        isinstance(words, str) and pattern.search(normalize(words)) is not None
        for words in (contact.get("text"), contact.get("summary"))
    )


def same_technician(context: ConditionContext, commitment: Record, visit: Record) -> bool:
    """Whether ``commitment`` sends back whoever made ``visit`` (a fulfillment), however each names them.

    The visit's technicians are its actor (when a technician) and the ``resource`` of the commitment
    it fulfilled, made before it in the same case.
    """
    resource = commitment.get("resource")
    if not isinstance(resource, str) or visit is None:
        return False
    return identity(resource) in technicians_of(context, visit)


def technicians_of(context: ConditionContext, visit: Record) -> set[str]:
    """Everyone the case says did ``visit``, as :func:`identity` names them."""
    people: set[str] = set()
    if visit.get("actor.role") == "technician":
        people.update(identity(name) for name in (visit.get("actor.id"), visit.get("actor.name")) if name)
    for commitment in context.of_type("commitment"):
        kept = commitment.get("commitment_id") == visit.get("commitment_id")
        if kept and commitment.seq < visit.seq and commitment.get("resource"):
            people.add(identity(commitment.get("resource")))
    people.discard("")
    return people


def identity(name: str) -> str:
    """The person a name stands for: ``plumber:jake``, ``Jake`` and ``jake`` are all ``jake``."""
    return " ".join(name.rpartition(":")[2].split()).casefold()


def normalize(text: str) -> str:
    """Lower case, straight apostrophes, single spaces: how phrases and customers' words are compared."""
    return " ".join(text.translate(_TYPOGRAPHIC).split()).casefold()


@lru_cache(maxsize=32)
def _phrase_pattern(phrases: tuple[str, ...]) -> re.Pattern[str] | None:
    if not phrases:
        return None
    alternatives = "|".join(re.escape(phrase) for phrase in sorted(phrases, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")


CONDITIONS = [
    NamedCondition(
        ASKS_FOR_ANOTHER_TECHNICIAN,
        asks_for_another_technician,
        {"contact": "record", "phrases": "list"},
        "the customer asked for a different technician (phrases in text or summary, or meta flag)",
        reads_now=False,  # a function of the records alone: a live service need not recheck it
    ),
    NamedCondition(
        SAME_TECHNICIAN,
        same_technician,
        {"commitment": "record", "visit": "record"},
        "the commitment's resource is the technician of the visit (plumber:jake is Jake)",
        reads_now=False,
    ),
]
