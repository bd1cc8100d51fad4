"""`POST /v1/routing/explain`: the routing trace of an order; `POST /v1/routing/replay`:
proposed routing against the client's stored orders. Nothing stored or sent by either."""

from __future__ import annotations

from aiohttp import web

from gateway.api.answers import json_response
from gateway.api.auth import require
from gateway.api.body import read_json
from gateway.api.keys import CLOCK, REPLAY, SERVICE
from gateway.api.spec import describe
from gateway.model.orders import CanonicalOrder
from gateway.model.view import instant
from gateway.routing.explanation import RoutingExplanation
from gateway.routing.replay_views import ReplayAnswer, ReplayRequest

routes = web.RouteTableDef()


@routes.post("/v1/routing/explain")
@describe(
    "Dry run: which rule and candidate would take this order, and why no other did",
    tag="routing",
    body=CanonicalOrder,
    responses={200: RoutingExplanation},
    scopes=("orders:read", "orders:write"),
)
async def explain(request: web.Request) -> web.Response:
    require(request)
    order = await read_json(request, CanonicalOrder)
    explained = await request.app[SERVICE].explain(order)
    return json_response(RoutingExplanation.model_validate(explained))


@routes.post("/v1/routing/replay")
@describe(
    "Dry run over stored orders: where proposed routing and hold rules would send this"
    " client's orders of a window, against where they went",
    tag="routing",
    body=ReplayRequest,
    responses={200: ReplayAnswer},
    scopes=("orders:read",),
)
async def replay(request: web.Request) -> web.Response:
    client = require(request)
    asked = await read_json(request, ReplayRequest, what="routing replay")
    until = asked.until or instant(request.app[CLOCK].time())
    answer = await request.app[REPLAY].replay(
        client.id, asked.proposal(), since=asked.since, until=until, limit=asked.limit
    )
    return json_response(answer)
