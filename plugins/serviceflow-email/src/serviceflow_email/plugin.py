"""The plugin serviceflow loads (entry point ``email``): the ``imap`` source and the ``email`` action.

* source ``imap`` (a ``[sources.NAME]`` table with ``type = "imap"``): a mailbox read over IMAP into the
  service's store as ``contact`` records (:mod:`serviceflow_email.source`);
* action ``email`` (``[actions.email]``): a notification about a finding over SMTP
  (:mod:`serviceflow_email.action`).
"""

from __future__ import annotations

from datetime import timedelta

from serviceflow.plugin import ActionSpec, SourceSpec, hookimpl
from serviceflow_email import action, source


@hookimpl
def serviceflow_actions() -> list[ActionSpec]:
    return [ActionSpec(action.NAME, action.create, "a notification about the finding, by email over SMTP")]


@hookimpl
def serviceflow_sources() -> list[SourceSpec]:
    return [
        SourceSpec(
            "imap",
            source.create,
            "a mailbox read over IMAP (UIDVALIDITY:UID cursor) as contact records, threads as cases",
            interval=timedelta(minutes=1),
        )
    ]
