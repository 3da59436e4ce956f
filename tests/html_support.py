"""Records for the HTML report's tests: the bundled examples plus a case written to break an HTML page.

The hostile case carries markup and script in its ids, actor and text, control characters, a
right-to-left override, a lone surrogate and a very long message: every one must reach the page as
text. One record is refused (a lone surrogate in its id), so the input errors carry hostile text too.
It is a real case (an agent's over-informal reply, an open obligation), so that its values show
up in the summary, the charts, the top cases and the table.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from serviceflow import Engine
from serviceflow.config import Config
from serviceflow.reporters import ReportOptions
from serviceflow.reporters.html import render_html
from serviceflow.reporters.json_report import render_json
from serviceflow.run import LintResult, lint
from serviceflow.subjects import describe_subjects

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "records"
NOW = datetime(2024, 5, 9, 14, tzinfo=UTC)

#: Would run script, load an image or break out of an attribute if it were written raw anywhere.
SCRIPT = '</script><script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
HOSTILE = SCRIPT + "'\"&amp;\x1b[2J\x07\u202eevil\u2028"


def hostile_records() -> list[dict[str, object]]:
    case = "case-" + HOSTILE
    agent = {"role": "agent", "id": "agent-" + HOSTILE, "name": HOSTILE}
    customer = {"role": "customer", "id": "cust-" + HOSTILE}
    return [
        {
            "id": "h-open-" + HOSTILE,
            "case_id": case,
            "type": "case_opened",
            "at": "2024-05-08T09:00:00Z",
            "actor": customer,
            "channel": "email",
            "customer_id": "c-" + HOSTILE,
            "subject": HOSTILE,
        },
        {
            "id": "h-mail-" + HOSTILE,
            "case_id": case,
            "type": "contact",
            "at": "2024-05-08T09:05:00Z",
            "actor": customer,
            "channel": "email",
            "direction": "inbound",
            "text": HOSTILE * 2000,
        },
        {
            "id": "h-reply-" + HOSTILE,
            "case_id": case,
            "type": "contact",
            "at": "2024-05-09T13:30:00Z",
            "actor": agent,
            "channel": "chat",
            "direction": "outbound",
            "text": "yep " + HOSTILE,
        },
        # A lone surrogate is refused at admission: the input error names it, and the page shows that.
        {
            "id": "h-bad-\ud800" + HOSTILE,
            "case_id": case,
            "type": "note",
            "at": "2024-05-08T10:00:00Z",
            "actor": agent,
        },
    ]


def write_inputs(directory: Path) -> Path:
    """The examples and the hostile case, as JSON Lines files in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    for source in EXAMPLES.glob("*.jsonl"):
        (directory / source.name).write_bytes(source.read_bytes())
    lines = [json.dumps(record) for record in hostile_records()]
    (directory / "hostile.jsonl").write_text("\n".join(lines) + "\n", "utf-8")
    return directory


def lint_with_subjects(sources: list[Path], now: datetime = NOW, **options: object) -> LintResult:
    with Engine.from_config(config=Config()) as engine:
        describe_subjects(engine)
        return lint(engine, sources, now, **options)  # type: ignore[arg-type]


def render_both(result: LintResult) -> tuple[str, dict[str, object]]:
    """The HTML report and the JSON report of one run."""
    options = ReportOptions(policies=result.policies)
    return render_html(result.evaluation, options), json.loads(render_json(result.evaluation, options))
