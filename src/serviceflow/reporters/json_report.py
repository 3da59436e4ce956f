"""The machine-readable report: ``Evaluation.to_dict()`` as one JSON object.

Keys: ``violations``, ``pending`` (open obligations with their deadlines), ``waived``
(findings a waiver covers, each with its ``waiver``), ``engine_errors``, ``errors`` (input errors with
file, line, pointer and message), ``expired_waivers``, ``unused_waivers`` and ``summary``.

Values are written exactly as the records hold them; a lone surrogate as its ``\\uXXXX`` escape (see
:func:`~serviceflow.reporters.escaping.json_text`), so the report is UTF-8 whatever the input.
"""

from __future__ import annotations

from typing import Any

from serviceflow.findings import Evaluation
from serviceflow.reporters.base import ReportOptions
from serviceflow.reporters.escaping import json_text


def render_json(evaluation: Evaluation, options: ReportOptions) -> str:
    """One pretty-printed JSON object, keys in a stable order, ending with a newline.

    The text is what ``json.dumps(evaluation.to_dict(), indent=2)`` gives, but built a finding at a
    time: a million findings as dictionaries would take more memory than the records they are about.
    """
    sections: list[tuple[str, Any]] = [
        ("violations", (finding.to_dict for finding in evaluation.violations)),
        ("pending", (finding.to_dict for finding in evaluation.pending)),
        ("waived", (waived.to_dict for waived in evaluation.waived)),
        ("engine_errors", (finding.to_dict for finding in evaluation.engine_errors)),
    ]
    rest = evaluation.to_dict(findings=False)
    pieces = ["{"]
    for number, (key, value) in enumerate([*sections, *((key, rest[key]) for key in rest)]):
        pieces.append(("," if number else "") + f"\n  {json_text(key)}: ")
        if key in _STREAMED:
            items = [json_text(item(), indent=2).replace("\n", "\n    ") for item in value]
            pieces.append("[\n    " + ",\n    ".join(items) + "\n  ]" if items else "[]")
        else:
            pieces.append(json_text(value, indent=2).replace("\n", "\n  "))
    pieces.append("\n}\n")
    return "".join(pieces)


_STREAMED = frozenset({"violations", "pending", "waived", "engine_errors"})
