"""Flexport's own control routes, beside the shared ones of `gateway.sandbox.harness`.

No auth, not recorded, never faulted. Relative to the mount point:

| route | does |
|---|---|
| `POST /_control/products` | `{"merchantSku", "logisticsSku", "name"?}` → 201 the product |
| `POST /_control/stock` | `{"sku" (logisticsSku or merchantSku), "warehouseId", "units"}` |
| `GET /_control/orders` | every D2C order and B2B outbound, as the API shows them |
| `POST /_control/orders/{id}/status` | `{"status": "SHIPPED"}`: `advance` (and its webhooks) |
| `POST /_control/lock` | `{"locked": true}`: every API call answers 423 until unlocked |
| `POST /_control/tokens/revoke` | `{"token": "…"}`: that token is refused (401) from now on |
| `GET /_control/deliveries` | every webhook POST made (`body` as text) |
"""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp import web

from gateway.sandbox.harness import (
    ControlError,
    ControlRoute,
    control_object,
    json_response,
)

from .state import B2BOrder, D2COrder, FlexportState, Order


class Controlled(Protocol):
    """What these routes use of `FlexportSandbox` (a protocol: its module imports this one)."""

    state: FlexportState
    d2c: dict[int, D2COrder]
    b2b: dict[int, B2BOrder]

    def add_product(
        self, merchant_sku: str, *, logistics_sku: str, name: str | None = None
    ) -> None: ...
    def set_stock(self, sku: str, warehouse: str, units: int) -> None: ...
    def revoke_token(self, token: str) -> None: ...
    def lock(self, locked: bool = True) -> None: ...
    def order(self, order_id: int | str) -> Order: ...
    async def advance(self, order_id: int | str, status: str) -> None: ...


def _string(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise ControlError(400, "invalid_body", f"{name} must be a non-empty string")
    return value


def routes(sandbox: Controlled) -> list[ControlRoute]:
    async def add_product(request: web.Request) -> web.Response:
        body = await control_object(request)
        merchant, logistics = _string(body, "merchantSku"), _string(body, "logisticsSku")
        name = body.get("name")
        try:
            sandbox.add_product(
                merchant, logistics_sku=logistics, name=name if isinstance(name, str) else None
            )
        except ValueError as exc:
            raise ControlError(400, "invalid_product", str(exc)) from None
        return json_response(sandbox.state.products[logistics].to_json(), status=201)

    async def set_stock(request: web.Request) -> web.Response:
        body = await control_object(request)
        sku, warehouse, units = (
            _string(body, "sku"),
            _string(body, "warehouseId"),
            body.get("units"),
        )
        if isinstance(units, bool) or not isinstance(units, int):
            raise ControlError(400, "invalid_stock", "units must be an integer")
        try:
            sandbox.set_stock(sku, warehouse, units)
        except KeyError:
            raise ControlError(404, "not_found", f"no product {sku!r}") from None
        except ValueError as exc:
            raise ControlError(400, "invalid_stock", str(exc)) from None
        product = sandbox.state.products.get(sku) or sandbox.state.by_merchant_sku(sku)
        assert product is not None
        held = sandbox.state.stock.get(product.logistics_sku, {})
        return json_response({"logisticsSku": product.logistics_sku, "warehouses": held})

    async def list_orders(_request: web.Request) -> web.Response:
        orders: list[Order] = [*sandbox.d2c.values(), *sandbox.b2b.values()]
        return json_response([{"kind": o.kind, **o.to_json()} for o in orders])

    async def set_status(request: web.Request) -> web.Response:
        body = await control_object(request)
        status = _string(body, "status")
        try:
            await sandbox.advance(request.match_info["id"], status)
        except KeyError:
            raise ControlError(
                404, "not_found", f"order {request.match_info['id']} not found"
            ) from None
        except ValueError as exc:
            raise ControlError(400, "invalid_status", str(exc)) from None
        return json_response(sandbox.order(request.match_info["id"]).to_json())

    async def lock(request: web.Request) -> web.Response:
        body = await control_object(request)
        locked = body.get("locked", True)
        if not isinstance(locked, bool):
            raise ControlError(400, "invalid_body", "locked must be a boolean")
        sandbox.lock(locked)
        return json_response({"locked": locked})

    async def revoke(request: web.Request) -> web.Response:
        sandbox.revoke_token(_string(await control_object(request), "token"))
        return json_response({"success": True})

    return [
        ("POST", "/_control/products", add_product, "products"),
        ("POST", "/_control/stock", set_stock, "stock"),
        ("GET", "/_control/orders", list_orders, "orders"),
        ("POST", r"/_control/orders/{id:\d+}/status", set_status, "status"),
        ("POST", "/_control/lock", lock, "lock"),
        ("POST", "/_control/tokens/revoke", revoke, "revoke"),
    ]
