"""The ``serviceflow`` command line: a thin adapter over the library (``serviceflow.engine``)."""

from serviceflow.cli.app import main

__all__ = ["main"]
