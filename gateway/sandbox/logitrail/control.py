"""Logitrail's own control routes, beside the shared ones of `gateway.sandbox.harness`.

No auth, not recorded, never faulted. Relative to the mount point:

| route | does |
|---|---|
| `POST /_control/expire-tokens` | every token issued so far becomes invalid |
| `GET /_control/orders` | all orders |
| `POST /_control/orders/{id}/status` | body `{"status": "processed"}`: move the order's status |
| `GET /_control/order-returns` | all returns |
| `POST /_control/order-returns/{id}/status` | body `{"status": "pending_merchant_decision"}` |
| `POST /_control/order-returns/{id}/inbound` | body `{"status": "processing"}`: its inbound |
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from aiohttp import web

from gateway.sandbox.harness import ControlRoute, json_response, status_mover
from gateway.sandbox.harness.control import ControlHandler

from .state import SandboxOrder, SandboxReturn


class Controlled(Protocol):
    """What these routes use of `LogitrailSandbox` (a protocol: its module imports this one)."""

    orders: dict[str, SandboxOrder]
    returns: dict[str, SandboxReturn]

    def expire_tokens(self) -> None: ...
    def advance(self, order_id: str, status: str) -> None: ...
    def advance_return(self, return_id: str, status: str) -> None: ...
    def set_inbound(self, return_id: str, status: str) -> None: ...


def routes(sandbox: Controlled) -> list[ControlRoute]:
    async def expire_tokens(_request: web.Request) -> web.Response:
        sandbox.expire_tokens()
        return json_response({"success": True})

    async def list_orders(_request: web.Request) -> web.Response:
        return json_response([dataclasses.asdict(o) for o in sandbox.orders.values()])

    async def list_returns(_request: web.Request) -> web.Response:
        return json_response([dataclasses.asdict(r) for r in sandbox.returns.values()])

    def mover(
        what: str, table: Mapping[str, Any], move: Callable[[str, str], None], wanted: str
    ) -> ControlHandler:
        return status_mover(
            what, table, move, dataclasses.asdict, key=str, code="status.invalid", wanted=wanted
        )

    return [
        ("GET", "/_control/order-returns", list_returns, "returns"),
        (
            "POST",
            "/_control/order-returns/{id}/status",
            mover("order return", sandbox.returns, sandbox.advance_return, "status"),
            "return_status",
        ),
        (
            "POST",
            "/_control/order-returns/{id}/inbound",
            mover("order return", sandbox.returns, sandbox.set_inbound, "status"),
            "return_inbound",
        ),
        ("POST", "/_control/expire-tokens", expire_tokens, "expire_tokens"),
        ("GET", "/_control/orders", list_orders, "orders"),
        (
            "POST",
            "/_control/orders/{id}/status",
            mover("order", sandbox.orders, sandbox.advance, "order status"),
            "status",
        ),
    ]
