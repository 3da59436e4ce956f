"""The package's shape: serviceflow only through its public plugin module; numbers normalised and masked."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import serviceflow_phone
from serviceflow_phone.numbers import PhoneNumbers, mask, mask_in_text

from serviceflow.testing import imported_modules, internal_imports

PACKAGE = Path(serviceflow_phone.__file__).parent


def test_serviceflow_is_imported_only_through_its_public_plugin_module() -> None:
    assert internal_imports(PACKAGE) == []


def test_no_command_line_or_web_framework_in_the_library() -> None:
    for path in PACKAGE.glob("*.py"):
        roots = {module.split(".")[0] for module in imported_modules(path)}
        assert not roots & {"click", "starlette", "fastapi", "flask", "aiohttp"}, path.name


def test_the_plugin_module_only_declares() -> None:
    tree = ast.parse((PACKAGE / "plugin.py").read_text(encoding="utf-8"))
    functions = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    assert {function.name for function in functions} == {
        "serviceflow_readers",
        "serviceflow_actions",
        "serviceflow_routes",
    }
    assert all(any(ast.unparse(d) == "hookimpl" for d in function.decorator_list) for function in functions)


def test_the_package_is_typed() -> None:
    assert (PACKAGE / "py.typed").exists()


@pytest.mark.parametrize(
    ("region", "text", "expected"),
    [
        (None, "+14155550123", "+14155550123"),
        (None, "+1 (415) 555-0123", "+14155550123"),
        (None, "(415) 555-0123", None),  # no country code and no region: not a number
        ("US", "(415) 555-0123", "+14155550123"),
        ("US", "555-0123", None),  # local only: the area code is missing
        ("US", "1001", None),  # an extension
        ("DE", "030 1234567", "+49301234567"),
        ("GB", "020 7946 0958", "+442079460958"),
        (None, "whatsapp:+14155550123", "+14155550123"),
        (None, "client:alice", None),
        (None, "sip:alice@example.com", None),
        (None, "anonymous", None),
        (None, "+266696687", None),  # what Twilio sends for a withheld caller id
        (None, "", None),
        (None, "+1" + "5" * 300, None),
        ("US", "\x00415\u202e5550123", None),
    ],
)
def test_numbers_are_normalised_to_e164_or_are_not_numbers(
    region: str | None, text: str, expected: str | None
) -> None:
    assert PhoneNumbers(region).e164(text) == expected


def test_a_masked_number_keeps_only_enough_to_tell_two_apart() -> None:
    assert mask("+14155550123") == "+14*******23"
    assert mask(None) == "<none>"
    assert (
        mask_in_text("The 'To' number +1 415 555 0123 is not valid")
        == "The 'To' number +1 4** *** **23 is not valid"
    )
    assert mask_in_text("extension 1001, 2024-05-06 09:15:02, error 21211") == (
        "extension 1001, 2024-05-06 09:15:02, error 21211"
    )
