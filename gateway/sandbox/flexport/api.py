"""The Flexport Logistics API as the sandbox performs it (docs/providers/flexport.md).

Handlers are plain functions of the sandbox state and the request; they raise `ApiError` for
every error answer. Bearer token (401), scope (403), account lock (423) and the API version
(404) are checked first, by the app, as part of performing the operation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from . import returns
from .errors import ApiError, json_body, json_response
from .state import B2B_CANCELLABLE, B2BOrder, D2COrder, FlexportState
from .validation import b2b_order, d2c_order

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


@dataclass(frozen=True)
class Operation:
    """One route (below `/logistics/api/{version}`), its op name and the scope it needs."""

    op: str
    method: str
    path: str
    handler: Handler
    scope: str
    """`logistics_orders` etc.: `write_` for POST, `read_` (or `write_`) for GET."""


def _today(state: FlexportState) -> Any:
    return datetime.fromtimestamp(state.clock(), UTC).date()


# D2C orders ----------------------------------------------------------------------------------
def _d2c(state: FlexportState, request: web.Request) -> D2COrder:
    order = state.d2c.get(int(request.match_info["id"]))
    if order is None:
        raise ApiError(404, f"Cannot find order {request.match_info['id']}")
    return order


async def create_order(state: FlexportState, request: web.Request) -> web.Response:
    body = d2c_order(await json_body(request), set(state.products))
    if state.find_d2c(body["externalOrderId"]) is not None:
        raise ApiError(
            409,
            f"An order with externalOrderId {body['externalOrderId']} already exists; "
            "use idempotency-key to retry safely.",
        )
    return json_response(state.create_d2c(body).to_json(), status=201)


async def get_order(state: FlexportState, request: web.Request) -> web.Response:
    return json_response(_d2c(state, request).to_json())


async def find_order(state: FlexportState, request: web.Request) -> web.Response:
    external = request.match_info["ext"]
    order = state.find_d2c(external)
    if order is None:
        raise ApiError(404, f"Cannot find order with externalOrderId {external}")
    return json_response(order.to_json())


async def cancel_order(state: FlexportState, request: web.Request) -> web.Response:
    """Possible until the warehouse starts on it; impossible once processed and shipped."""
    order = _d2c(state, request)
    if order.status != "CANCELLED":
        if order.status != "CREATED":
            raise ApiError(
                400,
                f"Order {order.id} can no longer be cancelled: fulfillment has started "
                f"({order.status}).",
                code=407001,
            )
        state.set_status(order, "CANCELLED")
    return json_response(order.to_json())


# B2B outbounds -------------------------------------------------------------------------------
def _b2b(state: FlexportState, request: web.Request) -> B2BOrder:
    order = state.b2b.get(int(request.match_info["id"]))
    if order is None:
        raise ApiError(404, f"Cannot find order {request.match_info['id']}")
    return order


async def create_outbound(state: FlexportState, request: web.Request) -> web.Response:
    body = b2b_order(await json_body(request), today=_today(state))
    return json_response(state.create_b2b(body).to_json(), status=201)


async def get_outbound(state: FlexportState, request: web.Request) -> web.Response:
    return json_response(_b2b(state, request).to_json())


async def find_outbound(state: FlexportState, request: web.Request) -> web.Response:
    external = request.match_info["ext"]
    order = state.find_b2b(external)
    if order is None:
        raise ApiError(404, f"Cannot find order with externalId {external}")
    return json_response(order.to_json())


async def cancel_outbound(state: FlexportState, request: web.Request) -> web.Response:
    """PLANNED or BOOKED only: "Once the warehouse starts processing (IN_PROGRESS or later),
    cancellation is no longer possible via the API"."""
    order = _b2b(state, request)
    if order.status != "CANCELLED":
        if order.status not in B2B_CANCELLABLE:
            raise ApiError(
                400,
                f"Order {order.id} is {order.status}: only PLANNED or BOOKED orders can be "
                "cancelled.",
                code=407001,
            )
        state.set_status(order, "CANCELLED")
    return json_response(order.to_json())


# products and warehouses ---------------------------------------------------------------------
async def list_products(state: FlexportState, request: web.Request) -> web.Response:
    """`?limit=` (default 20, max 100) `&offset=`: a bare JSON array of products."""
    try:
        limit = int(request.query.get("limit", "20"))
        offset = int(request.query.get("offset", "0"))
    except ValueError:
        raise ApiError(400, "limit and offset must be integers.") from None
    if not 1 <= limit <= 100 or offset < 0:
        raise ApiError(400, "limit must be within 1..100 and offset at least 0.")
    rows = [p.to_json() for p in state.products.values()]
    return json_response(rows[offset : offset + limit])


async def active_warehouses(_state: FlexportState, _request: web.Request) -> web.Response:
    return json_response(list(WAREHOUSES))


OPERATIONS = (
    Operation("b2b_create", "POST", "/orders/rs", create_outbound, "logistics_orders_b2b"),
    Operation(
        "b2b_find", "GET", "/orders/rs/external_id/{ext}", find_outbound, "logistics_orders_b2b"
    ),
    Operation("b2b_get", "GET", r"/orders/rs/{id:\d+}", get_outbound, "logistics_orders_b2b"),
    Operation(
        "b2b_cancel", "POST", r"/orders/rs/{id:\d+}/cancel", cancel_outbound, "logistics_orders_b2b"
    ),
    Operation("create", "POST", "/orders", create_order, "logistics_orders"),
    Operation("find", "GET", "/orders/external_id/{ext}", find_order, "logistics_orders"),
    Operation("get", "GET", r"/orders/{id:\d+}", get_order, "logistics_orders"),
    Operation("cancel", "POST", r"/orders/{id:\d+}/cancel", cancel_order, "logistics_orders"),
    Operation("return_create", "POST", "/returns", returns.create, "logistics_returns"),
    Operation("return_list", "GET", "/returns", returns.list_returns, "logistics_returns"),
    Operation("return_get", "GET", r"/returns/{id:\d+}", returns.get, "logistics_returns"),
    Operation(
        "return_cancel", "POST", r"/returns/{id:\d+}/cancel", returns.cancel, "logistics_returns"
    ),
    Operation("products", "GET", "/products", list_products, "logistics_products"),
    Operation("warehouses", "GET", "/warehouses/active", active_warehouses, "logistics_warehouses"),
)
OPS = frozenset(operation.op for operation in OPERATIONS)
