"""Logitrail's own control routes, beside the shared ones of `gateway.sandbox.harness`.

No auth, not recorded, never faulted. Relative to the mount point:

| route | does |
|---|---|
| `POST /_control/expire-tokens` | every token issued so far becomes invalid |
| `GET /_control/orders` | all orders |
| `POST /_control/orders/{id}/status` | body `{"status": "processed"}`: move the order's status |
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from aiohttp import web

from gateway.sandbox.harness import CallHarness, ControlError, add_control_route, control_body

from .errors import json_response

if TYPE_CHECKING:
    from .app import LogitrailSandbox


def add_routes(app: web.Application, sandbox: LogitrailSandbox, harness: CallHarness[Any]) -> None:
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

    add_control_route(
        app, harness, "POST", "/_control/expire-tokens", expire_tokens, what="expire_tokens"
    )
    add_control_route(app, harness, "GET", "/_control/orders", list_orders, what="orders")
    add_control_route(
        app, harness, "POST", "/_control/orders/{id}/status", set_status, what="status"
    )
