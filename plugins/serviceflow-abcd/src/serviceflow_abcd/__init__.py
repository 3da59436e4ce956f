"""serviceflow-abcd: the agent guidelines of ASAPP's ABCD corpus as serviceflow policies.

The guidelines tell an agent, for each customer intent (subflow), which actions to take before the one
that concludes it: verify the identity or validate the purchase before a refund, check the membership
level before a return. The pack states them as policies over the records serviceflow's ``abcd`` importer
makes of the corpus's chats, and declares the ``verification`` record type those records need. Its
hooks are in :mod:`serviceflow_abcd.plugin`.
"""

__version__ = "0.1.0"
