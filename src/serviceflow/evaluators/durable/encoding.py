"""How Python values become durable-rules fact attributes, and the few value rules computed in Python.

durable-rules compares JSON scalars only, and its C core has sharp edges that shape this encoding:

* a missing property on a referenced fact is a hard error (code 311), and a comparison whose left
  property is missing is false even for ``$neq``; so every attribute is always present and a missing
  value (``None``) is the sentinel :data:`MISSING`. Equality with the sentinel is then exactly Python's
  ``None == None``, and ordering comparisons are guarded by "not MISSING";
* it compares a number with a string as strings; so every string is prefixed with ``~`` (no number is
  ever equal to it), records encode as ``#<identity>`` and containers as ``[`` or ``(`` + JSON;
* it has no date type; an aware datetime is its microseconds since the epoch plus :data:`TIME_OFFSET`,
  a timedelta its microseconds. Both are exact integers, ``time ± duration`` and ``time - time`` are
  plain integer arithmetic, and no plausible number in a record equals a time;
* it hashes join keys on their text, so ``1.0`` is sent as ``1`` and ``True`` as ``1``, as Python's
  ``==`` treats them.

The exact Python values are never lost: facts carry a handle back to them, and messages are rendered
from the originals (with their own UTC offsets).

Everything in this module that *computes* in Python is value plumbing the rules then match on: walking a
path into a binding (:func:`walk`); evaluating a pure expression (``add``/``sub``/``coalesce``, with
business-hours time arithmetic when the policy runs on a calendar, and ``find`` through the helper both
evaluators share) for a let, ``by`` or a fact attribute (:func:`pure_value`); and, for a condition
whose Python meaning durable-rules cannot express (a regular expression, containment in a string), the
truth of that one condition over already-bound values (:func:`local_truth`). Each restates the native
evaluator's semantics, so the two evaluators stay independent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from serviceflow.evaluators.base import find_phrase
from serviceflow.policy import ir
from serviceflow.policy.regex import compile_pattern
from serviceflow.records.model import Record

MISSING = "!"
CLOCK = "#clock"  # the environment's business-hours calendar, when the policy runs on one
TIME_OFFSET = 1 << 60
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_INT64 = 1 << 62


def encode(value: Any) -> Any:
    """The durable-rules scalar standing for ``value`` (see the module docstring)."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value if -_INT64 < value < _INT64 else float(value)
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < _INT64 else value
    if isinstance(value, str):
        if not value.isascii() and _SURROGATE.search(value) is not None:
            return "~" + _SURROGATE.sub(_surrogate_text, value)
        return "~" + value
    if isinstance(value, datetime):
        return (value - _EPOCH) // _MICROSECOND + TIME_OFFSET
    if isinstance(value, timedelta):
        return value // _MICROSECOND
    if isinstance(value, Record):
        return f"#{id(value)}"
    return ("(" if isinstance(value, tuple) else "[") + json.dumps(_canonical(value), sort_keys=True)


#: A lone surrogate (from a JSON escape such as ``"\ud800"``): the C core takes UTF-8 only, so each is
#: spelt as the noncharacter U+FFFF and its code in hex. Equality stays exact (U+FFFF never appears in
#: text people write); ordering against such a string may differ from Python's.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _surrogate_text(match: re.Match[str]) -> str:
    return f"\uffff{ord(match.group()):04x}"


def _canonical(value: Any) -> Any:
    """A JSON form of a container that is equal exactly when Python's ``==`` says the values are."""
    if isinstance(value, Mapping):
        return {str(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return ["tuple", *(_canonical(item) for item in value)]
    if isinstance(value, list):
        return ["list", *(_canonical(item) for item in value)]
    return encode(value)


def walk(value: Any, path: tuple[str, ...]) -> Any:
    """The value at ``path`` under a binding, as the native evaluator resolves ``$name.a.b``."""
    if not path:
        return value
    if isinstance(value, Record):
        return value.get(path)
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def iteration(value: Any) -> list[Any] | None:
    """What ``for item in value`` visits (strings: characters; dicts: keys), or None when not iterable."""
    if isinstance(value, str | list | tuple | dict):
        return list(value)
    return None


def pure_value(expr: ir.Expr, env: Mapping[Any, Any]) -> Any:
    """Evaluate a literal, reference, ``add``/``sub`` or ``coalesce`` over bound values.

    Time arithmetic follows the environment's clock (:data:`CLOCK`) exactly as the native evaluator's
    does: a time plus a duration, or a time minus a time, counts business hours.
    """
    if isinstance(expr, ir.Lit):
        return expr.value
    if isinstance(expr, ir.Ref):
        return walk(env.get(expr.root), expr.path)
    if isinstance(expr, ir.Arith):
        left, right = pure_value(expr.left, env), pure_value(expr.right, env)
        if left is None or right is None:
            return None
        clock = env.get(CLOCK)
        if clock is not None and isinstance(left, datetime):
            if isinstance(right, timedelta) and expr.op == "add":
                return clock.add(left, right)
            if isinstance(right, datetime) and expr.op == "sub":
                return clock.between(right, left)
        return left - right if expr.op == "sub" else left + right
    if isinstance(expr, ir.Coalesce):
        for item in expr.items:
            value = pure_value(item, env)
            if value is not None:
                return value
        return None
    if isinstance(expr, ir.Find):
        return find_phrase(pure_value(expr.text, env), pure_value(expr.phrases, env))
    raise TypeError(f"not a pure expression: {expr!r}")  # pragma: no cover - callers check purity


@lru_cache(maxsize=256)
def matches(value: Any, pattern: str) -> int:
    """1 when ``value`` is a string the pattern finds (case-insensitively, in linear time), else 0."""
    return int(isinstance(value, str) and compile_pattern(pattern).found_in(value))


def local_truth(cond: ir.Cond, env: Mapping[Any, Any]) -> int:
    """1 or 0: an ``in``/``intersects``/``matches`` condition whose operands are all bound values.

    Used only for containers durable-rules cannot take apart the Python way (``in`` a string is a
    substring test) and for regular expressions; the rules then match on the resulting flag.
    """
    if isinstance(cond, ir.Matches):
        return matches(pure_value(cond.expr, env), cond.pattern)
    if isinstance(cond, ir.In):
        options = pure_value(cond.options, env)
        return int(options is not None and pure_value(cond.item, env) in options)
    if isinstance(cond, ir.Intersects):
        left, right = pure_value(cond.left, env), pure_value(cond.right, env)
        return int(bool(left) and bool(right) and not set(left).isdisjoint(right))
    raise TypeError(f"no local truth for {cond!r}")  # pragma: no cover - the compiler only asks for these
