"""The hook reference stays true: every hook documented and tested, and docs/hooks.md regenerated.

STYLE.md: "A test fails when a hook is undocumented or has no test." The docstrings of
``serviceflow.hookspecs`` are the reference; ``docs/hooks.md`` is generated from them by
``python -m serviceflow.plugins.reference > docs/hooks.md``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from types import ModuleType

import pytest

from serviceflow import hookspecs
from serviceflow.plugins import reference

ROOT = Path(__file__).resolve().parents[1]
HOOKS_MD = ROOT / "docs" / "hooks.md"
TESTS = Path(__file__).resolve().parent
HOOK_NAMES = [hook.__name__ for hook in reference.hooks()]


def test_the_reference_finds_every_hook_the_host_knows() -> None:
    from serviceflow.plugins.host import _HOOKS

    assert sorted(HOOK_NAMES) == sorted(_HOOKS)
    assert set(HOOK_NAMES) == {name for name in vars(hookspecs) if name.startswith("serviceflow_")}


def test_every_hook_is_documented_with_its_return_and_firstresult_contract() -> None:
    assert reference.problems() == []


@pytest.mark.parametrize("hook", HOOK_NAMES)
def test_every_hook_is_mentioned_by_a_test(hook: str) -> None:
    mentioned = [
        path.relative_to(TESTS)
        for path in TESTS.rglob("*.py")
        if path.name != Path(__file__).name and hook in path.read_text(encoding="utf-8")
    ]
    assert mentioned, f"no test under tests/ mentions {hook}: add one that implements and uses it"


def test_docs_hooks_md_is_generated_from_the_docstrings() -> None:
    assert HOOKS_MD.read_text(encoding="utf-8") == reference.render(), (
        f"docs/hooks.md is out of date: run `{reference.GENERATED_BY}`"
    )


def test_the_command_prints_the_page_and_checks(capsys: pytest.CaptureFixture[str]) -> None:
    assert reference.main([]) == 0
    assert capsys.readouterr().out == reference.render()
    assert reference.main(["--check"]) == 0


# --- the checker itself, on hook specifications that break each rule -----------------------------

BROKEN_SPECS = '''
from __future__ import annotations
from serviceflow.hookspecs import hookspec

@hookspec
def serviceflow_silent() -> list[str]:
    pass

@hookspec
def serviceflow_no_returns() -> list[str]:
    """Something. Not ``firstresult``."""

@hookspec
def serviceflow_unsaid() -> list[str]:
    """Something.

    Returns:
        Strings.
    """

@hookspec(firstresult=True)
def serviceflow_decides() -> str | None:
    """Chooses.

    Returns:
        A name, or None for no opinion. Not ``firstresult``.
    """

@hookspec(firstresult=True)
def serviceflow_documented():
    """Chooses.

    Returns:
        A name, or None for no opinion: ``firstresult``, the first answer wins.
    """

def serviceflow_helper() -> None:
    """Not a hook: no hookspec marker."""
'''


def broken_module() -> ModuleType:
    module = ModuleType("broken_specs")
    exec(compile(textwrap.dedent(BROKEN_SPECS), "broken_specs.py", "exec"), module.__dict__)
    return module


def test_the_checker_names_each_missing_part() -> None:
    assert reference.problems(broken_module()) == [
        "serviceflow_silent: no docstring",
        "serviceflow_no_returns: the docstring has no 'Returns:' section (what the hook must return)",
        "serviceflow_unsaid: the docstring does not say it is 'Not ``firstresult``' (how results combine)",
        "serviceflow_decides: is firstresult, but the docstring does not say ``firstresult``",
        "serviceflow_documented: no return annotation",
    ]


def test_the_page_renders_roles_literals_code_blocks_and_returns() -> None:
    page = reference.render(broken_module())
    assert "| [`serviceflow_decides`](#serviceflow_decides) | `str \\| None` | yes |" in page
    assert "**Returns:** Strings." in page
    rendered = reference.render(hookspecs)
    assert "```python\nfrom serviceflow import hookimpl" in rendered
    assert ":class:" not in rendered and "``firstresult``" not in rendered
    assert "A list of `NamedCondition`: a name" in rendered
