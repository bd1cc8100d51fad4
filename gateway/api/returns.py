"""`/v1/returns`: thin handlers — parse, call `ReturnService`, render.

Scopes: `returns:write` to create, cancel and decide; `returns:read` to read and list.
"""

from __future__ import annotations

from functools import partial

from aiohttp import web

from gateway.api.answers import json_response
from gateway.api.auth import require
from gateway.api.body import read_json
from gateway.api.keys import RETURNS
from gateway.api.params import read_query
from gateway.api.spec import RETRY_ON_CONFLICT, RETURN_ID, describe
from gateway.api.submits import describe_submit, submitted
from gateway.model.return_views import ListReturnsQuery, ReturnList, ReturnView
from gateway.model.returns import CanonicalReturn, DecisionRequest
from gateway.returns.views import page_of
from gateway.store import ReturnFilter

routes = web.RouteTableDef()

READ, WRITE = ("returns:read",), ("returns:write",)
_one_return = partial(describe, tag="returns", path={"id": RETURN_ID}, responses={200: ReturnView})
"""`describe` of a route about one return (`/v1/returns/{id}…`), which answers it."""


@routes.post("/v1/returns")
@describe_submit(
    "Return goods of an order through the provider holding it (exactly once per key)",
    tag="returns",
    body=CanonicalReturn,
    view=ReturnView,
    what="return",
    scopes=WRITE,
)
async def submit_return(request: web.Request) -> web.Response:
    return await submitted(request, CanonicalReturn, "return", request.app[RETURNS].submit)


@routes.get("/v1/returns/{id}")
@_one_return("One return with its history", problems=(404,), scopes=READ)
async def get_return(request: web.Request) -> web.Response:
    client = require(request)
    return json_response(await request.app[RETURNS].get(client, request.match_info["id"]))


@routes.get("/v1/returns")
@describe(
    "This client's returns, newest first, cursor-paginated",
    tag="returns",
    query=ListReturnsQuery,
    responses={200: ReturnList},
    scopes=READ,
)
async def list_returns(request: web.Request) -> web.Response:
    client = require(request)
    q = read_query(request, ListReturnsQuery)
    flt = ReturnFilter(q.order_id, q.status, q.cursor, q.limit)
    rows, more, parts = await request.app[RETURNS].list(client, flt)
    return json_response(page_of(rows, more, parts))


@routes.post("/v1/returns/{id}/cancel")
@_one_return(
    "Cancel the return at its provider (409 with the provider's reason when too late)",
    problems=(404, 409),
    response_headers=RETRY_ON_CONFLICT,
    scopes=WRITE,
)
async def cancel_return(request: web.Request) -> web.Response:
    client = require(request)
    return json_response(await request.app[RETURNS].cancel(client, request.match_info["id"]))


@routes.post("/v1/returns/{id}/decision")
@_one_return(
    "Tell the provider what to do with the returned goods",
    body=DecisionRequest,
    problems=(404, 409),
    response_headers=RETRY_ON_CONFLICT,
    scopes=WRITE,
)
async def decide_return(request: web.Request) -> web.Response:
    client = require(request)
    body = await read_json(request, DecisionRequest, what="decision")
    view = await request.app[RETURNS].decide(client, request.match_info["id"], body.code)
    return json_response(view)
