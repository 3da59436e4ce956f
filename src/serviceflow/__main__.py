"""``python -m serviceflow``: the command line, for when the ``serviceflow`` script is not on PATH."""

from serviceflow.cli import main

main()
