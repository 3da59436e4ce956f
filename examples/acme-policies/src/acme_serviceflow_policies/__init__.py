"""Acme Plumbing's serviceflow policies: a policy pack and the named conditions it calls.

Installed, it is found through the ``serviceflow`` entry-point group (``acme``); its hooks are in
:mod:`acme_serviceflow_policies.plugin`.
"""

__version__ = "1.0.0"
