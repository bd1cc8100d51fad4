"""Sandbox of the Flexport Logistics API (D2C orders, B2B outbounds, products and inventory,
webhooks).

Usage::

    sandbox = FlexportSandbox(tokens={"tok": None}, webhook_token="s")
    parent.add_subapp("/_sandbox/flexport", sandbox.app)   # base_url …/_sandbox/flexport
    sandbox.add_product("TSHIRT-M", logistics_sku="DSKU6DW2B4Q", stock={"ATL1": 10})
    sandbox.set_stock("TSHIRT-M", "LAX2", 3)               # units available per warehouse
    sandbox.webhook_url = "http://127.0.0.1:8080/v1/webhooks/flexport"
    sandbox.inject(Fault(op="create", status=429, retry_after="2"))
"""

from .app import FlexportSandbox
from .faults import Fault
from .state import B2BOrder, D2COrder

__all__ = ["B2BOrder", "D2COrder", "Fault", "FlexportSandbox"]
