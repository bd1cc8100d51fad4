"""`POST /v1/routing/explain`: the routing trace of an order, nothing stored or sent."""

from __future__ import annotations

from aiohttp import web

from gateway.api.auth import require
from gateway.api.body import read_json
from gateway.api.keys import SERVICE
from gateway.api.orders import json_response
from gateway.api.spec import describe
from gateway.model.orders import CanonicalOrder
from gateway.routing.explanation import RoutingExplanation

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
    require(request, "orders:read", "orders:write")
    order = await read_json(request, CanonicalOrder)
    return json_response(await request.app[SERVICE].explain(order))
