"""Sandbox of the Logentic 3PL API v1 (orders, items, stock, signed webhooks), with faults.

Usage::

    sandbox = LogenticSandbox(token="t", webhook_secret="s", warehouses={1: "MTL"})
    parent.add_subapp("/_sandbox/logentic", sandbox.app)   # base_url …/_sandbox/logentic/v1
    sandbox.add_item("TSHIRT-M", stock={1: 10})
    sandbox.webhook_url = "http://127.0.0.1:8080/v1/webhooks/logentic"
    sandbox.inject(Fault(op="create", status=429, retry_after="2"))
"""

from .app import LogenticSandbox
from .faults import Fault

__all__ = ["Fault", "LogenticSandbox"]
