"""The machine-readable report: ``Evaluation.to_dict()`` as one JSON object.

Keys: ``findings`` (violations), ``pending`` (open obligations with their deadlines), ``waived``
(findings a waiver covers, each with its ``waiver``), ``engine_errors``, ``errors`` (input errors with
file, line, pointer and message), ``expired_waivers``, ``unused_waivers`` and ``summary``.
"""

from __future__ import annotations

import json

from serviceflow.findings import Evaluation
from serviceflow.reporters.base import ReportOptions


def render_json(evaluation: Evaluation, options: ReportOptions) -> str:
    """One pretty-printed JSON object, keys in a stable order, ending with a newline."""
    return json.dumps(evaluation.to_dict(), indent=2, ensure_ascii=False) + "\n"
