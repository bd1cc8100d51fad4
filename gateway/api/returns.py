"""`/v1/returns`: thin handlers — parse, call `ReturnService`, render.

Scopes: `returns:write` to create, cancel and decide; `returns:read` to read and list.
"""

from __future__ import annotations

from aiohttp import web

from gateway.api.auth import require
from gateway.api.body import read_json
from gateway.api.keys import RETURNS
from gateway.api.orders import (
    answer_response,
    idempotency_header,
    idempotency_key,
    json_response,
)
from gateway.api.params import read_query
from gateway.api.spec import RETURN_ID, describe
from gateway.model.query import encode_cursor
from gateway.model.return_views import ListReturnsQuery, ReturnList, ReturnView
from gateway.model.returns import CanonicalReturn, DecisionRequest
from gateway.returns.views import return_view
from gateway.store import ReturnFilter

routes = web.RouteTableDef()


@routes.post("/v1/returns")
@describe(
    "Return goods of an order through the provider holding it (exactly once per key)",
    tag="returns",
    body=CanonicalReturn,
    responses={201: ReturnView, 202: ReturnView},
    problems=(409,),
    response_headers={
        201: ["Location", "Idempotent-Replayed"],
        202: ["Location", "Idempotent-Replayed"],
        409: ["Retry-After"],
    },
    headers=[idempotency_header("return")],
    scopes=("returns:write",),
)
async def submit_return(request: web.Request) -> web.Response:
    client = require(request, "returns:write")
    key = idempotency_key(request, "return")
    ret = await read_json(request, CanonicalReturn, what="canonical return")
    return answer_response(await request.app[RETURNS].submit(client, key, ret))


@routes.get("/v1/returns/{id}")
@describe(
    "One return with its history",
    path={"id": RETURN_ID},
    tag="returns",
    responses={200: ReturnView},
    problems=(404,),
    scopes=("returns:read",),
)
async def get_return(request: web.Request) -> web.Response:
    client = require(request, "returns:read")
    return json_response(await request.app[RETURNS].get(client, request.match_info["id"]))


@routes.get("/v1/returns")
@describe(
    "This client's returns, newest first, cursor-paginated",
    tag="returns",
    query=ListReturnsQuery,
    responses={200: ReturnList},
    problems=(400,),
    scopes=("returns:read",),
)
async def list_returns(request: web.Request) -> web.Response:
    client = require(request, "returns:read")
    query = read_query(request, ListReturnsQuery)
    flt = ReturnFilter(
        order_id=query.order_id, status=query.status, before_id=query.cursor, limit=query.limit
    )
    rows, more = await request.app[RETURNS].list(client, flt)
    cursor = encode_cursor(rows[-1].id) if more and rows else None
    return json_response({"items": [return_view(r) for r in rows], "next_cursor": cursor})


@routes.post("/v1/returns/{id}/cancel")
@describe(
    "Cancel the return at its provider (409 with the provider's reason when too late)",
    path={"id": RETURN_ID},
    tag="returns",
    responses={200: ReturnView},
    problems=(404, 409),
    response_headers={409: ["Retry-After"]},
    scopes=("returns:write",),
)
async def cancel_return(request: web.Request) -> web.Response:
    client = require(request, "returns:write")
    return json_response(await request.app[RETURNS].cancel(client, request.match_info["id"]))


@routes.post("/v1/returns/{id}/decision")
@describe(
    "Tell the provider what to do with the returned goods",
    path={"id": RETURN_ID},
    tag="returns",
    body=DecisionRequest,
    responses={200: ReturnView},
    problems=(404, 409),
    response_headers={409: ["Retry-After"]},
    scopes=("returns:write",),
)
async def decide_return(request: web.Request) -> web.Response:
    client = require(request, "returns:write")
    body = await read_json(request, DecisionRequest, what="decision")
    view = await request.app[RETURNS].decide(client, request.match_info["id"], body.code)
    return json_response(view)
