"""What the writer of an email wrote: its text without the quoted earlier messages and the signature.

Policies read a contact's ``text`` for phrases (``tone-judgmental``, ``tone-jargon``, the
``phrase-flags`` enricher). An agent's reply that quotes the customer's "why haven't you...", or
ends with a signature naming the "L2 Support" desk, must not be judged for words the agent did not
write; a customer's follow-up must not repeat the whole thread. :func:`latest_reply` keeps the
newest part of a plain-text body:

* everything from the first **reply or forward header** on is cut: ``On <date>, <name> wrote:`` (also
  wrapped over two or three lines, and in German, French, Spanish, Italian, Dutch, Portuguese and
  Swedish), ``-----Original Message-----``, ``Begin forwarded message:``, Outlook's line of
  underscores, and a header block (``From:`` followed within a few lines by ``Sent:`` or ``Date:``);
* **quoted lines** (``>``) are dropped wherever they are, so an answer written between quotes keeps
  its own lines;
* the **signature** is cut: from the RFC 3676 delimiter ``-- `` (or ``--``), from a mobile footer
  (``Sent from my iPhone``, ``Get Outlook for iOS``), and after a closing line (``Kind regards,``,
  ``Thanks,``) followed by no more than a short signature block; the closing line itself stays, it
  was written.

:func:`html_to_text` turns an HTML-only body into text for the same treatment, leaving out
``<blockquote>`` (how mail clients quote in HTML), Gmail's quote container, styles and scripts.

The rules are written here rather than taken from a library: quotequail (well kept) finds the reply
header but leaves signatures, and mail-parser-reply cuts at any "Best regards" up to the end of the
message; a small module with its tests says exactly what is removed.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

#: How many physical lines a wrapped reply header may span ("On Mon, 6 May 2024 at 09:30, Dana\nPark
#: <dana@example.com> wrote:").
MAX_HEADER_LINES = 3
#: A closing line is the start of a signature only when at most this many non-empty lines follow it.
MAX_SIGNATURE_LINES = 6

_REPLY_HEADERS = [
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"^on\b.{1,200}\bwrote:$",  # Gmail, Apple Mail, Thunderbird
        r"^am\b.{1,200}\bschrieb\b.{0,200}:$",  # German
        r"^le\b.{1,200}\ba écrit ?:$",  # French
        r"^el\b.{1,200}\bescribió:$",  # Spanish
        r"^il giorno\b.{1,200}\bha scritto:$|^il\b.{1,200}\bha scritto:$",  # Italian
        r"^op\b.{1,200}\bschreef\b.{0,200}:$",  # Dutch
        r"^em\b.{1,200}\bescreveu:$",  # Portuguese
        r"^den\b.{1,200}\bskrev\b.{0,200}:$",  # Swedish, Danish, Norwegian
        r"^\d{4}[/.-]\d{1,2}[/.-]\d{1,2}\b.{0,100}<[^>\s]+@[^>\s]+>:?$",  # "2024/05/06 Dana <d@x>"
    )
]
_FORWARD_HEADERS = re.compile(
    r"^-{2,}\s*(original message|forwarded message|ursprüngliche nachricht|weitergeleitete nachricht"
    r"|message d'origine|message transféré|mensaje original|mensaje reenviado|messaggio originale"
    r"|oorspronkelijk bericht|mensagem original)\s*-{2,}$"
    r"|^(begin forwarded message|anfang der weitergeleiteten e-mail|début du message réexpédié):$"
    r"|^_{20,}$",
    re.IGNORECASE,
)
_HEADER_FROM = re.compile(r"^\*?(from|von|de|van|da|från|fra)\s*:\*?\s*\S", re.IGNORECASE)
_HEADER_DATE = re.compile(
    r"^\*?(sent|date|gesendet|datum|envoyé|date d'envoi|enviado|fecha|verzonden|inviato|data|skickat|sendt)"
    r"\s*:\*?\s*\S",
    re.IGNORECASE,
)
_SIGNATURE_DELIMITER = re.compile(r"^--\s?$")
_MOBILE_FOOTER = re.compile(
    r"^(sent from my \S.{0,40}|sent from (mail|outlook|yahoo mail) for \S.{0,30}|get outlook for \S.{0,30}"
    r"|sent from \S+ for (ios|android)|von meinem \S.{0,30} gesendet|envoyé de mon \S.{0,30}"
    r"|enviado desde mi \S.{0,30}|inviato da \S.{0,30})$",
    re.IGNORECASE,
)
_CLOSING = re.compile(
    r"^((best|kind|warm|warmest|many|with)\s+(regards|wishes|thanks)|regards|best|cheers|thanks|thank you"
    r"|thanks again|thank you so much|sincerely|yours sincerely|yours truly|all the best|take care"
    r"|mit freundlichen grüßen|viele grüße|liebe grüße|beste grüße|(bien )?cordialement|salutations"
    r"|saludos( cordiales)?|un saludo|cordiali saluti|met vriendelijke groet(en)?|groeten"
    r"|med vänliga hälsningar|vänliga hälsningar|atenciosamente)[,.!]?$",
    re.IGNORECASE,
)


def latest_reply(text: str) -> str:
    """The part of a plain-text body its writer wrote: no quoted messages, no signature."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    lines = lines[: _quote_start(lines)]
    lines = [line for line in lines if not line.lstrip().startswith(">")]
    lines = lines[: _signature_start(lines)]
    return _tidy(lines)


