"""The machine-readable report: ``Evaluation.to_dict()`` as one JSON object.

Keys: ``findings`` (violations), ``pending`` (open obligations with their deadlines), ``waived``
(findings a waiver covers, each with its ``waiver``), ``engine_errors``, ``errors`` (input errors with
file, line, pointer and message), ``expired_waivers``, ``unused_waivers`` and ``summary``.

Values are written exactly as the records hold them; a lone surrogate as its ``\\uXXXX`` escape (see
:func:`~serviceflow.reporters.escaping.json_text`), so the report is UTF-8 whatever the input.
"""

from __future__ import annotations

from serviceflow.findings import Evaluation
from serviceflow.reporters.base import ReportOptions
from serviceflow.reporters.escaping import json_text


def render_json(evaluation: Evaluation, options: ReportOptions) -> str:
    """One pretty-printed JSON object, keys in a stable order, ending with a newline."""
    return json_text(evaluation.to_dict(), indent=2) + "\n"
