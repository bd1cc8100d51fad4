"""The Flexport Logistics API as the sandbox performs it (docs/providers/flexport.md).

Handlers are plain functions of the sandbox state and the request; they raise `ApiError` for
every error answer. Bearer token (401), scope (403), account lock (423) and the API version
(404) are checked first, by the app, as part of performing the operation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from gateway.sandbox.harness import Operation, json_response, op_names
from gateway.sandbox.harness.records import found

from . import inventory, returns
from .errors import ApiError
from .state import B2B_CANCELLABLE, FlexportState, Order
from .validation import b2b_order, d2c_order, json_body, page_of

Handler = Callable[[FlexportState, web.Request], Awaitable[web.Response]]
VERSIONS = frozenset(
    {
        "2023-04",
        "2023-07",
        "2023-10",
        "2024-01",
        "2024-04",
        "2024-07",
        "2025-03",
        "2026-02",
        "unstable",
    }
)
WAREHOUSES = ("ATL1", "LAX2", "RNO1")


def _today(state: FlexportState) -> Any:
    return datetime.fromtimestamp(state.clock(), UTC).date()


# orders: D2C orders and B2B outbounds share their get, find and cancel -----------------------
@dataclass(frozen=True)
class _Kind:
    """Where orders of one kind are kept, and how their routes word what they refuse."""

    table: Callable[[FlexportState], Mapping[int, Order]]
    find: Callable[[FlexportState, str], Order | None]
    external_key: str
    cancellable: frozenset[str]
    not_cancellable: Callable[[Order], str]


D2C = _Kind(
    lambda state: state.d2c,
    FlexportState.find_d2c,
    "externalOrderId",
    # Possible until the warehouse starts on it; impossible once processed and shipped.
    frozenset({"CREATED"}),
    lambda order: (
        f"Order {order.id} can no longer be cancelled: fulfillment has started ({order.status})."
    ),
)
B2B = _Kind(
    lambda state: state.b2b,
    FlexportState.find_b2b,
    "externalId",
    # "Once the warehouse starts processing (IN_PROGRESS or later), cancellation is no longer
    # possible via the API".
    B2B_CANCELLABLE,
    lambda order: (
        f"Order {order.id} is {order.status}: only PLANNED or BOOKED orders can be cancelled."
    ),
)


def _order(kind: _Kind, state: FlexportState, request: web.Request) -> Order:
    raw = request.match_info["id"]
    return found(kind.table(state), int(raw), lambda: ApiError(404, f"Cannot find order {raw}"))


def _get(kind: _Kind) -> Handler:
    async def get(state: FlexportState, request: web.Request) -> web.Response:
        return json_response(_order(kind, state, request).to_json())

    return get


def _find(kind: _Kind) -> Handler:
    async def find(state: FlexportState, request: web.Request) -> web.Response:
        external = request.match_info["ext"]
        order = kind.find(state, external)
        if order is None:
            raise ApiError(404, f"Cannot find order with {kind.external_key} {external}")
        return json_response(order.to_json())

    return find


def _cancel(kind: _Kind) -> Handler:
    async def cancel(state: FlexportState, request: web.Request) -> web.Response:
        order = _order(kind, state, request)
        if order.status != "CANCELLED":
            if order.status not in kind.cancellable:
                raise ApiError(400, kind.not_cancellable(order), code=407001)
            state.set_status(order, "CANCELLED")
        return json_response(order.to_json())

    return cancel


async def create_order(state: FlexportState, request: web.Request) -> web.Response:
    body = d2c_order(await json_body(request), set(state.products))
    if state.find_d2c(body["externalOrderId"]) is not None:
        raise ApiError(
            409,
            f"An order with externalOrderId {body['externalOrderId']} already exists; "
            "use idempotency-key to retry safely.",
        )
    return json_response(state.create_d2c(body).to_json(), status=201)


async def create_outbound(state: FlexportState, request: web.Request) -> web.Response:
    body = b2b_order(await json_body(request), today=_today(state))
    return json_response(state.create_b2b(body).to_json(), status=201)


# products and warehouses ---------------------------------------------------------------------
async def list_products(state: FlexportState, request: web.Request) -> web.Response:
    """`?limit=` (default 20, max 100) `&offset=`: a bare JSON array of products."""
    limit, offset = page_of(request)
    rows = [p.to_json() for p in state.products.values()]
    return json_response(rows[offset : offset + limit])


async def active_warehouses(_state: FlexportState, _request: web.Request) -> web.Response:
    return json_response(list(WAREHOUSES))


# Operation(op, method, path, handler, scope): `scope` is `logistics_orders` etc., needing
# `write_` for POST, `read_` (or `write_`) for GET.
_B2B, _D2C, _RETURNS = "logistics_orders_b2b", "logistics_orders", "logistics_returns"
OPERATIONS: tuple[Operation[FlexportState], ...] = (
    Operation("b2b_create", "POST", "/orders/rs", create_outbound, _B2B),
    Operation("b2b_find", "GET", "/orders/rs/external_id/{ext}", _find(B2B), _B2B),
    Operation("b2b_get", "GET", r"/orders/rs/{id:\d+}", _get(B2B), _B2B),
    Operation("b2b_cancel", "POST", r"/orders/rs/{id:\d+}/cancel", _cancel(B2B), _B2B),
    Operation("create", "POST", "/orders", create_order, _D2C),
    Operation("find", "GET", "/orders/external_id/{ext}", _find(D2C), _D2C),
    Operation("get", "GET", r"/orders/{id:\d+}", _get(D2C), _D2C),
    Operation("cancel", "POST", r"/orders/{id:\d+}/cancel", _cancel(D2C), _D2C),
    Operation("return_create", "POST", "/returns", returns.create, _RETURNS),
    Operation("return_list", "GET", "/returns", returns.list_returns, _RETURNS),
    Operation("return_get", "GET", r"/returns/{id:\d+}", returns.get, _RETURNS),
    Operation("return_cancel", "POST", r"/returns/{id:\d+}/cancel", returns.cancel, _RETURNS),
    Operation("products", "GET", "/products", list_products, "logistics_products"),
    Operation(
        "inventory", "GET", "/products/inventory/all", inventory.all_inventory, "logistics_products"
    ),
    Operation(
        "inventory_by_warehouse",
        "POST",
        "/products/warehouse",
        inventory.warehouse_details,
        "logistics_products",
    ),
    Operation("warehouses", "GET", "/warehouses/active", active_warehouses, "logistics_warehouses"),
)
OPS = op_names(OPERATIONS)
READS_BY_POST = frozenset({"inventory_by_warehouse"})
"""POSTs that only read: a `read_` scope is enough."""
