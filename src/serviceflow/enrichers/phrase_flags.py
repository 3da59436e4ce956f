"""``phrase-flags``: flag contacts whose text puts values, policies or next steps in question.

Seed 001, step 14: "If there is any question as to values, policies or possible next steps… then
escalate." Exports from a help desk rarely carry the agent's flags; they do carry what was said. This
enricher reads a contact's ``text`` (and ``summary``) and adds ``values_in_question``,
``policy_question`` or ``next_steps_unclear`` to its ``flags`` when a configured phrase occurs (whole
words, case-insensitive, the same matching the tone policies use), so that
``escalate-values-in-question`` can act on the words themselves.

It is off by default: a lint of exported records should see the flags the desk recorded unless the
user asks for more. Enable and tune it in the configuration::

    [enrichers.phrase-flags]
    enabled = true
    types = ["contact"]
    [enrichers.phrase-flags.phrases]
    policy_question = ["your policy says", "against policy", "is that allowed"]

Phrase lists are data: a table replaces the default list of that flag (so a desk working in another
language lists its own phrases), and a flag mapped to an empty list is never raised.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from serviceflow.contributions import EnrichFunction
from serviceflow.errors import ConfigError
from serviceflow.evaluators.base import find_phrase

NAME = "phrase-flags"

#: What a customer or an agent says when a value, a policy or the next step is in doubt (English).
DEFAULT_PHRASES: dict[str, tuple[str, ...]] = {
    "values_in_question": (
        "not fair",
        "unfair",
        "not worth",
        "waste of money",
        "ripped off",
        "want a refund",
        "not what i paid for",
    ),
    "policy_question": (
        "your policy",
        "against policy",
        "is that allowed",
        "not allowed to",
        "make an exception",
        "the rules say",
        "terms and conditions",
    ),
    "next_steps_unclear": (
        "what happens next",
        "what now",
        "not sure what to do",
        "what are the next steps",
        "who is responsible",
        "nobody told me",
        "when will someone",
    ),
}
_TEXT_FIELDS = ("text", "summary")
_OPTIONS = {"types", "phrases"}


def create(options: Mapping[str, Any]) -> EnrichFunction:
    """The enrich function for the ``[enrichers.phrase-flags]`` options (checked here, once)."""
    unknown = set(options) - _OPTIONS
    if unknown:
        raise ConfigError(
            f"enricher '{NAME}' has no option {', '.join(sorted(map(repr, unknown)))} "
            f"(options: enabled, {', '.join(sorted(_OPTIONS))})"
        )
    types = options.get("types", ["contact"])
    if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
        raise ConfigError(f"enricher '{NAME}': 'types' must be a list of record types")
    phrases = dict(DEFAULT_PHRASES)
    overrides = options.get("phrases", {})
    if not isinstance(overrides, Mapping):
        raise ConfigError(f"enricher '{NAME}': 'phrases' maps a flag to a list of phrases")
    for flag, listed in overrides.items():
        if flag not in DEFAULT_PHRASES:
            raise ConfigError(
                f"enricher '{NAME}' cannot raise flag '{flag}' (flags: {', '.join(DEFAULT_PHRASES)})"
            )
        if not isinstance(listed, list) or not all(isinstance(p, str) and p.strip() for p in listed):
            raise ConfigError(f"enricher '{NAME}': phrases for '{flag}' must be a list of non-empty strings")
        phrases[flag] = tuple(listed)
    return _PhraseFlags(frozenset(types), {flag: tuple(p) for flag, p in phrases.items() if p})


class _PhraseFlags:
    """Adds a flag for each phrase list that matches; keeps the flags the record already has."""

    def __init__(self, types: frozenset[str], phrases: dict[str, tuple[str, ...]]) -> None:
        self.types = types
        self.phrases = phrases

    def __call__(self, record_type: str, data: Mapping[str, Any]) -> Mapping[str, Any] | None:
        if record_type not in self.types:
            return None
        texts = [data[name] for name in _TEXT_FIELDS if isinstance(data.get(name), str)]
        if not texts:
            return None
        existing = list(data.get("flags") or [])
        added = [
            flag
            for flag, phrases in self.phrases.items()
            if flag not in existing and any(find_phrase(text, phrases) for text in texts)
        ]
        return {"flags": existing + added} if added else None
