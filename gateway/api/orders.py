"""`/v1/orders`: thin handlers — parse, call `OrderService`, render."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime

import orjson
from aiohttp import web
from multidict import MultiMapping

from gateway.api.auth import require
from gateway.api.body import read_json
from gateway.api.keys import CHANGES, SERVICE, STORE
from gateway.api.spec import Header, describe
from gateway.model.orders import CanonicalOrder, Status
from gateway.model.problems import FieldProblem, ProblemError
from gateway.model.responses import ListOrdersQuery, OrderList, OrderView
from gateway.orders.changes import OrderChange
from gateway.orders.idempotency import Answer
from gateway.orders.views import order_view
from gateway.store import OrderFilter

routes = web.RouteTableDef()

_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
MAX_LIMIT = 200


def json_response(
    body: object,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(body), headers=headers, content_type="application/json"
    )


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
    headers=[Header("Idempotency-Key", "unique per new order; a replay answers the same", True)],
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
    tag="orders",
    body=OrderChange,
    responses={200: OrderView},
    problems=(404, 409, 503),
    response_headers={409: ["Retry-After"]},
    scopes=("orders:write",),
)
async def change_order(request: web.Request) -> web.Response:
    client = require(request, "orders:write")
    change = await read_json(request, OrderChange)
    row = await request.app[CHANGES].change(client, request.match_info["id"], change)
    return await _render(request, row.id)


@routes.post("/v1/orders/{id}/refresh")
@describe(
    "Read the order's state from its provider now",
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
)
async def list_orders(request: web.Request) -> web.Response:
    client = require(request, "orders:read")
    flt = _filter(request.query)
    rows, more = await request.app[SERVICE].list(client, flt)
    cursor = encode_cursor(rows[-1].id) if more and rows else None
    return json_response({"items": [order_view(r) for r in rows], "next_cursor": cursor})


def _filter(query: MultiMapping[str]) -> OrderFilter:
    errors: list[FieldProblem] = []
    status = None
    if "status" in query:
        try:
            status = Status(query["status"])
        except ValueError:
            errors.append(
                FieldProblem("query.status", "must be one of " + ", ".join(s.value for s in Status))
            )
    limit = 50
    if "limit" in query:
        raw = query["limit"]
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
            errors.append(FieldProblem("query.limit", f"must be an integer 1–{MAX_LIMIT}"))
        else:
            limit = int(raw)
    since = None
    if "updated_since" in query:
        try:
            since = datetime.fromisoformat(query["updated_since"])
            if since.tzinfo is None:
                raise ValueError
        except ValueError:
            errors.append(
                FieldProblem(
                    "query.updated_since", "must be an ISO-8601 date-time with a time zone"
                )
            )
    before = None
    if "cursor" in query:
        before = decode_cursor(query["cursor"])
        if before is None:
            errors.append(FieldProblem("query.cursor", "is not a cursor this API returned"))
    if errors:
        raise ProblemError(
            400,
            "invalid-query",
            "Invalid query parameters",
            errors=errors,
            detail="; ".join(f"{e.loc} {e.msg}" for e in errors),
        )
    return OrderFilter(
        external_id=query.get("external_id"),
        status=status,
        provider=query.get("provider"),
        updated_since=since,
        before_id=before,
        limit=limit,
    )


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"b": last_id})).decode().rstrip("=")


def decode_cursor(cursor: str, prefix: str = "ord_") -> str | None:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        return None
    value = data.get("b") if isinstance(data, dict) else None
    return value if isinstance(value, str) and value.startswith(prefix) else None
