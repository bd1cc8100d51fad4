"""`/v1/orders`: thin handlers — parse, call `OrderService`, render."""

from __future__ import annotations

import re

import orjson
from aiohttp import web

from gateway.api.auth import require
from gateway.api.body import read_json
from gateway.api.keys import CHANGES, SERVICE, SETTINGS, STORE
from gateway.api.params import read_query
from gateway.api.spec import ORDER_ID, Header, describe
from gateway.errors import FieldProblem, ProblemError
from gateway.model.orders import CanonicalOrder
from gateway.model.query import encode_cursor
from gateway.model.responses import ListOrdersQuery, OrderList, OrderView
from gateway.orders.changes import IMMUTABLE_FIELDS, OrderChange
from gateway.orders.views import order_view
from gateway.store import OrderFilter
from gateway.submissions.idempotency import Answer

routes = web.RouteTableDef()

_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def json_response(
    body: object,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(body), headers=headers, content_type="application/json"
    )


def configured_providers(app: web.Application) -> list[str]:
    """The providers of the configuration: the values a `provider` parameter takes."""
    return sorted(app[SETTINGS].providers)


def idempotency_key(request: web.Request, what: str) -> str:
    """The request's `Idempotency-Key` (400 when missing or malformed)."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        raise ProblemError(
            400,
            "idempotency-key-missing",
            "Idempotency-Key header required",
            detail=f"send a unique Idempotency-Key header with every new {what}",
            errors=[FieldProblem("header.Idempotency-Key", "required")],
        )
    if not _KEY.match(key):
        raise ProblemError(
            400,
            "idempotency-key-invalid",
            "Idempotency-Key is malformed",
            detail="1–255 printable ASCII characters without spaces",
            errors=[FieldProblem("header.Idempotency-Key", "malformed")],
        )
    return key


def idempotency_header(what: str) -> Header:
    """How `idempotency_key` is documented: the same pattern it enforces."""
    return Header(
        "Idempotency-Key", f"unique per new {what}; a replay answers the same", True, _KEY.pattern
    )


def answer_response(answer: Answer) -> web.Response:
    """A use-case's stored answer as sent (a replay sends exactly these bytes again)."""
    return web.Response(
        status=answer.status,
        body=answer.body,
        headers=answer.headers,
        content_type="application/problem+json" if answer.status >= 400 else "application/json",
    )


@routes.post("/v1/orders")
@describe(
    "Submit a canonical order (exactly once per Idempotency-Key)",
    tag="orders",
    body=CanonicalOrder,
    responses={201: OrderView, 202: OrderView},
    problems=(409,),
    response_headers={
        201: ["Location", "Idempotent-Replayed"],
        202: ["Location", "Idempotent-Replayed"],
        409: ["Retry-After"],
    },
    headers=[idempotency_header("order")],
    scopes=("orders:write",),
)
async def submit_order(request: web.Request) -> web.Response:
    client = require(request, "orders:write")
    key = idempotency_key(request, "order")
    order = await read_json(request, CanonicalOrder)
    return answer_response(await request.app[SERVICE].submit(client, key, order))


@routes.get("/v1/orders/{id}")
@describe(
    "One order with its history",
    path={"id": ORDER_ID},
    tag="orders",
    responses={200: OrderView},
    problems=(404,),
    scopes=("orders:read",),
)
async def get_order(request: web.Request) -> web.Response:
    client = require(request, "orders:read")
    return json_response(await request.app[SERVICE].get(client, request.match_info["id"]))


@routes.post("/v1/orders/{id}/cancel")
@describe(
    "Cancel: in the gateway while queued, else at the provider (409 not-cancellable)",
    path={"id": ORDER_ID},
    tag="orders",
    responses={200: OrderView},
    problems=(404, 409, 503),
    response_headers={409: ["Retry-After"]},
    scopes=("orders:write",),
)
async def cancel_order(request: web.Request) -> web.Response:
    client = require(request, "orders:write")
    row = await request.app[CHANGES].cancel(client, request.match_info["id"])
    return await _render(request, row.id)


@routes.patch("/v1/orders/{id}")
@describe(
    "Change recipient, address, lines or dates while the provider allows it",
    path={"id": ORDER_ID},
    tag="orders",
    body=OrderChange,
    responses={200: OrderView},
    problems=(404, 409, 503),
    response_headers={409: ["Retry-After"]},
    scopes=("orders:write",),
)
async def change_order(request: web.Request) -> web.Response:
    client = require(request, "orders:write")
    change = await read_json(request, OrderChange, immutable=IMMUTABLE_FIELDS)
    row = await request.app[CHANGES].change(client, request.match_info["id"], change)
    return await _render(request, row.id)


@routes.post("/v1/orders/{id}/refresh")
@describe(
    "Read the order's state from its provider now",
    path={"id": ORDER_ID},
    tag="orders",
    responses={200: OrderView},
    problems=(404, 503),
    scopes=("orders:read", "orders:write"),
)
async def refresh_order(request: web.Request) -> web.Response:
    client = require(request, "orders:read", "orders:write")
    row = await request.app[CHANGES].refresh(client, request.match_info["id"])
    return await _render(request, row.id)


async def _render(request: web.Request, order_id: str) -> web.Response:
    store = request.app[STORE]
    row = await store.get_order(order_id)
    assert row is not None
    return json_response(order_view(row, await store.history(order_id)))


@routes.get("/v1/orders")
@describe(
    "This client's orders, newest first, cursor-paginated",
    tag="orders",
    query=ListOrdersQuery,
    responses={200: OrderList},
    problems=(400,),
    scopes=("orders:read",),
    choices={"provider": configured_providers},
)
async def list_orders(request: web.Request) -> web.Response:
    client = require(request, "orders:read")
    query = read_query(request, ListOrdersQuery)
    flt = OrderFilter(
        external_id=query.external_id,
        status=query.status,
        provider=query.provider,
        updated_since=query.updated_since,
        before_id=query.cursor,
        limit=query.limit,
    )
    rows, more = await request.app[SERVICE].list(client, flt)
    cursor = encode_cursor(rows[-1].id) if more and rows else None
    return json_response({"items": [order_view(r) for r in rows], "next_cursor": cursor})
