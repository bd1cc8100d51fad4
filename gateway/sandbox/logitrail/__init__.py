"""Sandbox of the Logitrail 3PL API (OAuth2 token, orders, order returns), with faults.

Usage::

    sandbox = LogitrailSandbox(clients=[SandboxClient("id", "secret", frozenset({...}))],
                               merchant_id="M-1")
    parent.add_subapp("/_sandbox/logitrail", sandbox.app)
    sandbox.inject(Fault(op="create", status=429, retry_after="2"))
"""

from .app import LogitrailSandbox
from .faults import Fault
from .state import SandboxClient

__all__ = ["Fault", "LogitrailSandbox", "SandboxClient"]
