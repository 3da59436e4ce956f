"""The plugin serviceflow loads (entry point ``phone``): the ``asterisk-cdr`` format, the ``sms`` action
and the ``twilio`` route.

* input format ``asterisk-cdr``: Asterisk's Master.csv (options from ``SERVICEFLOW_PHONE_CONFIG``);
* action ``sms`` (``[actions.sms]``): a finding texted through Twilio's REST API;
* route ``twilio`` (``[routes.twilio]``): Twilio's voice status callbacks and messaging webhooks at
  ``/v1/hooks/phone/twilio/voice`` and ``/sms``, verified by their signature
  (:mod:`serviceflow_phone.routes`).
"""

from __future__ import annotations

from serviceflow.plugin import ActionSpec, ReaderSpec, RouteSpec, hookimpl
from serviceflow_phone import routes, sms
from serviceflow_phone.asterisk import asterisk_cdr_reader
from serviceflow_phone.config import load_phone_config


@hookimpl
def serviceflow_readers() -> list[ReaderSpec]:
    tables, base = load_phone_config()
    return [asterisk_cdr_reader(tables.get("asterisk-cdr", {}), base=base)]


@hookimpl
def serviceflow_actions() -> list[ActionSpec]:
    return [sms.SPEC]


@hookimpl
def serviceflow_routes() -> list[RouteSpec]:
    return [
        RouteSpec(
            routes.NAME,
            routes.create,
            "X-Twilio-Signature: HMAC-SHA1 under the account's auth token over public-url + the path and "
            "the form parameters (twilio's RequestValidator); replays refused",
            paths=routes.PATHS,
            methods=("POST",),
            description="Twilio voice status callbacks (/voice) and incoming messages (/sms) as contacts",
            # Twilio's requests are a few KiB; the route's own max-body-bytes (64 KiB) refuses sooner.
            max_body=1024 * 1024,
        )
    ]