def _quote_start(lines: list[str]) -> int:
    """The index of the first line of a quoted or forwarded message, or ``len(lines)``."""
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            continue
        if _FORWARD_HEADERS.match(stripped) or _is_header_block(lines, index):
            return index
        for size in range(1, MAX_HEADER_LINES + 1):
            joined = " ".join(part.strip() for part in lines[index : index + size])
            if any(pattern.match(joined) for pattern in _REPLY_HEADERS):
                return index
    return len(lines)


def _is_header_block(lines: list[str], index: int) -> bool:
    """``From: ...`` followed within four lines by ``Sent:``/``Date:``: Outlook's quoted header."""
    if not _HEADER_FROM.match(lines[index].strip()):
        return False
    return any(_HEADER_DATE.match(line.strip()) for line in lines[index + 1 : index + 5])


def _signature_start(lines: list[str]) -> int:
    """The index where the signature begins, or ``len(lines)`` when there is none."""
    for index, line in enumerate(lines):
        if _SIGNATURE_DELIMITER.match(line) or _MOBILE_FOOTER.match(line.strip()):
            return index
    content = [index for index, line in enumerate(lines) if line.strip()]
    # The last closing line near the end: "Thanks," then a name, a title, a phone number.
    for position in range(len(content) - 1, max(-1, len(content) - 2 - MAX_SIGNATURE_LINES), -1):
        index = content[position]
        if _CLOSING.match(lines[index].strip()):
            return index + 1
    return len(lines)


def _tidy(lines: list[str]) -> str:
    """Join lines, without blank lines at either end or more than one blank line in a row."""
    kept: list[str] = []
    for line in lines:
        if not line.strip() and (not kept or not kept[-1].strip()):
            continue
        kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join(kept)


def html_to_text(html: str) -> str:
    """The visible text of an HTML body, one line per block, without quoted parts, styles or scripts."""
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    return _tidy([line.strip() for line in "".join(parser.parts).split("\n")])


_BLOCKS = frozenset(
    [
        "address",
        "article",
        "aside",
        "div",
        "dl",
        "dt",
        "dd",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tr",
        "ul",
    ]
)
_HIDDEN = frozenset(("head", "script", "style", "title", "template", "blockquote"))
_VOID = frozenset(
    ["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"]
)


class _TextOfHtml(HTMLParser):
    """Collects text, skipping hidden and quoted elements (tracked by depth, as HTML nests them)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            if not self._skipping and tag in ("br", "hr"):
                self.parts.append("\n")
            return
        classes = " ".join(value or "" for name, value in attrs if name == "class")
        if self._skipping or tag in _HIDDEN or "gmail_quote" in classes:
            self._skipping.append(tag)
            return
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if self._skipping:
            if tag in self._skipping:
                while self._skipping and self._skipping.pop() != tag:
                    pass
            return
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(re.sub(r"[ \t\r\n\f]+", " ", data))
