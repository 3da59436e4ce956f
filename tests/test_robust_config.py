"""Configuration that was misread or crashed (issue 13, mechanisms 6 and 9; issue 8).

Invalid UTF-8 in a TOML file raised UnicodeDecodeError; ``nan`` and ``inf`` went through; errors in
a ``[policies.X]`` table named the header's line; a top-level setting written after a table header
silently became an option of that table. Each is now a ConfigError naming the file, the line and the
pointer.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from serviceflow.config import find_config, load_config
from serviceflow.errors import ConfigError


def config_file(tmp_path: Path, content: str | bytes, name: str = "serviceflow.toml") -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def load_error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value


# --- text that is not UTF-8 ---------------------------------------------------------------------


def test_invalid_utf8_names_the_file_the_line_and_the_byte(tmp_path: Path) -> None:
    path = config_file(tmp_path, b'fail-on = "error"\n# caf\xe9 notes\nevaluator = "native"\n')
    error = load_error(path)
    assert error.location.file == str(path)
    assert error.location.line == 2
    assert "not UTF-8" in error.message and "0xe9" in error.message and "column 6" in error.message


def test_a_pyproject_that_is_not_utf8_is_found_and_reported_not_a_crash(tmp_path: Path) -> None:
    config_file(tmp_path, b'[tool.serviceflow]\nfail-on = "error"\n# \xff\n', "pyproject.toml")
    found = find_config(tmp_path)
    assert found == tmp_path / "pyproject.toml"
    assert load_error(found).location.line == 3


# --- numbers no setting means -------------------------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "+nan"])
def test_nan_and_inf_are_named_as_such(tmp_path: Path, value: str) -> None:
    path = config_file(
        tmp_path, f'[policies.respond-promptly]\nseverity = "warning"\nparams = {{ within = {value} }}\n'
    )
    error = load_error(path)
    assert f"is {value.lstrip('+')}" in error.message
    assert "'policies.respond-promptly.params.within'" in error.message
    assert error.location.line == 3
    assert error.location.pointer == "/policies/respond-promptly/params/within"


def test_nan_inside_a_list_is_named_too(tmp_path: Path) -> None:
    error = load_error(config_file(tmp_path, "[enrichers.flags]\nweights = [1.0, nan]\n"))
    assert error.location.pointer == "/enrichers/flags/weights/1"
    assert error.location.line == 2


# --- lines inside tables ------------------------------------------------------------------------


def test_an_error_inside_a_policy_table_names_the_keys_line_not_the_headers(tmp_path: Path) -> None:
    path = config_file(
        tmp_path,
        "[policies.one-human]\nenabled = true\n\n"
        '[policies.respond-promptly]\nenabled = true\nseverity = "fatal"\n',
    )
    error = load_error(path)
    assert error.location.line == 6
    assert error.location.pointer == "/policies/respond-promptly/severity"


def test_the_same_key_in_two_tables_names_the_right_one(tmp_path: Path) -> None:
    path = config_file(tmp_path, '[policies.a]\nenabled = true\n\n[policies.b]\nenabled = "yes"\n')
    assert load_error(path).location.line == 5


def test_dotted_and_inline_keys_have_their_lines(tmp_path: Path) -> None:
    path = config_file(
        tmp_path,
        'fail-on = "error"\npolicies.a.enabled = true\n[policies.b]\nparams = { within = "2h", x = 1 }\n',
    )
    config = load_config(path)
    assert config.location("policies", "a", "enabled").line == 2
    assert config.location("policies", "b", "params", "x").line == 4
    # A key not written falls back to its nearest written parent: the params table.
    assert config.location("policies", "b", "params", "missing").line == 4
    assert config.location("policies", "b", "params", "within").pointer == "/policies/b/params/within"


def test_lines_in_pyproject_are_found_under_tool_serviceflow(tmp_path: Path) -> None:
    path = config_file(
        tmp_path,
        '[project]\nname = "x"\n\n[tool.serviceflow.policies.a]\nenabled = true\nseverity = "fatal"\n',
        "pyproject.toml",
    )
    error = load_error(path)
    assert error.location.line == 6
    assert error.location.pointer == "/tool/serviceflow/policies/a/severity"


def test_a_key_in_a_multiline_string_is_not_taken_for_a_setting(tmp_path: Path) -> None:
    path = config_file(
        tmp_path,
        '[actions.log]\nnote = """\nseverity = "x"\n"""\n\n[policies.a]\nseverity = "fatal"\n',
    )
    assert load_error(path).location.line == 7


# --- a top-level setting written after a table header (issue 8) ---------------------------------


@pytest.mark.parametrize("setting", ['waivers = "w.yaml"', 'fail-on = "warning"', "bundled = false"])
def test_a_top_level_setting_after_a_table_header_is_an_error_saying_so(tmp_path: Path, setting: str) -> None:
    path = config_file(tmp_path, f'evaluator = "native"\n\n[actions.log]\npath = "log.jsonl"\n\n{setting}\n')
    error = load_error(path)
    key = setting.split(" ")[0]
    assert error.message == (
        f"'{key}' is a top-level setting but is written inside [actions.log]; move it above the first table"
    )
    assert error.location.line == 6


def test_a_misplaced_setting_inside_a_policy_table_is_named_before_unknown_key(tmp_path: Path) -> None:
    path = config_file(tmp_path, '[policies.one-human]\nenabled = true\nwaivers = "w.yaml"\n')
    assert "top-level setting" in load_error(path).message


def test_in_pyproject_the_advice_names_tool_serviceflow(tmp_path: Path) -> None:
    path = config_file(
        tmp_path,
        '[tool.serviceflow]\n\n[tool.serviceflow.actions.log]\nwaivers = "w.yaml"\n',
        "pyproject.toml",
    )
    assert "move it into [tool.serviceflow], above its first sub-table" in load_error(path).message


def test_an_option_of_the_same_name_is_allowed_when_the_top_level_has_it(tmp_path: Path) -> None:
    path = config_file(tmp_path, 'waivers = "w.yaml"\n\n[actions.archive]\nwaivers = "archive.yaml"\n')
    assert load_config(path).actions == {"archive": {"waivers": "archive.yaml"}}


# --- TOML that Python cannot read ---------------------------------------------------------------


def test_arrays_nested_too_deeply_are_an_error_not_a_recursion(tmp_path: Path) -> None:
    path = config_file(tmp_path, 'fail-on = "error"\nx = ' + "[" * 5000 + "]" * 5000 + "\n")
    error = load_error(path)
    assert "nested too deeply" in error.message
    assert error.location.line == 2


def test_an_integer_of_thousands_of_digits_is_an_error_at_its_line(tmp_path: Path) -> None:
    path = config_file(tmp_path, 'fail-on = "error"\n\n[enrichers.x]\nn = ' + "9" * 5000 + "\n")
    assert load_error(path).location.line == 4
