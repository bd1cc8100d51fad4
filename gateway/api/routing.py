"""`POST /v1/routing/explain`: the routing trace of an order, nothing stored or sent."""

from __future__ import annotations

from aiohttp import web

from gateway.api.auth import require
from gateway.api.body import read_json
from gateway.api.keys import SERVICE
from gateway.api.orders import json_response
from gateway.model.orders import CanonicalOrder

routes = web.RouteTableDef()


@routes.post("/v1/routing/explain")
async def explain(request: web.Request) -> web.Response:
    require(request, "orders:read", "orders:write")
    order = await read_json(request, CanonicalOrder)
    return json_response(await request.app[SERVICE].explain(order))
