"""Fuzzing every input path (issue 13): whatever the bytes, an error naming the place, never a crash.

Each parser gets documents built by hypothesis from a valid one (the bundled policies, the README's
configuration, a policy test, a holiday calendar, real-looking record files) by random edits drawn
from the characters that break parsers: brackets, quotes, colons, YAML indicators, backslashes,
control characters, surrogates' UTF-8 spellings, huge numbers. The property is the one the brief
asks of every input: the parser returns, or raises serviceflow's own error (a ``ServiceflowError``,
shown as a message with file and line, exit 2); any other exception is a bug. For records, the
stronger property too: the lines a mutation did not touch are still read and admitted.

The budget is a couple of minutes in CI (``max_examples`` per test below), drawn from a fixed seed
(the ``gate`` profile of conftest.py). ``HYPOTHESIS_PROFILE=long`` explores: ten times as many
examples, freshly random each run; what it finds is fixed and kept here as an ``@example``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from serviceflow.config import load_config
from serviceflow.engine import Engine
from serviceflow.errors import ServiceflowError
from serviceflow.plugins import PluginHost
from serviceflow.policy import bundled_policy_dir, load_policies
from serviceflow.policytest.format import load_test_file
from serviceflow.records.reader import read_sources
from serviceflow.run import lint
from serviceflow.waivers import parse_waivers

ROOT = Path(__file__).resolve().parents[1]
SCALE = 10 if os.environ.get("HYPOTHESIS_PROFILE") == "long" else 1
FUZZ = settings(
    max_examples=400 * SCALE,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

#: For the properties that lint or evaluate whole cases per example.
SLOW_FUZZ = settings(
    max_examples=120 * SCALE,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

#: Characters that change how a parser reads what follows.
NASTY = [*"{}[]:,\"'\\\n\r\t #&*!|>-?%@`0123456789.eE+", "\x00", "\x1b", "\u2028", "\ufeff", "\udcff"]


@st.composite
def mutated(draw: st.DrawFn, seed: str) -> str:
    """``seed`` with a few random insertions, deletions and replacements."""
    text = seed
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["insert", "delete", "replace", "duplicate"]))
        piece = draw(st.one_of(st.sampled_from(NASTY), st.text(min_size=1, max_size=4), st.just("9" * 5000)))
        if kind == "insert":
            text = text[:position] + piece + text[position:]
        elif kind == "delete":
            text = text[:position] + text[position + draw(st.integers(1, 40)) :]
        elif kind == "replace":
            text = text[:position] + piece + text[position + len(piece) :]
        else:
            end = min(len(text), position + draw(st.integers(1, 80)))
            text = text[:end] + text[position:end] + text[end:]
    return text


def _encodable(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape" if "\udcff" in text else "strict")


POLICY_TEXTS = [path.read_text(encoding="utf-8") for path in sorted(bundled_policy_dir().glob("*.yaml"))]


@FUZZ
@given(st.sampled_from(POLICY_TEXTS).flatmap(mutated))
def test_a_mangled_policy_is_a_policy_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzzed.yaml"
    path.write_bytes(_encodable(text))
    try:
        for definition in load_policies([path]):
            definition.bind()
    except ServiceflowError as error:
        assert error.location.file == str(path)


CONFIG = """
policy-paths = ["our-policies/"]
fail-on = "warning"

[policies.escalate-values-in-question]
severity = "warning"
params = { within = "2h" }

[calendars.emea]
timezone = "Europe/Berlin"
hours = { mon = ["08:00-17:00"], fri = ["08:00-15:00"] }
holidays = ["2024-12-25"]

[policies.respond-promptly]
calendar = "emea"

[actions.log]
path = "actions.jsonl"
"""


@FUZZ
@given(mutated(CONFIG))
def test_a_mangled_configuration_is_a_configuration_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "serviceflow.toml"
    path.write_bytes(_encodable(text))
    try:
        config = load_config(path)
        Engine.from_config(config=config, plugins=PluginHost()).close()
    except ServiceflowError:
        pass


WAIVERS = """
waivers:
  - policy: one-human
    case: milkyway-leak
    reason: "the customer asked for a second agent"
    owner: team-lead@example.com
    expires: 2024-12-31
  - policy: tone-*
    record: mw-08
    reason: quoting the customer
    owner: sam
    expires: 2025-01-31T00:00:00+01:00
