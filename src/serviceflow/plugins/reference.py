"""The hook reference, docs/hooks.md, generated from the docstrings of :mod:`serviceflow.hookspecs`.

The docstrings are the reference (STYLE.md: one place, next to the code that defines the contract);
this module only renders them as Markdown and says what a hook's documentation lacks::

    python -m serviceflow.plugins.reference > docs/hooks.md

``tests/test_hook_reference.py`` regenerates the page and fails when the committed one differs, when
:func:`problems` finds a hook without a docstring, a ``Returns:`` section or a statement of whether
it is ``firstresult``, and when no test mentions a hook.
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

from serviceflow import hookspecs

HOOK_PREFIX = "serviceflow_"
GENERATED_BY = "python -m serviceflow.plugins.reference > docs/hooks.md"
_ROLE = re.compile(r":(?:class|func|mod|meth|attr|data|exc):`(~?)([^`]+)`")
_LITERAL = re.compile(r"``([^`]+)``")
_NOT_FIRSTRESULT = re.compile(r"\bnot\s+``firstresult``", re.IGNORECASE)
_FIRSTRESULT = re.compile(r"``firstresult``")


def hooks(module: ModuleType = hookspecs) -> list[Callable[..., Any]]:
    """The hook specifications of ``module`` (functions marked with its ``hookspec``), in source order."""
    marker = f"{hookspecs.PROJECT}_spec"
    found = [
        value
        for name, value in vars(module).items()
        if name.startswith(HOOK_PREFIX) and inspect.isfunction(value) and hasattr(value, marker)
    ]
    return sorted(found, key=lambda function: function.__code__.co_firstlineno)


def is_firstresult(hook: Callable[..., Any]) -> bool:
    options = getattr(hook, f"{hookspecs.PROJECT}_spec", {})
    return bool(options.get("firstresult"))


def problems(module: ModuleType = hookspecs) -> list[str]:
    """What each hook's documentation lacks: a docstring, ``Returns:``, the ``firstresult`` statement."""
    found = []
    for hook in hooks(module):
        name = hook.__name__
        doc = inspect.getdoc(hook)
        if not doc:
            found.append(f"{name}: no docstring")
            continue
        if not re.search(r"^Returns:", doc, re.MULTILINE):
            found.append(f"{name}: the docstring has no 'Returns:' section (what the hook must return)")
        says_not = _NOT_FIRSTRESULT.search(doc) is not None
        if is_firstresult(hook) and (says_not or not _FIRSTRESULT.search(doc)):
            found.append(f"{name}: is firstresult, but the docstring does not say ``firstresult``")
        if not is_firstresult(hook) and not says_not:
            found.append(
                f"{name}: the docstring does not say it is 'Not ``firstresult``' (how results combine)"
            )
        if "return" not in hook.__annotations__:
            found.append(f"{name}: no return annotation")
    return found


def render(module: ModuleType = hookspecs) -> str:
    """The Markdown page: the module's overview, a table of hooks, then each hook's reference."""
    specs = hooks(module)
    lines = [
        f"<!-- Generated from {module.__name__} by `{GENERATED_BY}`. Do not edit: change the docstrings. -->",
        "",
        "# Hook reference",
        "",
        *_markdown(inspect.getdoc(module) or ""),
        "",
        "| hook | returns | firstresult |",
        "| --- | --- | --- |",
    ]
    for hook in specs:
        name = hook.__name__
        returns = _annotation(hook).replace("|", "\\|")  # a bare | would end the table cell
        lines.append(f"| [`{name}`](#{name}) | `{returns}` | {'yes' if is_firstresult(hook) else 'no'} |")
    for hook in specs:
        lines.extend(["", f"## `{hook.__name__}`", "", "```python", "@hookimpl"])
        lines.append(f"def {hook.__name__}{_signature(hook)}: ...")
        lines.extend(["```", ""])
        lines.extend(_markdown(inspect.getdoc(hook) or "(undocumented)"))
    return "\n".join(lines) + "\n"


def _signature(hook: Callable[..., Any]) -> str:
    parameters = ", ".join(inspect.signature(hook).parameters)
    return f"({parameters}) -> {_annotation(hook)}"


def _annotation(hook: Callable[..., Any]) -> str:
    # ``from __future__ import annotations`` keeps annotations as the source spelled them.
    return str(hook.__annotations__.get("return", "None"))


def _markdown(doc: str) -> Iterator[str]:
    """reStructuredText habits of our docstrings as Markdown: roles, literals, ``::`` blocks, Returns."""
    lines = doc.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.rstrip().endswith("::"):
            text = line.rstrip()[:-2].rstrip()
            if text:
                yield _inline(text) + ":"
            block, index = _indented_block(lines, index + 1)
            yield from ["", "```python", *block, "```"]
            continue
        if line.strip() == "Returns:":
            block, index = _indented_block(lines, index + 1)
            yield "**Returns:** " + " ".join(_inline(part) for part in block if part)
            continue
        yield _inline(line)
        index += 1


def _indented_block(lines: list[str], start: int) -> tuple[list[str], int]:
    """The indented lines from ``start`` (blank lines inside kept), dedented, and where the block ends."""
    index = start
    while index < len(lines) and not lines[index].strip():
        index += 1
    block: list[str] = []
    while index < len(lines) and (not lines[index].strip() or lines[index].startswith((" ", "\t"))):
        block.append(lines[index])
        index += 1
    while block and not block[-1].strip():
        block.pop()
        index -= 1
    width = min((len(line) - len(line.lstrip()) for line in block if line.strip()), default=0)
    return [line[width:] for line in block], index


def _inline(text: str) -> str:
    """Sphinx roles as code (``~`` keeps the last name only, as Sphinx shows it), ``x`` as `x`."""
    text = _ROLE.sub(
        lambda match: f"``{match.group(2).rsplit('.', 1)[-1] if match.group(1) else match.group(2)}``", text
    )
    return _LITERAL.sub(lambda match: f"`{match.group(1)}`", text)


def main(argv: list[str] | None = None) -> int:
    """Print the reference; ``--check`` prints the documentation problems instead (exit 1 if any)."""
    arguments = sys.argv[1:] if argv is None else argv
    if arguments == ["--check"]:
        found = problems()
        for problem in found:
            print(problem)
        return 1 if found else 0
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
