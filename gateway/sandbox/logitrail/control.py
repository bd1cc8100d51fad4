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
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

from gateway.sandbox.harness import CallHarness, ControlError, add_control_route, control_body

from .errors import json_response
from .state import SandboxOrder, SandboxReturn


class Controlled(Protocol):
    """What these routes use of `LogitrailSandbox` (a protocol: its module imports this one)."""

    orders: dict[str, SandboxOrder]
    returns: dict[str, SandboxReturn]

    def expire_tokens(self) -> None: ...
    def advance(self, order_id: str, status: str) -> None: ...
    def advance_return(self, return_id: str, status: str) -> None: ...
    def set_inbound(self, return_id: str, status: str) -> None: ...


def add_routes(app: web.Application, sandbox: Controlled, harness: CallHarness[Any]) -> None:
    async def expire_tokens(_request: web.Request) -> web.Response:
        sandbox.expire_tokens()
        return json_response({"success": True})

    async def list_orders(_request: web.Request) -> web.Response:
        return json_response([dataclasses.asdict(o) for o in sandbox.orders.values()])

    async def set_status(request: web.Request) -> web.Response:
        order_id = request.match_info["id"]
        body = await control_body(request)
        status = body.get("status") if isinstance(body, dict) else None
        if order_id not in sandbox.orders:
            raise ControlError(404, "not_found", f"order {order_id} not found")
        if not isinstance(status, str):
            raise ControlError(400, "status.invalid", 'body must be {"status": "<order status>"}')
        try:
            sandbox.advance(order_id, status)
        except ValueError as exc:
            raise ControlError(400, "status.invalid", str(exc)) from None
        return json_response(dataclasses.asdict(sandbox.orders[order_id]))

    async def list_returns(_request: web.Request) -> web.Response:
        return json_response([dataclasses.asdict(r) for r in sandbox.returns.values()])

    def return_move(move: Callable[[str, str], None]) -> Callable[..., Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            return_id = request.match_info["id"]
            body = await control_body(request)
            status = body.get("status") if isinstance(body, dict) else None
            if return_id not in sandbox.returns:
                raise ControlError(404, "not_found", f"order return {return_id} not found")
            if not isinstance(status, str):
                raise ControlError(400, "status.invalid", 'body must be {"status": "<status>"}')
            try:
                move(return_id, status)
            except ValueError as exc:
                raise ControlError(400, "status.invalid", str(exc)) from None
            return json_response(dataclasses.asdict(sandbox.returns[return_id]))

        return handle

    add_control_route(app, harness, "GET", "/_control/order-returns", list_returns, what="returns")
    add_control_route(
        app,
        harness,
        "POST",
        "/_control/order-returns/{id}/status",
        return_move(sandbox.advance_return),
        what="return_status",
    )
    add_control_route(
        app,
        harness,
        "POST",
        "/_control/order-returns/{id}/inbound",
        return_move(sandbox.set_inbound),
        what="return_inbound",
    )
    add_control_route(
        app, harness, "POST", "/_control/expire-tokens", expire_tokens, what="expire_tokens"
    )
    add_control_route(app, harness, "GET", "/_control/orders", list_orders, what="orders")
    add_control_route(
        app, harness, "POST", "/_control/orders/{id}/status", set_status, what="status"
    )
