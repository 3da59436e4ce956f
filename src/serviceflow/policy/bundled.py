"""Where the bundled policies are: inside an installed wheel, or the repository's ``policies/``.

Its own module, with nothing heavy imported, because the built-in plugin names the bundled policy
pack every time plugins are listed (``serviceflow --version`` too).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["bundled_policy_dir"]


def bundled_policy_dir() -> Path:
    """The bundled policies: inside an installed wheel, or the repository's ``policies/``."""
    installed = resources.files("serviceflow").joinpath("_bundled", "policies")
    if installed.is_dir():
        return Path(str(installed))
    return Path(__file__).resolve().parents[3] / "policies"
