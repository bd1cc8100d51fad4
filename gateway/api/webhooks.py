"""`POST /v1/webhooks/{provider}`: provider-signed, not client-authenticated."""

from __future__ import annotations

from aiohttp import web

from gateway.api.keys import WEBHOOKS
from gateway.api.orders import json_response

routes = web.RouteTableDef()


@routes.post("/v1/webhooks/{provider}")
async def receive(request: web.Request) -> web.Response:
    body = await request.read()
    result = await request.app[WEBHOOKS].receive(
        request.match_info["provider"], request.headers, request.query, body
    )
    return json_response(result)