"""


@FUZZ
@given(mutated(WAIVERS))
def test_mangled_waivers_are_a_configuration_error(text: str) -> None:
    with contextlib.suppress(ServiceflowError):
        parse_waivers(text.encode("utf-8", "replace").decode("utf-8"), "waivers.yaml")


POLICY_TEST = (ROOT / "policies" / "tests").glob("*.test.yaml")
POLICY_TEST_TEXTS = [path.read_text(encoding="utf-8") for path in sorted(POLICY_TEST)][:4]


@FUZZ
@given(st.sampled_from(POLICY_TEST_TEXTS).flatmap(mutated))
def test_a_mangled_policy_test_file_is_its_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzzed.test.yaml"
    path.write_bytes(_encodable(text))
    with contextlib.suppress(ServiceflowError):
        load_test_file(path)


ICS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//serviceflow//fuzz//EN
BEGIN:VEVENT
UID:christmas@example.org
DTSTART;VALUE=DATE:20241225
RRULE:FREQ=YEARLY
SUMMARY:Christmas
END:VEVENT
BEGIN:VEVENT
UID:move@example.org
DTSTART;TZID=Europe/Berlin:20240610T120000
DTEND;TZID=Europe/Berlin:20240610T180000
SUMMARY:Office move
END:VEVENT
END:VCALENDAR
"""


@FUZZ
@given(mutated(ICS))
def test_a_mangled_holiday_calendar_is_a_configuration_error(tmp_path: Path, text: str) -> None:
    from serviceflow.calendars.ical import load_ical_holidays

    path = tmp_path / "holidays.ics"
    path.write_bytes(_encodable(text))
    with contextlib.suppress(ServiceflowError):
        load_ical_holidays(path, years=range(2020, 2030))


# --- records ---------------------------------------------------------------------------------------

EXAMPLE_LINES = [
    line
    for path in sorted((ROOT / "examples" / "records").glob("*.jsonl"))
    for line in path.read_text(encoding="utf-8").splitlines()
]


@FUZZ
@given(st.binary(max_size=2000))
@example(b"null\n")  # found by a random run: the value null, not an error
def test_any_bytes_on_stdin_are_items_or_an_input_error(data: bytes) -> None:
    try:
        for item in read_sources(["-"], stdin=io.BufferedReader(io.BytesIO(data))):  # type: ignore[arg-type]
            # A value or an error, never both (a line ``null`` is a value, refused later by admission).
            assert item.error is None or item.data is None
            assert item.origin.line is None or 1 <= item.origin.line <= data.count(b"\n") + 1
    except ServiceflowError:
        pass


@st.composite
def record_file(draw: st.DrawFn) -> tuple[str, int]:
    """A JSON Lines file of example records with some lines mangled, and how many records must be read:
    the untouched lines whose id no other line mentions (a mangled line may take an id first)."""
    lines = draw(st.lists(st.sampled_from(EXAMPLE_LINES), min_size=1, max_size=12, unique=True))
    out = []
    untouched = []
    for line in lines:
        if draw(st.booleans()):
            out.append(draw(mutated(line)).replace("\n", " ").replace("\r", " "))
        else:
            out.append(line)
            untouched.append(line)
    safe = 0
    for line in untouched:
        record_id = json.dumps(json.loads(line)["id"])
        if sum(record_id in other for other in out) == 1:
            safe += 1
    return "\n".join(out) + "\n", safe


_ENGINES: dict[str, Engine] = {}


def _engine(evaluator: str = "native") -> Engine:
    """One engine per evaluator for the whole module: building one per example would be most of the time."""
    if evaluator not in _ENGINES:
        _ENGINES[evaluator] = Engine.from_config(evaluator=evaluator, plugins=PluginHost())
    return _ENGINES[evaluator]


@FUZZ
@given(record_file())
def test_mangled_records_never_lose_the_good_ones(tmp_path: Path, generated: tuple[str, int]) -> None:
    text, whole = generated
    path = tmp_path / "records.jsonl"
    path.write_bytes(_encodable(text))
    result = lint(_engine(), [path], datetime(2024, 5, 20, tzinfo=UTC))
    evaluation = result.evaluation
    assert result.exit_status in (0, 1, 2)
    # Every untouched line is an admitted record; a mangled one may still be a valid (other) record.
    assert evaluation.records >= whole
    for error in evaluation.input_errors:
        assert error.location.file == str(path)
        assert error.location.line is not None


@FUZZ
@given(st.lists(st.sampled_from(EXAMPLE_LINES), min_size=1, max_size=8), st.data())
def test_a_mangled_json_array_is_read_up_to_the_damage(tmp_path: Path, lines: list[str], data: Any) -> None:
    text = "[\n" + ",\n".join(lines) + "\n]\n"
    text = data.draw(st.one_of(st.just(text), mutated(text)))
    path = tmp_path / "records.json"
    path.write_bytes(_encodable(text))
    try:
        items = list(read_sources([path]))
    except ServiceflowError:
        return
    for item in items:
        if item.data is not None:
            json.dumps(item.data)  # what was read is plain JSON, whatever the damage around it


