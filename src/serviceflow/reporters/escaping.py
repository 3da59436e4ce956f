"""Text that can always be written: one place that decides how user data reaches a terminal or a file.

Records, policies and waivers are data from outside. A record id may hold a lone surrogate (``"\\ud800"``
is valid JSON), which no UTF-8 stream can encode, or control characters and ANSI escape sequences,
which a terminal would obey (clear the screen, set the window title, fake a line of the report). Every
report and listing that prints user data goes through one of these:

* :func:`printable`, for what a person reads (text reports, GitHub annotations, explain, policy
  tests, error lines on stderr): control characters (C0, DEL, C1), lone surrogates, the line and
  paragraph separators and the bidirectional-override characters are written as Python-style escapes
  (``\\x1b``, ``\\n``, ``\\ud800``, ``\\u202e``), so nothing reaches the terminal raw and nothing is
  silently dropped. Backslashes are left alone, so ``\\x1b`` written literally and an escaped ESC look
  alike; the JSON report is the exact record of the value.
* :func:`json_text`, for JSON and SARIF: the value is kept exactly (JSON escapes control characters
  itself), and a lone surrogate is written as its ``\\uXXXX`` escape, which RFC 8259's grammar allows
  and ``json.loads`` reads back as the same string; the output is plain UTF-8.
* :func:`html_text`, for the HTML report: what :func:`printable` makes visible, then HTML-escaped
  (``&<>"'``), so a value is text wherever it lands, element content or attribute value, and never
  markup or script; the page's Content-Security-Policy runs no script but its own as a second guard.
* :func:`xml_text`, for JUnit XML: XML 1.0 cannot carry most control characters or surrogates even as
  character references, so they become U+FFFD, the replacement character.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

__all__ = ["html_text", "json_text", "printable", "xml_text"]

# Cc (C0 controls, DEL, C1 controls: 0x9b is a one-byte CSI to some terminals), Cs (surrogates),
# Zl and Zp (terminals and editors may break lines there), and the bidirectional formatting characters
# that can make a line read differently from what it holds ("Trojan Source", CVE-2021-42574).
_NOT_PRINTABLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_SURROGATE = re.compile("[\ud800-\udfff]")
# Characters XML 1.0 cannot carry at all, even as character references.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def printable(text: str, *, newlines: bool = False) -> str:
    """``text`` with every character a terminal could act on written as a visible escape.

    ``newlines`` keeps ``\\n`` as it is, for a format that encodes it itself (a GitHub annotation's
    ``%0A``, which the runner shows as a line break inside the annotation, not in the log).
    """
    if not _NOT_PRINTABLE.search(text):
        return text
    if newlines:
        return "\n".join(_NOT_PRINTABLE.sub(_escape_match, part) for part in text.split("\n"))
    return _NOT_PRINTABLE.sub(_escape_match, text)


def _escape_match(match: re.Match[str]) -> str:
    char = match.group()
    short = _SHORT_ESCAPES.get(char)
    if short is not None:
        return short
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def json_text(value: Any, *, indent: int | None = 2) -> str:
    """``value`` as JSON text (non-ASCII kept readable) that any UTF-8 stream can write."""
    text = json.dumps(value, indent=indent, ensure_ascii=False)
    # With ensure_ascii=False the encoder leaves surrogates raw, and only inside strings (every other
    # character it writes is ASCII), where their escape means the same code point.
    return _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def html_text(value: object) -> str:
    """``value`` as text for an HTML element or a quoted attribute: visible escapes, then entities."""
    return html.escape(printable(str(value)), quote=True)


def xml_text(text: str) -> str:
    """``text`` with what XML 1.0 cannot hold replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)
