"""The plugin serviceflow loads (entry point ``email``): declares the ``email`` action.

The IMAP source (:class:`serviceflow_email.source.ImapSource`) is not declared yet: serviceflow has no
``sources`` hook so far. When it has one, this module returns the source from it; until then an
application creates ``ImapSource(options)`` itself.
"""

from __future__ import annotations

from serviceflow.plugin import ActionSpec, hookimpl
from serviceflow_email import action


@hookimpl
def serviceflow_actions() -> list[ActionSpec]:
    return [ActionSpec(action.NAME, action.create, "a notification about the finding, by email over SMTP")]
