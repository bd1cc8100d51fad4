"""`/v1/orders`: thin handlers — parse, call `OrderService`, render."""

from __future__ import annotations

from functools import partial

from aiohttp import web

from gateway.api.answers import answer_response, json_response
from gateway.api.auth import require
from gateway.api.body import read_json
from gateway.api.keys import CHANGES, HOLDS, SERVICE
from gateway.api.params import configured_providers, read_query
from gateway.api.spec import ORDER_ID, RETRY_ON_CONFLICT, describe
from gateway.api.submits import describe_submit, submit_answer, submitted
from gateway.model.clients import Client
from gateway.model.orders import CanonicalOrder
from gateway.model.responses import HoldRequest, ListOrdersQuery, OrderList, OrderView
from gateway.orders.changes import IMMUTABLE_FIELDS, OrderChange
from gateway.orders.views import page_of
from gateway.store import OrderFilter
from gateway.submissions.idempotency import Keyed
from gateway.submissions.resources import ORDERS

routes = web.RouteTableDef()

READ, WRITE = ("orders:read",), ("orders:write",)
_one_order = partial(describe, tag="orders", path={"id": ORDER_ID}, responses={200: OrderView})
"""`describe` of a route about one order (`/v1/orders/{id}…`), which answers it."""


@routes.post("/v1/orders")
@describe_submit(
    "Submit a canonical order (exactly once per Idempotency-Key)",
    tag="orders",
    body=CanonicalOrder,
    view=OrderView,
    what="order",
    scopes=WRITE,
)
async def submit_order(request: web.Request) -> web.Response:
    return await submitted(request, CanonicalOrder, "order", request.app[SERVICE].submit)


@routes.get("/v1/orders/{id}")
@_one_order("One order with its history", problems=(404,), scopes=READ)
async def get_order(request: web.Request) -> web.Response:
    return await _render(request, require(request), request.match_info["id"])


@routes.post("/v1/orders/{id}/cancel")
@_one_order(
    "Cancel: in the gateway while queued, else at the provider (409 not-cancellable)",
    problems=(404, 409, 503),
    response_headers=RETRY_ON_CONFLICT,
    scopes=WRITE,
)
async def cancel_order(request: web.Request) -> web.Response:
    client = require(request)
    row = await request.app[CHANGES].cancel(client, request.match_info["id"])
    return await _render(request, client, row.id)


@routes.patch("/v1/orders/{id}")
@_one_order(
    "Change recipient, address, lines or dates while the provider allows it",
    body=OrderChange,
    problems=(404, 409, 503),
    response_headers=RETRY_ON_CONFLICT,
    scopes=WRITE,
)
async def change_order(request: web.Request) -> web.Response:
    client = require(request)
    change = await read_json(request, OrderChange, immutable=IMMUTABLE_FIELDS)
    row = await request.app[CHANGES].change(client, request.match_info["id"], change)
    return await _render(request, client, row.id)


@routes.post("/v1/orders/{id}/hold")
@_one_order(
    "Hold an order not yet at its provider: sent nowhere until released (409 not-holdable)",
    body=HoldRequest,
    problems=(404, 409),
    scopes=WRITE,
)
async def hold_order(request: web.Request) -> web.Response:
    client = require(request)
    hold = await read_json(request, HoldRequest)
    row = await request.app[HOLDS].hold(client, request.match_info["id"], hold.reason, hold.until)
    return await _render(request, client, row.id)


@routes.post("/v1/orders/{id}/release")
@describe(
    "Release a held order: routed and sent now (201), queued (202), or refused (422)",
    tag="orders",
    path={"id": ORDER_ID},
    responses={201: OrderView, 202: OrderView},
    problems=(404, 409),
    scopes=WRITE,
)
async def release_order(request: web.Request) -> web.Response:
    client = require(request)
    order_id = request.match_info["id"]
    done = await request.app[HOLDS].release(client, order_id)
    return answer_response(Keyed(submit_answer(ORDERS, done), ORDERS, order_id))


@routes.post("/v1/orders/{id}/refresh")
@_one_order(
    "Read the order's state from its provider now",
    problems=(404, 503),
    scopes=("orders:read", "orders:write"),
)
async def refresh_order(request: web.Request) -> web.Response:
    client = require(request)
    row = await request.app[CHANGES].refresh(client, request.match_info["id"])
    return await _render(request, client, row.id)


async def _render(request: web.Request, client: Client, order_id: str) -> web.Response:
    """The client's order as it is stored now, with its history."""
    return json_response(await request.app[SERVICE].get(client, order_id))


@routes.get("/v1/orders")
@describe(
    "This client's orders, newest first, cursor-paginated",
    tag="orders",
    query=ListOrdersQuery,
    responses={200: OrderList},
    scopes=READ,
    choices={"provider": configured_providers},
)
async def list_orders(request: web.Request) -> web.Response:
    client = require(request)
    q = read_query(request, ListOrdersQuery)
    flt = OrderFilter(
        q.external_id, q.status, q.provider, q.updated_since, q.cursor, q.limit, late=q.late
    )
    rows, more, parts = await request.app[SERVICE].list(client, flt)
    return json_response(page_of(rows, more, parts))
