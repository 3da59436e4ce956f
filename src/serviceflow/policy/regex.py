"""A policy's ``matches`` patterns, searched in time linear in the text, whatever the pattern.

Python's :mod:`re` backtracks: ``(a+)+$`` against 41 ``a`` and a ``!`` takes longer than the age of
the universe, and a policy is data anyone with write access to a policy directory can change. So
patterns run on RE2 (the ``google-re2`` binding), which compiles to an automaton and never backtracks:
a search costs time proportional to the text, and compiling is bounded by
:data:`serviceflow.limits.MAX_PATTERN_MEMORY`.

The syntax stays Python's: a pattern must first compile with :mod:`re`, so a policy never accepts
what Python would refuse, and then Python's meaning is kept where RE2's differs:

* ``\\d``, ``\\w``, ``\\s`` (and ``\\D``, ``\\W``, ``\\S``) are Unicode classes, as in Python (RE2's are
  ASCII): ``\\w`` is a letter, a number or ``_``; ``\\s`` is what :meth:`str.isspace` says;
* ``\\Z`` is the end of the text; ``$`` also matches before a final newline; ``{,n}`` is ``{0,n}``;
* ``\\uXXXX``, ``\\UXXXXXXXX``, ``\\N{NAME}`` and octal escapes name the same characters;
* ``[`` inside a set is a plain character, as in Python (RE2 would read ``[[:alpha:]]`` as a POSIX class).

What RE2 cannot do in linear time is refused when the policy loads, with the reason: backreferences
(``\\1``, ``(?P=name)``), lookahead and lookbehind, atomic groups and possessive quantifiers, the
``(?x)`` and ``(?a)`` flags, comments ``(?#...)``, ``\\W`` or ``\\S`` inside ``[...]``, repetition
counts over 1000. ``\\b`` and ``\\B`` are RE2's ASCII word boundaries: a letter such as ``é`` is no
word character for them, so ``\\b`` written next to one is refused (it would never mean what it
says), and ``\\w\\b`` may see a boundary inside ``café``; write ``(^|\\W)café(\\W|$)`` for words in
other scripts. Searches are case-insensitive and may match anywhere in the text, as
``re.search(pattern, text, re.IGNORECASE)``.
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from functools import lru_cache

import re2

from serviceflow import limits

__all__ = ["PatternError", "PolicyPattern", "compile_pattern"]


class PatternError(ValueError):
    """A ``matches`` pattern that is not valid Python syntax or cannot run in linear time.

    The message says why, in words a policy author can act on; the compiler turns it into a
    :class:`~serviceflow.errors.PolicyError` with the file, line and pointer of the pattern.
    """


class PolicyPattern:
    """A compiled ``matches`` pattern: :meth:`found_in` says whether it matches anywhere in a text."""

    __slots__ = ("_compiled", "source")

    def __init__(self, source: str, compiled: re2._Regexp) -> None:
        self.source = source
        self._compiled = compiled

    def found_in(self, text: str) -> bool:
        """Whether the pattern matches somewhere in ``text``, case-insensitively; linear in ``text``."""
        try:
            return self._compiled.search(text) is not None
        except UnicodeEncodeError:
            # RE2 reads UTF-8, which cannot hold a lone surrogate (valid in a JSON string); it can match
            # nothing a pattern may hold (patterns with one are refused), so U+FFFD stands in for it.
            return self._compiled.search(_SURROGATE.sub("\ufffd", text)) is not None

    def __repr__(self) -> str:
        return f"PolicyPattern({self.source!r})"


@lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> PolicyPattern:
    """Compile a policy's ``matches`` pattern; raise :class:`PatternError` saying why it cannot run.

    Cached, so evaluators may call it per record: compiling the same text twice gives the same object.
    """
    if not isinstance(pattern, str):
        raise PatternError(f"a pattern must be text, not {type(pattern).__name__}")
    if len(pattern) > limits.MAX_PATTERN_LENGTH:
        raise PatternError(
            f"the pattern is {len(pattern)} characters long; at most {limits.MAX_PATTERN_LENGTH} "
            "(serviceflow.limits.MAX_PATTERN_LENGTH, see docs/limits.md)"
        )
    if _SURROGATE.search(pattern):
        raise PatternError("the pattern holds a lone surrogate (such as \\ud800), which no text can match")
    try:
        with warnings.catch_warnings():
            # "Possible nested set": Python may one day read [[ differently; we read it as Python does now.
            warnings.simplefilter("ignore", FutureWarning)
            re.compile(pattern)
    except re.error as exc:
        raise PatternError(f"invalid regular expression: {exc}") from None
    except (OverflowError, RecursionError):  # pragma: no cover - re's own limits, past ours
        raise PatternError("invalid regular expression: too large or too deeply nested") from None
    translated = _translate(pattern)
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # RE2 would print every refused pattern on stderr
    options.max_mem = limits.MAX_PATTERN_MEMORY
    try:
        compiled = re2.compile(translated, options)
    except re2.error as exc:
        raise PatternError(_explain(pattern, exc)) from None
    return PolicyPattern(pattern, compiled)


# --- Python's meaning in RE2's syntax --------------------------------------------------------------

_SURROGATE = re.compile("[\ud800-\udfff]")
# str.isspace(), which Python's \s follows for text patterns; tests/test_robust_regex.py checks it.
_SPACE = (
    r"\t\n\x0b\x0c\r\x1c-\x20\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}"
)
_WORD = r"\p{L}\p{N}_"
_OUTSIDE = {
    "d": r"\p{Nd}",
    "D": r"\P{Nd}",
    "w": f"[{_WORD}]",
    "W": f"[^{_WORD}]",
    "s": f"[{_SPACE}]",
    "S": f"[^{_SPACE}]",
    "Z": r"\z",
}
_INSIDE = {"d": r"\p{Nd}", "D": r"\P{Nd}", "w": _WORD, "s": _SPACE, "b": r"\x08"}
_HEX_ESCAPES = {"u": 4, "U": 8}
_OCTAL = re.compile(r"0[0-7]{0,2}|[0-7]{3}")  # outside a set: anything else after \ is a group number
_SET_OCTAL = re.compile(r"[0-7]{1,3}")
_EMPTY_MIN = re.compile(r"\{,(\d+)\}")


def _translate(pattern: str) -> str:
    """``pattern`` (valid for :mod:`re`) in RE2's syntax with Python's meaning (see the module doc)."""
    out: list[str] = []
    index, end = 0, len(pattern)
    in_set = False
    while index < end:
        char = pattern[index]
        if char == "\\":
            escape, index = _escape(pattern, index, in_set)
            out.append(escape)
            continue
        if in_set:
            if char == "]":
                in_set = False
                out.append(char)
            else:
                out.append("\\[" if char == "[" else char)
            index += 1
            continue
        if char == "[":
            in_set = True
            out.append(char)
            index += 1
            if pattern.startswith("^", index):
                out.append("^")
                index += 1
            if pattern.startswith("]", index):  # a ']' first in a set is a plain character
                out.append("\\]")
                index += 1
            continue
        if char == "$":
            out.append(r"(?:$|\n\z)")
        elif char == "{" and (empty_min := _EMPTY_MIN.match(pattern, index)):
            out.append(f"{{0,{empty_min.group(1)}}}")
            index = empty_min.end()
            continue
        else:
            out.append(char)
        index += 1
    return "".join(out)


def _escape(pattern: str, index: int, in_set: bool) -> tuple[str, int]:
    """The RE2 form of the escape at ``pattern[index]`` (a backslash), and the index after it."""
    letter = pattern[index + 1]
    after = index + 2
    table = _INSIDE if in_set else _OUTSIDE
    if letter in table:
        return table[letter], after
    if letter in "bB" and not in_set:
        beside = pattern[index - 1 : index] + pattern[after : after + 1]
        if any(not char.isascii() and char.isalnum() for char in beside):
            raise PatternError(
                f"\\{letter} next to {beside.strip()!r}: RE2's word boundaries know only ASCII letters, so "
                "it would never match as written; use (^|\\W) and (\\W|$) around the word instead"
            )
    if in_set and letter in "WS":
        raise PatternError(
            f"\\{letter} inside [...] has no linear-time equivalent here; "
            f"use [^...] with the characters you mean, or \\{letter} outside the set"
        )
    if letter in _HEX_ESCAPES:
        digits = pattern[after : after + _HEX_ESCAPES[letter]]
        return _code_point(int(digits, 16)), after + len(digits)
    if letter == "N":
        close = pattern.index("}", after)
        return _code_point(ord(unicodedata.lookup(pattern[after + 1 : close]))), close + 1
    octal = (_SET_OCTAL if in_set else _OCTAL).match(pattern, index + 1)
    if octal is not None:
        return _code_point(int(octal.group(), 8)), octal.end()
    return pattern[index:after], after


def _code_point(value: int) -> str:
    if 0xD800 <= value <= 0xDFFF:
        raise PatternError(f"the pattern names a lone surrogate (U+{value:04X}), which no text can match")
    return f"\\x{{{value:x}}}"


_UNSUPPORTED = (
    ("(?=", "lookahead (?=...) is not supported"),
    ("(?!", "lookahead (?!...) is not supported"),
    ("(?<=", "lookbehind (?<=...) is not supported"),
    ("(?<!", "lookbehind (?<!...) is not supported"),
    ("(?P=", "backreferences are not supported"),
    ("(?>", "atomic groups (?>...) are not supported"),
    ("(?#", "comments (?#...) are not supported"),
)


def _explain(pattern: str, error: re2.error) -> str:
    """RE2's complaint in a policy author's words, with what to do about it."""
    raw = error.args[0] if error.args else error
    detail = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    reason = next((reason for marker, reason in _UNSUPPORTED if marker in detail), None)
    if reason is None and re.search(r"invalid escape sequence: \\[1-9]", detail):
        reason = "backreferences (\\1) are not supported"
    if reason is None and "bad repetition operator" in detail:
        reason = "possessive quantifiers (*+, ++, ?+) are not supported"
    if reason is None and "invalid perl operator" in detail:
        reason = f"the flag or group {detail.rsplit(': ', 1)[-1]} is not supported (RE2 has (?i), (?m), (?s))"
    if reason is None and "invalid repetition size" in detail:
        reason = "a repetition count over 1000 (counting nested ones multiplied) is not supported"
    if reason is None and "pattern too large" in detail:
        reason = (
            f"the pattern needs more than {limits.MAX_PATTERN_MEMORY >> 20} MiB to compile "
            "(serviceflow.limits.MAX_PATTERN_MEMORY)"
        )
    if reason is None:
        reason = f"not supported ({detail})"
    return (
        f"unsupported regular expression {pattern!r}: {reason}; patterns run on RE2, which never "
        "backtracks (see docs/policy-language.md)"
    )
