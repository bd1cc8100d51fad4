"""`LogenticSandbox`: a faithful simulator of Logentic API v1 (docs/providers/logentic.md).

Routes, relative to where `app` is mounted (the gateway mounts it at `/_sandbox/logentic`,
and its `base_url` is `…/_sandbox/logentic/v1`), all needing `Authorization: Bearer <token>`:

| op | route |
|---|---|
| create | `POST /v1/orders` (the documented required fields; a 422 names every failing field) |
| list | `GET /v1/orders?external_name=a,b&updated_at_start=&updated_at_end=&shopify_order_id=` |
| get | `GET /v1/orders/{id}` |
| update | `PUT /v1/orders/{id}` (while PENDING; `{"status": "CANCELLED"}` cancels) |
| items | `GET /v1/items?external_name=&shopify_variant_id=` |
| item | `GET /v1/items/{id}` |
| create_item | `POST /v1/items` |
| quantities | `GET /v1/items/item_quantities`, `GET /v1/items/{id}/item_quantities` |

POST and PUT need `Content-Type: application/json`. Single resources answer `{"data": {…}}`;
lists `{"data": [...], "meta": {"pagination": {…, "links": {"previous", "next"}}}}` with
absolute links (`page`, `per_page` up to 100). Errors are `{"message", "errors"}`.

Webhooks (`webhooks.py`) go to `webhook_url` when an order is created and whenever its status
moves to one with a topic (by `advance`, a PUT cancel, or the autopilot). Every API call is
recorded and may be faulted through the shared harness (`gateway.sandbox.harness`); the
`/_control/...` routes (`control.py`) are neither. Every response has an `x-correlation-id`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web

from gateway.sandbox.harness import (
    Autopilot,
    ControlRoute,
    Operation,
    Simulator,
    deliveries_route,
)

from . import api, control
from .errors import STYLE
from .faults import Fault
from .state import CREATED_TOPIC, LogenticItem, LogenticOrder, LogenticState
from .webhooks import WebhookSender

AUTOPILOT = ("PENDING", "PICKED", "PACKED", "IN_TRANSIT", "COMPLETED")


class LogenticSandbox(Simulator[Fault, LogenticState]):
    """The Logentic API simulator: state, webhooks, faults, records, and its aiohttp `app`.

    `autopilot_s` (for the demo): every new order moves one step along PENDING → PICKED →
    PACKED → IN_TRANSIT → COMPLETED every so many seconds, each with its webhook, until
    something else changes its status.
    """

    _sender: WebhookSender

    def __init__(
        self,
        *,
        token: str,
        webhook_secret: str | None = None,
        webhook_url: str | None = None,
        warehouses: dict[int, str] | None = None,
        per_page: int = 50,
        clock: Callable[[], float] = time.time,
        seed: int = 0,
        autopilot_s: float | None = None,
    ) -> None:
        self.state = LogenticState(
            token=token,
            warehouses=warehouses if warehouses is not None else {1: "MTL"},
            per_page=per_page,
            clock=clock,
        )
        self.state.on_event = self._on_event
        self._sender = WebhookSender(secret=webhook_secret, url=webhook_url, clock=clock)
        self._autopilot = Autopilot("logentic", autopilot_s)
        self.orders: dict[int, LogenticOrder] = self.state.orders
        self.items: dict[int, LogenticItem] = self.state.items
        self._serve("logentic", Fault, STYLE, api.OPERATIONS, seed=seed, clock=clock)

    # items and stock -------------------------------------------------------------------
    def add_item(
        self,
        sku: str,
        *,
        name: str | None = None,
        width_in: float = 1.0,
        depth_in: float = 1.0,
        height_in: float = 1.0,
        weight: float = 1.0,
        stock: dict[int, int] | None = None,
        shopify_variant_id: str | None = None,
    ) -> int:
        """Add an item whose SKU (`external_name`) is `sku`, with `stock` {warehouse_id: units}.

        `ValueError` if the SKU exists already or a warehouse is unknown.
        """
        if any(i.external_name == sku for i in self.items.values()):
            raise ValueError(f"an item with the SKU {sku!r} exists already")
        unknown = set(stock or {}) - set(self.state.warehouses)
        if unknown:
            raise ValueError(f"unknown warehouse ids {sorted(unknown)}")
        item = self.state.add_item(
            {
                "name": name or sku,
                "external_name": sku,
                "width_in": width_in,
                "depth_in": depth_in,
                "height_in": height_in,
                "weight": weight,
                "shopify_variant_id": shopify_variant_id,
            }
        )
        for warehouse_id, units in (stock or {}).items():
            self.state.set_stock(item.id, warehouse_id, units)
        return item.id

    def set_stock(self, sku_or_item_id: str | int, warehouse_id: int, units: int) -> None:
        """Set `supply` of an item (by SKU or id) in a warehouse, creating its stock record.

        `KeyError`: no such item (or the SKU is ambiguous); `ValueError`: unknown warehouse.
        """
        self.state.set_stock(self.state.item(sku_or_item_id).id, warehouse_id, units)

    # orders ----------------------------------------------------------------------------
    def orders_by_external_name(self, name: str) -> list[LogenticOrder]:
        return [o for o in self.orders.values() if o.external_name == name]

    async def advance(self, order_id: int, status: str) -> None:
        """Move an order to any status, and queue the matching webhook if `webhook_url` is set.

        `KeyError`: unknown order; `ValueError`: unknown status. Returns once the webhook is
        queued; `drain_webhooks()` waits for its delivery.
        """
        self.state.set_status(self.orders[order_id], status)

    # webhooks --------------------------------------------------------------------------
    async def send_webhook(
        self, topic: str, body: dict[str, Any], *, signature: str | None = None
    ) -> int:
        """POST `body` once to `webhook_url` with `topic`, signed, or with the `signature` given
        (e.g. a forged one); returns the HTTP status (0: connection error)."""
        return await self._sender.send(topic, body, signature=signature)

    def _on_event(self, topic: str, order: LogenticOrder) -> None:
        self._sender.announce(topic, order.id, order.to_json())
        if topic == CREATED_TOPIC:
            self._autopilot.start(order, AUTOPILOT, self.state.set_status)

    # the aiohttp side -------------------------------------------------------------------
    def _control_routes(self) -> Iterable[ControlRoute]:
        return [*control.routes(self), deliveries_route(self.deliveries)]

    async def _perform(
        self, request: web.Request, operation: Operation[LogenticState]
    ) -> web.StreamResponse:
        api.authorize(self.state, request)
        api.require_json(request)
        return await operation.handler(self.state, request)
