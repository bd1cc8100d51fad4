"""`POST /v1/routing/explain`: the routing trace of an order, nothing stored or sent."""

from __future__ import annotations

from aiohttp import web

from gateway.api.answers import json_response
from gateway.api.auth import require
from gateway.api.body import read_json
from gateway.api.keys import SERVICE
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
    require(request)
    order = await read_json(request, CanonicalOrder)
    explained = await request.app[SERVICE].explain(order)
    return json_response(RoutingExplanation.model_validate(explained))
