"""YAML that would exhaust memory or the stack (issue 13, mechanisms 2 and 3).

Policies, waivers and policy tests are YAML read by one loader (serviceflow.policy.yamlsource). A
~900-byte alias bomb grew to gigabytes; flow nesting, thousands of nested ``not`` and an alias inside
its own anchor raised RecursionError. Each is now a clear error naming the file and the line, found in
bounded time and memory; the limits live in serviceflow.limits.
"""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest

from serviceflow import limits
from serviceflow.errors import ConfigError, PolicyError, ServiceflowError
from serviceflow.policy import load_policies
from serviceflow.policy.yamlsource import load_yaml, parse_yaml
from serviceflow.policytest.format import load_test_file
from serviceflow.waivers import parse_waivers


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """The "billion laughs": each level names the previous one ``width`` times (9**9 strings)."""
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [" + ",".join([f"*l{level - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


POLICY_HEAD = "id: deep-policy\ntitle: t\nseverity: error\nrationale: r\nmessage: m\nfor_each: {type: note}\n"


def test_an_alias_bomb_fails_fast_in_bounded_memory_naming_file_and_line() -> None:
    text = alias_bomb()
    assert len(text) < 900
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(PolicyError, match="aliases expand to more than") as caught:
            parse_yaml(text, "bomb.yaml")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 5
    assert peak < 50 * 2**20
    assert caught.value.location.file == "bomb.yaml"
    assert caught.value.location.line is not None and caught.value.location.line > 1


def test_an_alias_bomb_in_a_policy_file_is_a_policy_error(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(
        POLICY_HEAD + "params:\n" + "".join("  " + line + "\n" for line in alias_bomb().splitlines())
    )
    with pytest.raises(PolicyError, match="alias") as caught:
        load_policies([path])
    assert caught.value.location.file == str(path)


def test_an_alias_bomb_in_a_waivers_file_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="aliases expand") as caught:
        parse_waivers(alias_bomb(), "waivers.yaml")
    assert str(caught.value).startswith("waivers.yaml:")


def test_an_alias_bomb_in_a_policy_test_file_is_that_files_error(tmp_path: Path) -> None:
    path = tmp_path / "bomb.test.yaml"
    path.write_text(alias_bomb())
    with pytest.raises(ServiceflowError, match="aliases expand") as caught:
        load_test_file(path)
    assert caught.value.location.file == str(path)


def test_an_alias_reused_a_few_times_still_loads_with_the_alias_line() -> None:
    document = parse_yaml(
        "base: &base {within: 4h, type: note}\nfirst: *base\nsecond:\n  - *base\n", "p.yaml"
    )
    assert document.data["second"] == [{"within": "4h", "type": "note"}]
    assert document.lines["/first"] == 2
    assert document.lines["/second/0"] == 4


@pytest.mark.parametrize(
    "text", ["a: &a [1, *a]\n", "a: &a {b: {c: *a}}\n", "- &x\n  - *x\n"], ids=["sequence", "mapping", "top"]
)
def test_an_alias_inside_its_own_anchor_is_an_error_not_a_recursion(text: str) -> None:
    with pytest.raises(PolicyError, match="contains it") as caught:
        parse_yaml(text, "self.yaml")
    assert caught.value.location.line is not None


def test_deep_flow_nesting_is_an_error_at_its_line() -> None:
    text = "a: 1\nb: " + "[" * 5000 + "]" * 5000 + "\n"
    with pytest.raises(PolicyError, match=f"nested more than {limits.MAX_YAML_DEPTH} levels") as caught:
        parse_yaml(text, "deep.yaml")
    assert caught.value.location.line == 2


def test_deep_block_nesting_names_the_first_line_too_deep() -> None:
    text = "".join("  " * level + "k:\n" for level in range(3000))
    with pytest.raises(PolicyError, match="nested more than") as caught:
        parse_yaml(text, "deep.yaml")
    assert caught.value.location.line == limits.MAX_YAML_DEPTH + 1


def test_three_thousand_nested_nots_are_a_policy_error(tmp_path: Path) -> None:
    path = tmp_path / "nots.yaml"
    path.write_text(POLICY_HEAD + "require: " + "{not: " * 3000 + "{eq: [1, 1]}" + "}" * 3000 + "\n")
    with pytest.raises(PolicyError, match="nested more than"):
        load_policies([path])


def test_nesting_up_to_the_limit_loads_and_compiles(tmp_path: Path) -> None:
    # The policy's own mapping and require take two levels; the rest is one level per not.
    nots = limits.MAX_YAML_DEPTH - 3
    path = tmp_path / "nots.yaml"
    path.write_text(POLICY_HEAD + "require: " + "{not: " * nots + "{eq: [1, 1]}" + "}" * nots + "\n")
    (policy,) = load_policies([path])
    assert policy.id == "deep-policy"


def test_aliases_cannot_build_deeper_than_the_limit_either() -> None:
    # Each anchor nests the previous one 30 levels down: 4 of them are 120 levels once expanded.
    lines = ["a0: &a0 1"]
    for level in range(1, 5):
        lines.append(f"a{level}: &a{level} " + "[" * 30 + f"*a{level - 1}" + "]" * 30)
    with pytest.raises(PolicyError, match="aliases expanded"):
        parse_yaml("\n".join(lines) + "\n", "deep.yaml")


def test_the_limits_are_read_from_serviceflow_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_YAML_ALIAS_NODES", 2)
    with pytest.raises(PolicyError, match="more than 2 values"):
        parse_yaml("a: &a [1, 2]\nb: *a\n", "p.yaml")
    monkeypatch.setattr(limits, "MAX_YAML_DEPTH", 2)
    with pytest.raises(PolicyError, match="nested more than 2 levels"):
        parse_yaml("a: {b: {c: 1}}\n", "p.yaml")


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("a: 1\nb: " + "9" * 5000 + "\n", "invalid YAML value: Exceeds the limit", 2),
        ("a: !!python/name:os.system\n", "could not determine a constructor", 1),
        ("a: 1\n? [x, y]\n: z\n", "a mapping key must be a plain value", 2),
        ("k: &k {x: 1}\n*k : 2\n", "a mapping key must be a plain value", 2),
    ],
    ids=["5000-digit integer", "python tag", "sequence as key", "alias to a mapping as key"],
)
def test_values_yaml_cannot_build_are_errors_at_their_line(text: str, message: str, line: int) -> None:
    with pytest.raises(PolicyError, match=message) as caught:
        parse_yaml(text, "p.yaml")
    assert caught.value.location.line == line


def test_a_file_that_is_not_utf8_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"title: caf\xe9\n")
    with pytest.raises(PolicyError, match="cannot read") as caught:
        load_yaml(path)
    assert caught.value.location.file == str(path)
