"""serviceflow-phone: phone systems as serviceflow records and actions.

* ``asterisk-cdr``: Asterisk's Master.csv, one ``contact`` per call (:mod:`serviceflow_phone.asterisk`);
* ``sms``: an action texting a finding through Twilio's REST API (:mod:`serviceflow_phone.sms`);
* ``twilio``: a route of the live service for Twilio's voice status callbacks and incoming messages,
  verified and mapped to contacts (:mod:`serviceflow_phone.routes` over
  :func:`serviceflow_phone.webhooks.handle_twilio_request`).

The hooks serviceflow loads are in :mod:`serviceflow_phone.plugin`; the README has the mappings.
"""

__version__ = "0.1.0"
