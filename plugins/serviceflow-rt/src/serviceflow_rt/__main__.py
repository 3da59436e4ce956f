"""``python -m serviceflow_rt``: the ``rt`` commands (install-gate, uninstall-gate, export)."""

from serviceflow_rt.cli import rt

rt(prog_name="serviceflow-rt")
