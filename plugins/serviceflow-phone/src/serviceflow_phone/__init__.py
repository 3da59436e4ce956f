"""serviceflow-phone: phone systems as serviceflow records and actions.

* ``asterisk-cdr``: Asterisk's Master.csv, one ``contact`` per call (:mod:`serviceflow_phone.asterisk`);
* ``sms``: an action texting a finding through Twilio's REST API (:mod:`serviceflow_phone.sms`);
* Twilio's voice status callbacks and incoming messages, verified and mapped to contacts by
  :func:`serviceflow_phone.webhooks.handle_twilio_request`, for the live service's routes.

The hooks serviceflow loads are in :mod:`serviceflow_phone.plugin`; the README has the mappings.
"""

__version__ = "0.1.0"
