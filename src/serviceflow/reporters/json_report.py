"""The machine-readable report: ``Evaluation.to_dict()`` as one JSON object.

Keys: ``violations``, ``pending`` (open obligations with their deadlines), ``waived``
(findings a waiver covers, each with its ``waiver``), ``engine_errors``, ``errors`` (input errors with
file, line, pointer and message), ``expired_waivers``, ``unused_waivers`` and ``summary``.

Values are written exactly as the records hold them; a lone surrogate as its ``\\uXXXX`` escape (see
:func:`~serviceflow.reporters.escaping.json_text`), so the report is UTF-8 whatever the input.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from serviceflow.findings import Evaluation
from serviceflow.reporters.base import ReportOptions
from serviceflow.reporters.escaping import json_text


def render_json(evaluation: Evaluation, options: ReportOptions) -> str:
    """One pretty-printed JSON object, keys in a stable order, ending with a newline.

    The text is what ``json.dumps(evaluation.to_dict(), indent=2)`` gives, but built a finding at a
    time: a million findings as dictionaries would take more memory than the records they are about.
    """
    return "".join(json_pieces(evaluation, options))


def json_pieces(evaluation: Evaluation, options: ReportOptions) -> Iterator[str]:
    """The text of :func:`render_json` in small pieces, a finding at a time.

    ``lint`` writes these as they come: the report of a million records under every policy is over a
    hundred megabytes, and holding it whole on top of the evaluation was the peak of such a run.
    """
    sections: list[tuple[str, Any]] = [
        ("violations", (finding.to_dict for finding in evaluation.violations)),
        ("pending", (finding.to_dict for finding in evaluation.pending)),
        ("waived", (waived.to_dict for waived in evaluation.waived)),
        ("engine_errors", (finding.to_dict for finding in evaluation.engine_errors)),
    ]
    rest = evaluation.to_dict(findings=False)
    yield "{"
    for number, (key, value) in enumerate([*sections, *((key, rest[key]) for key in rest)]):
        yield ("," if number else "") + f"\n  {json_text(key)}: "
        if key in _STREAMED:
            separator = "[\n    "
            for item in value:
                yield separator + json_text(item(), indent=2).replace("\n", "\n    ")
                separator = ",\n    "
            yield "[]" if separator == "[\n    " else "\n  ]"
        else:
            yield json_text(value, indent=2).replace("\n", "\n  ")
    yield "\n}\n"


_STREAMED = frozenset({"violations", "pending", "waived", "engine_errors"})
