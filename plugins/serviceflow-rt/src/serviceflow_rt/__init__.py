"""serviceflow-rt: Request Tracker 5 and serviceflow, both ways.

* In: :class:`serviceflow_rt.source.RtSource` polls RT's REST2 API for ticket history after a cursor
  and maps it to serviceflow records (the table is in the README).
* Out: :func:`serviceflow_rt.actions.comment_on_ticket` writes a finding on its ticket once per
  idempotency key (the ``rt-comment`` action).
* Gate: :func:`serviceflow_rt.gate.install_gate` installs a Perl overlay that makes RT ask serviceflow
  before a ticket is resolved, and refuse when told no.

Configuration for all three is one :class:`serviceflow_rt.config.RtConfig`. The hooks are in
:mod:`serviceflow_rt.plugin`.
"""

__version__ = "0.1.0"
