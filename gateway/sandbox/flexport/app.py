"""`FlexportSandbox`: a faithful simulator of the Flexport Logistics API 2026-02.

Routes below `/logistics/api/{version}` (any released version or `unstable`; another is a
400 like any non-existent path), relative to where `app` is mounted (the gateway mounts it
at `/_sandbox/flexport`, which is then its `base_url`), all needing `Authorization: Bearer
<token>` with the right scope:

| op | route | scope |
|---|---|---|
| create | `POST /orders` | `write_logistics_orders` |
| get · find | `GET /orders/{id}` · `GET /orders/external_id/{ext}` | `*_logistics_orders` |
| cancel | `POST /orders/{id}/cancel` | `write_logistics_orders` |
| b2b_create · b2b_get · b2b_find · b2b_cancel | the same under `/orders/rs` | `*_orders_b2b` |
| products | `GET /products?limit=&offset=` | `read_logistics_products` |
| inventory | `GET /products/inventory/all?limit=&offset=&poolName=` | `read_logistics_products` |
| inventory_by_warehouse | `POST /products/warehouse` | `read_logistics_products` (a read) |
| warehouses | `GET /warehouses/active` | `read_logistics_warehouses` |

Errors are `application/problem+json`; every response has `x-correlation-id`. A refused
token is 401, a missing scope 403, a locked account (`lock()`) 423 on every call. POSTs with
an `idempotency-key` are stored per (token, key) for `idempotency_ttl_s`: the same request
again gets the stored answer with `idempotent-replayed: true` (even if the first answer never
reached the client), a different body under the same key 422, the same key while the first
still runs 409. Without a key a D2C `externalOrderId` that exists is 409.

Webhooks (`webhooks.py`, ids only) go to `webhook_url` as orders move (`advance`, a cancel, or
the autopilot). Every API call is recorded and may be faulted through the shared harness
(`gateway.sandbox.harness`), 429 + `Retry-After` and 423 included; `/_control/…` routes
(`control.py`) are neither.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson
from aiohttp import web

from gateway.sandbox.harness import (
    Autopilot,
    ControlRoute,
    Operation,
    Simulator,
    deliveries_route,
)

from . import api, control
from .errors import STYLE, ApiError
from .faults import Fault
from .return_record import FlexportReturn
from .state import B2B_STEPS, D2C_STEPS, B2BOrder, D2COrder, FlexportState, Order, Shipment, Stored
from .webhooks import WebhookSender

PREFIX = "/logistics/api/{version}"


class FlexportSandbox(Simulator[Fault, FlexportState]):
    """The Flexport API simulator: state, webhooks, faults, records, and its aiohttp `app`.

    `tokens`: token → its scopes (None: every scope). `autopilot_s` (for the demo): every new
    order takes one step along its lifecycle every so many seconds, each with its webhooks,
    until something else changes its status.
    """

    _sender: WebhookSender

    def __init__(
        self,
        *,
        tokens: Mapping[str, frozenset[str] | None],
        webhook_token: str | None = None,
        webhook_token_header: str = "X-Flexport-Webhook-Token",  # noqa: S107 (a header name)
        webhook_url: str | None = None,
        idempotency_ttl_s: float = 24 * 3600,
        clock: Callable[[], float] = time.time,
        seed: int = 0,
        autopilot_s: float | None = None,
    ) -> None:
        self.state = FlexportState(tokens=dict(tokens), clock=clock)
        self.state.on_event = self._on_event
        self.idempotency_ttl_s = idempotency_ttl_s
        self._sender = WebhookSender(
            token=webhook_token, token_header=webhook_token_header, url=webhook_url, clock=clock
        )
        self._autopilot = Autopilot("flexport", autopilot_s)
        self.d2c: dict[int, D2COrder] = self.state.d2c
        self.b2b: dict[int, B2BOrder] = self.state.b2b
        self.returns: dict[int, FlexportReturn] = self.state.returns
        self._serve("flexport", Fault, STYLE, api.OPERATIONS, seed=seed, clock=clock, prefix=PREFIX)

    # account, tokens, products -----------------------------------------------------------
    def add_product(
        self,
        merchant_sku: str,
        *,
        logistics_sku: str,
        name: str | None = None,
        stock: Mapping[str, int] | None = None,
    ) -> None:
        """Add a product, with `stock` {warehouse code: units available}; `ValueError` if
        the logisticsSku exists or a warehouse or a number of units is not valid."""
        for warehouse, units in (stock or {}).items():
            _check_stock(warehouse, units)
        self.state.add_product(merchant_sku, logistics_sku, name or merchant_sku)
        for warehouse, units in (stock or {}).items():
            self.state.set_stock(logistics_sku, warehouse, units)

    def set_stock(self, sku: str, warehouse: str, units: int) -> None:
        """Units available of a product (by logisticsSku or merchantSku) in a warehouse
        (`api.WAREHOUSES`); `KeyError`: no such product, `ValueError`: bad warehouse/units."""
        _check_stock(warehouse, units)
        product = self.state.products.get(sku) or self.state.by_merchant_sku(sku)
        if product is None:
            raise KeyError(sku)
        self.state.set_stock(product.logistics_sku, warehouse, units)

    def set_scopes(self, token: str, scopes: frozenset[str] | None) -> None:
        """Give a token these scopes (None: every scope), as an administrator would."""
        self.state.tokens[token] = scopes

    def revoke_token(self, token: str) -> None:
        """The token expires (or an administrator revokes it): 401 from now on."""
        self.state.tokens.pop(token, None)

    def approve_returns(self, approved: bool = True) -> None:
        """The account gets (or loses) Flexport's approval for returns (403 without it)."""
        self.state.returns_approved = approved

    def advance_return(self, return_id: int | str, status: str) -> None:
        """Move a return to any status: CREATED, SHIPPED, RECEIVED_FOR_PROCESSING, PROCESSED,
        CANCELLED (`KeyError`: unknown return, `ValueError`: unknown status)."""
        self.state.set_return_status(self.state.returns[int(return_id)], status)

    def lock(self, locked: bool = True) -> None:
        """Freeze the account: every API call answers 423 Locked until unlocked."""
        self.state.locked = locked

    # orders ------------------------------------------------------------------------------
    def orders_by_external_id(self, external_id: str) -> list[Order]:
        """D2C orders and B2B outbounds with this external id."""
        d2c = [o for o in self.d2c.values() if o.external_order_id == external_id]
        b2b = [o for o in self.b2b.values() if o.external_id == external_id]
        return [*d2c, *b2b]

    def order(self, order_id: int | str) -> Order:
        """A D2C order or B2B outbound by id; `KeyError` if none."""
        key = int(order_id)
        found = self.d2c.get(key) or self.b2b.get(key)
        if found is None:
            raise KeyError(order_id)
        return found

    async def advance(self, order_id: int | str, status: str) -> None:
        """Move an order to any status of its kind, queueing its webhooks.

        D2C: CREATED, PICKING, PACKED, SHIPPED, DELIVERED, CANCELLED, ERROR, STOPPED.
        B2B: PLANNED, BOOKED, IN_PROGRESS, TENDERED, COMPLETED, CANCELLED, LOST_DAMAGED, ERROR.
        `KeyError`: unknown order; `ValueError`: unknown status. `drain_webhooks()` waits
        for the deliveries.
        """
        self.state.set_status(self.order(order_id), status)

    # webhooks ----------------------------------------------------------------------------
    async def send_webhook(self, payload: Any, *, token: str | None = None) -> int:
        """POST `payload` once to `webhook_url` with `token` (default: the configured one)."""
        return await self._sender.send(payload, token=token)

    def _on_event(self, event_type: str, order: Order, shipment: Shipment | None) -> None:
        ids: dict[str, Any] = {
            "orderId": order.id if isinstance(order, D2COrder) else order.order_id,
            "externalOrderId": order.external_order_id
            if isinstance(order, D2COrder)
            else order.external_id,
        }
        if shipment is not None:
            ids["id"] = shipment.id
        self._sender.announce(event_type, ids)
        if event_type == "Order.Submitted":
            steps = D2C_STEPS if isinstance(order, D2COrder) else B2B_STEPS
            self._autopilot.start(order, steps, self.state.set_status)

    # the aiohttp side -------------------------------------------------------------------
    def _control_routes(self) -> Iterable[ControlRoute]:
        return [
            *control.routes(self),
            deliveries_route(self.deliveries, topic_key="event_type", headers=False),
        ]

    async def _perform(
        self, request: web.Request, operation: Operation[FlexportState]
    ) -> web.StreamResponse:
        version = request.match_info["version"]
        if version not in api.VERSIONS:
            raise ApiError(400, f"Non-existent URL path used: unknown API version {version}.")
        if self.state.locked:
            raise ApiError(423, "Access to the Logistics API is locked and denied.")
        token = self._authorize(request, operation)
        key = request.headers.get("idempotency-key")
        if request.method != "POST" or not key:
            return await operation.handler(self.state, request)
        return await self._idempotent(request, operation, token, key)

    def _authorize(self, request: web.Request, operation: Operation[FlexportState]) -> str:
        scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or token not in self.state.tokens:
            raise ApiError(401, "The access token is invalid or expired.")
        scopes = self.state.tokens[token]
        wanted = {f"write_{operation.scope}"}
        if request.method == "GET" or operation.op in api.READS_BY_POST:
            wanted.add(f"read_{operation.scope}")
        if scopes is not None and not wanted & scopes:
            raise ApiError(
                403,
                f"Access token does not have permission to perform the requested operation "
                f"(needs {' or '.join(sorted(wanted))}).",
            )
        return token

    async def _idempotent(
        self, request: web.Request, operation: Operation[FlexportState], token: str, key: str
    ) -> web.StreamResponse:
        raw = await request.read()
        try:
            canonical = orjson.dumps(orjson.loads(raw), option=orjson.OPT_SORT_KEYS)
        except orjson.JSONDecodeError:
            canonical = raw
        fingerprint = hashlib.sha256(request.path.encode() + b"\n" + canonical).hexdigest()
        now = self.state.clock()
        scope = (token, key)
        stored = self.state.keys.get(scope)
        if stored is not None and stored.expires_at <= now:
            del self.state.keys[scope]
            stored = None
        if stored is not None:
            if stored.status is None:
                raise ApiError(409, "A request with this idempotency-key is still being processed.")
            if stored.fingerprint != fingerprint:
                raise ApiError(
                    422, "This idempotency-key was already used with a different request."
                )
            self.state.replayed.append(key)
            return web.Response(
                status=stored.status,
                body=stored.body,
                content_type=stored.content_type,
                headers={"idempotent-replayed": "true"},
            )
        record = Stored(fingerprint, now + self.idempotency_ttl_s)
        self.state.keys[scope] = record
        try:
            response = await operation.handler(self.state, request)
        except ApiError as error:
            response = error.response()
        except BaseException:
            del self.state.keys[scope]
            raise
        if response.status >= 500:
            del self.state.keys[scope]
        else:
            record.status, record.content_type = response.status, response.content_type
            record.body = bytes(response.body) if isinstance(response.body, bytes) else b""
        return response


def _check_stock(warehouse: str, units: int) -> None:
    if warehouse not in api.WAREHOUSES:
        raise ValueError(f"unknown warehouse {warehouse!r} (one of {', '.join(api.WAREHOUSES)})")
    if isinstance(units, bool) or not isinstance(units, int) or units < 0:
        raise ValueError("units must be a whole number, at least 0")
