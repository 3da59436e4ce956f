"""serviceflow-email: a mailbox as a source of contacts (IMAP), and notifications as an action (SMTP).

* :class:`serviceflow_email.source.ImapSource` reads a mailbox since a cursor and maps each message to
  a ``contact`` record of its case (:mod:`.mapping`, :mod:`.messages`, :mod:`.reply`);
* the ``email`` action (:mod:`.action`, declared in :mod:`.plugin`) sends a notification about a
  finding over SMTP, with a Message-ID derived from its idempotency key.
"""

__version__ = "0.1.0"
