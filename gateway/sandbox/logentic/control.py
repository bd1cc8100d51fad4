"""Logentic's own control routes, beside the shared ones of `gateway.sandbox.harness`.

No auth, not recorded, never faulted. Relative to the mount point:

| route | does |
|---|---|
| `POST /_control/items` | body = `add_item` keyword arguments and `sku` → 201 the item |
| `GET /_control/items` | all items |
| `POST /_control/stock` | `{"sku" or "item_id", "warehouse_id", "units"}` → the stock record |
| `GET /_control/orders` | all orders, as `GET /v1/orders/{id}` shows them |
| `POST /_control/orders/{id}/status` | `{"status": "PICKED"}`: `advance` (and its webhook) |
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
    status_mover,
)

from .state import LogenticItem, LogenticOrder, LogenticState


class Controlled(Protocol):
    """What these routes use of `LogenticSandbox` (a protocol: its module imports this one)."""

    state: LogenticState
    orders: dict[int, LogenticOrder]
    items: dict[int, LogenticItem]

    # Given a body's arguments, which `_ITEM_ARGS` checks (its signature is `add_item`'s own).
    def add_item(self, *args: Any, **kwargs: Any) -> int: ...
    def set_stock(self, sku_or_item_id: str | int, warehouse_id: int, units: int) -> None: ...
    async def advance(self, order_id: int, status: str) -> None: ...


_ITEM_ARGS: dict[str, tuple[type, ...]] = {
    "sku": (str,),
    "name": (str, type(None)),
    "width_in": (int, float),
    "depth_in": (int, float),
    "height_in": (int, float),
    "weight": (int, float),
    "stock": (dict, type(None)),
    "shopify_variant_id": (str, type(None)),
}


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ControlError(400, "invalid_body", f"{name} must be an integer")
    return value


def _item_args(body: dict[str, Any]) -> dict[str, Any]:
    for name, value in body.items():
        accepted = _ITEM_ARGS.get(name)
        if accepted is None or isinstance(value, bool) or not isinstance(value, accepted):
            raise ControlError(400, "invalid_item", f"bad or unknown add_item argument {name!r}")
    if "sku" not in body:
        raise ControlError(400, "invalid_item", 'body must hold at least {"sku": "…"}')
    args = dict(body)
    if args.get("stock") is not None:
        try:
            args["stock"] = {int(w): _int(units, "units") for w, units in args["stock"].items()}
        except ValueError:
            raise ControlError(400, "invalid_item", "stock keys are warehouse ids") from None
    return args


def routes(sandbox: Controlled) -> list[ControlRoute]:
    async def add_item(request: web.Request) -> web.Response:
        args = _item_args(await control_object(request))
        try:
            item_id = sandbox.add_item(args.pop("sku"), **args)
        except (KeyError, ValueError) as exc:
            raise ControlError(400, "invalid_item", str(exc)) from None
        return json_response(sandbox.items[item_id].to_json(), status=201)

    async def list_items(_request: web.Request) -> web.Response:
        return json_response([i.to_json() for i in sandbox.items.values()])

    async def set_stock(request: web.Request) -> web.Response:
        body = await control_object(request)
        item = body.get("item_id", body.get("sku"))
        if not isinstance(item, str | int) or isinstance(item, bool):
            raise ControlError(400, "invalid_stock", 'give "sku" or "item_id"')
        warehouse_id = _int(body.get("warehouse_id"), "warehouse_id")
        units = _int(body.get("units"), "units")
        try:
            sandbox.set_stock(item, warehouse_id, units)
            record = sandbox.state.quantities[(sandbox.state.item(item).id, warehouse_id)]
        except (KeyError, ValueError) as exc:
            raise ControlError(400, "invalid_stock", str(exc)) from None
        return json_response(sandbox.state.quantity_json(record))

    async def list_orders(_request: web.Request) -> web.Response:
        return json_response([o.to_json() for o in sandbox.orders.values()])

    set_status = status_mover(
        "order",
        sandbox.orders,
        sandbox.advance,
        LogenticOrder.to_json,
        key=int,
        code="invalid_status",
        wanted="order status",
    )
    return [
        ("POST", "/_control/items", add_item, "items"),
        ("GET", "/_control/items", list_items, "items"),
        ("POST", "/_control/stock", set_stock, "stock"),
        ("GET", "/_control/orders", list_orders, "orders"),
        ("POST", r"/_control/orders/{id:\d+}/status", set_status, "status"),
    ]