# --- bad records beside good ones, hostile values in every report, both evaluators ------------------

GOOD_CASE = [line for line in EXAMPLE_LINES if '"case_id": "refund-7731"' in line]
NOW = datetime(2024, 5, 9, 14, tzinfo=UTC)


def _findings(evaluation: Any) -> list[tuple[str, str | None, str, str]]:
    return sorted(
        (f.policy, f.record_id, f.status.value, f.message)
        for f in (*evaluation.violations, *evaluation.pending)
    )


#: Lines no reader can take for a record: not JSON (a NUL outside a string), not an object, not UTF-8.
garbage = st.one_of(
    st.binary(max_size=60).map(lambda junk: b"{" + junk.replace(b"\n", b" ") + b"\x00"),
    st.sampled_from([b"[1, 2]", b'"text"', b"42", b"\xff\xfe{}", b'{"id": "x"', b"{}"]),
)


@SLOW_FUZZ
@given(st.lists(st.tuples(st.integers(1, len(GOOD_CASE)), garbage), max_size=8))
def test_bad_lines_beside_good_ones_change_no_finding(
    tmp_path: Path, inserted: list[tuple[int, bytes]]
) -> None:
    clean = [line.encode() for line in GOOD_CASE]
    dirty = list(clean)
    for position, junk in sorted(inserted, reverse=True):
        dirty.insert(position, junk)
    (tmp_path / "clean.jsonl").write_bytes(b"\n".join(clean) + b"\n")
    (tmp_path / "dirty.jsonl").write_bytes(b"\n".join(dirty) + b"\n")
    engine = _engine()
    with_bad = lint(engine, [tmp_path / "dirty.jsonl"], NOW).evaluation
    without = lint(engine, [tmp_path / "clean.jsonl"], NOW).evaluation
    assert _findings(with_bad) == _findings(without)
    assert len(with_bad.input_errors) == len(inserted)
    assert with_bad.records == without.records == len(clean)


HOSTILE_TEXT = st.one_of(
    st.sampled_from(
        [
            "\\ud800",  # a lone surrogate, as the JSON escape a record can carry
            "\\u001b[2J\\u001b]0;pwned\\u0007",  # clear screen, set the terminal's title
            "\\u202eevil",  # right-to-left override
            "line\\nbreak\\r\\u2028sep",
            "]]><!--",  # ends a CDATA section, opens an XML comment
            "%0A::error::forged",  # a GitHub annotation smuggled in a message
        ]
    ),
    st.text(min_size=1, max_size=30).map(lambda text: json.dumps(text)[1:-1]),
)


@SLOW_FUZZ
@given(st.data())
def test_hostile_values_leave_every_report_valid_and_both_evaluators_agreeing(data: Any) -> None:
    """Ids, text and summaries carrying what breaks terminals, XML and JSON; dates at the end of time."""
    import xml.etree.ElementTree as ET

    from support import durable_available, render

    lines = []
    for line in GOOD_CASE:
        record = json.loads(line)
        for field in ("text", "summary", "promise", "subject"):
            if field in record and data.draw(st.booleans()):
                record[field] = "PLACEHOLDER"
        if data.draw(st.booleans()):
            record["id"] = record["id"] + "PLACEHOLDER"
        if "due" in record and data.draw(st.booleans()):
            record["due"] = "9999-12-31T23:59:59Z"
        text = json.dumps(record, ensure_ascii=False)
        while "PLACEHOLDER" in text:
            text = text.replace("PLACEHOLDER", data.draw(HOSTILE_TEXT), 1)
        lines.append(text)
    records = [json.loads(line) for line in lines]
    engine = _engine()
    evaluation = engine.evaluate(records, NOW)
    report = json.loads(render(evaluation, "json"))
    assert report["summary"]["records"] == evaluation.records
    sarif = json.loads(render(evaluation, "sarif"))
    assert sarif["version"] == "2.1.0"
    assert len(sarif["runs"][0]["results"]) >= len(evaluation.violations)
    ET.fromstring(render(evaluation, "junit").encode("utf-8"))
    for human in ("text", "github"):
        shown = render(evaluation, human)
        shown.encode("utf-8")  # writable
        assert "\x1b" not in shown and "\u202e" not in shown and "\u2028" not in shown
    if durable_available():
        assert _findings(_engine("durable").evaluate(records, NOW)) == _findings(evaluation)
