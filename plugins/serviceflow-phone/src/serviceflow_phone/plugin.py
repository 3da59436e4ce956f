"""The plugin serviceflow loads (entry point ``phone``): the ``asterisk-cdr`` format, the ``sms`` action.

The Twilio webhooks are functions (:func:`serviceflow_phone.webhooks.handle_twilio_request`) until
serviceflow has a routes hook to mount them with.
"""

from __future__ import annotations

from serviceflow.plugin import ActionSpec, ReaderSpec, hookimpl
from serviceflow_phone import sms
from serviceflow_phone.asterisk import asterisk_cdr_reader
from serviceflow_phone.config import load_phone_config


@hookimpl
def serviceflow_readers() -> list[ReaderSpec]:
    tables, base = load_phone_config()
    return [asterisk_cdr_reader(tables.get("asterisk-cdr", {}), base=base)]


@hookimpl
def serviceflow_actions() -> list[ActionSpec]:
    return [sms.SPEC]
