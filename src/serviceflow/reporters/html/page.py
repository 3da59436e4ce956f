"""The page around a report's sections: one self-contained HTML file, its style and script inline.

The report is written for a browser with no network: no font, script, style or image is fetched
(nothing names a URL). The Content-Security-Policy allows exactly the page's own style and script
(by their SHA-256) and nothing else: no connection, no frame, no form, no other script. Record text
is escaped where it is written (:func:`~serviceflow.reporters.escaping.html_text`); the policy is a
second guard should a value ever slip through.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from functools import cache
from importlib import resources

from serviceflow.reporters.escaping import html_text

__all__ = ["Section", "page", "table_tools"]

Section = tuple[str, str, str]
"""``(anchor, heading, body HTML)`` of one section of the page."""


@cache
def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text("utf-8")


def _digest(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def page(title: str, subtitle: str, sections: Sequence[Section], footer: str = "") -> str:
    """The whole document: head (policy, style), header, a contents line, the sections, the script."""
    style, script = _asset("report.css"), _asset("report.js")
    policy = (
        f"default-src 'none'; script-src 'sha256-{_digest(script)}'; style-src 'sha256-{_digest(style)}'; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
    contents = "".join(
        f'<li><a href="#{anchor}">{html_text(heading)}</a></li>' for anchor, heading, _ in sections
    )
    body = "".join(
        f'<section id="{anchor}"><h2>{html_text(heading)}</h2>{html}</section>'
        for anchor, heading, html in sections
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{html_text(title)}</title><style>{style}</style></head>\n"
        f'<body><header><h1>{html_text(title)}</h1><p class="generated">{html_text(subtitle)}</p></header>'
        f"<nav><ul>{contents}</ul></nav>\n<main>{body}</main>"
        f"<footer>{html_text(footer)}</footer>"
        f"<script>{script}</script></body></html>\n"
    )


def table_tools(name: str, placeholder: str) -> str:
    """The search box and the counter of the table ``name`` (see ``report.js``)."""
    return (
        f'<div class="tools"><input type="search" id="{name}-search" placeholder="{html_text(placeholder)}" '
        f'aria-label="{html_text(placeholder)}"><span class="counter" id="{name}-count" aria-live="polite">'
        "</span></div>"
    )
