"""Regular expressions that never run for ever (issue 13, mechanism 3).

A policy's ``matches: [$subject.text, "(a+)+$"]`` against a 41-character note ran for ever on Python's
backtracking ``re``. Patterns now compile with serviceflow.policy.regex onto RE2 (linear time), keeping
Python's syntax and meaning, and what RE2 cannot do in linear time is refused when the policy loads.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import pytest
import re2
from hypothesis import given, settings
from hypothesis import strategies as st

from serviceflow import limits
from serviceflow.errors import PolicyError
from serviceflow.policy import load_policies
from serviceflow.policy.regex import PatternError, _translate, compile_pattern

CATASTROPHIC = ["(a+)+$", "(a|a)*$", "(a|aa)+$", "(\\w+\\s?)+$", "^(a+)+b", "(.*a){12}"]


@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_backtracking_patterns_answer_in_linear_time(pattern: str) -> None:
    compiled = compile_pattern(pattern)
    started = time.perf_counter()
    compiled.found_in("a" * 41 + "!")
    compiled.found_in("a" * 200_000 + "!")
    assert time.perf_counter() - started < 2


# Python's answer is the reference: the same pattern must find the same texts.
AGREEING = [
    "refund|cancel",
    "^\\s*$",
    "\\d{3}-\\d{4}",
    "\\w+@\\w+",
    "\\W",
    "\\S\\s\\S",
    "x$",
    "x\\Z",
    "^x",
    "a{,2}b",
    "[\\d\\w]+z",
    "[^\\s]",
    "\\u00e9",
    "\\N{LATIN SMALL LETTER E WITH ACUTE}",
    "\\x41",
    "\\101",
    "[\\101-\\103]",
    "[[:alpha:]]",
    "[]a]",
    "[^]a]",
    "(?s)a.b",
    "(?m)^b$",
    "(?P<word>ab)c",
    "straße",
    "caf.",
    "(a+)+$",
    ".",
]
ALPHABET = "aAbBcxzé É1\u0661 \t\n_-@:[]ßSsK\u212a"


@pytest.mark.filterwarnings("ignore:Possible nested set:FutureWarning")  # Python's own [[:alpha:]]
@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=ALPHABET, max_size=12))
def test_patterns_find_what_python_finds(text: str) -> None:
    for pattern in AGREEING:
        expected = re.search(pattern, text, re.IGNORECASE) is not None
        assert compile_pattern(pattern).found_in(text) == expected, (pattern, text)


def test_word_boundaries_know_only_ascii_letters_as_documented() -> None:
    # RE2's \b knows ASCII word characters only: the one documented difference from Python.
    assert compile_pattern("\\bab\\b").found_in("ab cd")
    assert compile_pattern("\\bab\\b").found_in("abé")  # Python: no match, é is a word character
    assert not compile_pattern("(^|\\W)ab(\\W|$)").found_in("abé")  # the documented way for any script


def _assigned_characters() -> str:
    """Every code point this Python's Unicode database assigns (RE2 may know a newer Unicode)."""
    return "".join(
        chr(code)
        for code in range(0x110000)
        if not 0xD800 <= code <= 0xDFFF and unicodedata.category(chr(code)) != "Cn"
    )


@pytest.mark.parametrize("escape", ["\\d", "\\w", "\\s"])
def test_character_classes_are_pythons_unicode_classes(escape: str) -> None:
    characters = _assigned_characters()
    options = re2.Options()
    options.log_errors = False
    ours = set(re2.compile(_translate(escape), options).findall(characters))
    assert ours == set(re.findall(escape, characters))


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("a(?=b)", "lookahead"),
        ("(?<!a)b", "lookbehind"),
        ("(a)\\1", "backreferences"),
        ("(?P<n>a)(?P=n)", "(?P"),
        ("a*+", "possessive"),
        ("(?>a)", "atomic"),
        ("(?x) a b", "(?x"),
        ("(?#note)a", "comments"),
        ("a{1001}", "repetition count"),
        ("((a{100}){100}){100}", "repetition count"),
        ("[\\W]", "inside [...]"),
        ("\\bcafé\\b", "ASCII letters"),
        ("x\ud800", "lone surrogate"),
        ("\\ud800", "lone surrogate"),
        ("(", "invalid regular expression"),
    ],
)
def test_patterns_re2_cannot_run_in_linear_time_are_refused_with_the_reason(
    pattern: str, reason: str
) -> None:
    with pytest.raises(PatternError, match=re.escape(reason)):
        compile_pattern(pattern)


def test_a_pattern_longer_than_the_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_PATTERN_LENGTH", 10)
    with pytest.raises(PatternError, match="at most 10"):
        compile_pattern("abcdefghijk")


def test_text_with_a_lone_surrogate_is_searched_not_a_crash() -> None:
    assert compile_pattern("a.b").found_in("a\ud800b")
    assert not compile_pattern("^a$").found_in("a\ud800")


def test_compiling_twice_gives_the_same_pattern() -> None:
    assert compile_pattern("refund") is compile_pattern("refund")


POLICY = """id: regex-policy
title: t
severity: error
rationale: r
message: m
for_each: {{type: note}}
require:
  not:
    matches: [$subject.text, {pattern}]
"""


def test_a_policy_with_an_unsupported_pattern_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(POLICY.format(pattern='"(a)\\\\1"'))
    with pytest.raises(PolicyError, match="backreferences") as caught:
        load_policies([path])
    assert caught.value.location.line == 9
    assert caught.value.location.pointer == "/require/not/matches/1"


def test_a_policy_with_a_backtracking_pattern_loads(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(POLICY.format(pattern='"(a+)+$"'))
    (policy,) = load_policies([path])
    assert policy.id == "regex-policy"


def test_lint_with_a_backtracking_pattern_finishes_on_both_evaluators(
    tmp_path: Path, evaluator_name: str
) -> None:
    (tmp_path / "p.yaml").write_text(POLICY.format(pattern='"(a+)+$"'))
    note = {
        "case_id": "c",
        "type": "note",
        "at": "2024-01-01T00:00:00Z",
        "actor": {"role": "agent", "id": "a"},
    }
    records = [note | {"id": "slow", "text": "a" * 41 + "!"}, note | {"id": "hit", "text": "x" + "a" * 41}]
    (tmp_path / "r.jsonl").write_text("".join(json.dumps(record) + "\n" for record in records))
    command = [
        sys.executable,
        "-c",
        "from serviceflow.cli import main; main()",
        "lint",
        "r.jsonl",
        "--policies",
        "p.yaml",
        "--no-bundled",
        "--now",
        "2024-02-01T00:00:00Z",
        "--engine",
        evaluator_name,
        "--format",
        "json",
    ]
    # Before RE2, this ran for ever: a timeout fails the test instead of hanging the suite.
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    assert '"hit"' in result.stdout and '"slow"' not in result.stdout
