"""``python -m serviceflow_rt``: the ``rt`` commands (sync --once, install-gate, uninstall-gate)."""

from serviceflow_rt.cli import rt

rt(prog_name="serviceflow-rt")
