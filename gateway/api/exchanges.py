"""`GET /v1/orders/{id}/exchanges`, `GET /v1/returns/{id}/exchanges`: what the gateway sent to
the provider for one order or return and what it answered (`gateway.orders.exchanges`)."""

from __future__ import annotations

from functools import partial
from typing import Literal

from aiohttp import web

from gateway.api.answers import json_response
from gateway.api.auth import require
from gateway.api.keys import STORE
from gateway.api.params import read_query
from gateway.api.spec import ORDER_ID, RETURN_ID, describe
from gateway.model.exchanges import ExchangeList, ExchangesQuery
from gateway.orders.exchanges import exchanges_of

routes = web.RouteTableDef()

READ = ("orders:read",)
_exchanges = partial(
    describe, query=ExchangesQuery, responses={200: ExchangeList}, problems=(404,), scopes=READ
)
"""`describe` of a route listing one order's or return's exchanges, which answers the page."""


@routes.get("/v1/orders/{id}/exchanges")
@_exchanges(
    "The order's provider exchanges (each HTTP attempt), newest first, cursor-paginated",
    tag="orders",
    path={"id": ORDER_ID},
)
async def order_exchanges(request: web.Request) -> web.Response:
    return await _page(request, "order")


@routes.get("/v1/returns/{id}/exchanges")
@_exchanges(
    "The return's provider exchanges (each HTTP attempt), newest first, cursor-paginated",
    tag="returns",
    path={"id": RETURN_ID},
)
async def return_exchanges(request: web.Request) -> web.Response:
    return await _page(request, "return")


async def _page(request: web.Request, kind: Literal["order", "return"]) -> web.Response:
    client = require(request)
    q = read_query(request, ExchangesQuery)
    page = await exchanges_of(
        request.app[STORE],
        client.id,
        kind,
        request.match_info["id"],
        after=q.cursor or None,
        limit=q.limit,
    )
    return json_response(page)
