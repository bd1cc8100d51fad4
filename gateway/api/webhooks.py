"""`POST /v1/webhooks/{provider}`: provider-signed, not client-authenticated."""

from __future__ import annotations

from aiohttp import web

from gateway.api.keys import METRICS, PROVIDERS, WEBHOOKS
from gateway.api.orders import json_response
from gateway.api.spec import describe
from gateway.model.problems import ProblemError
from gateway.model.responses import WebhookReceipt

routes = web.RouteTableDef()


_OUTCOMES = {401: "rejected", 400: "malformed", 404: "not_found"}


@routes.post("/v1/webhooks/{provider}")
@describe(
    "Inbound provider webhook (verified by the provider's signature or URL token)",
    tag="webhooks",
    body="any",
    responses={200: WebhookReceipt},
    problems=(400, 401, 404),
    auth=False,
)
async def receive(request: web.Request) -> web.Response:
    """Stored before it is answered; redeliveries are acknowledged and not applied again."""
    name = request.match_info["provider"]
    # Only configured providers become label values: the path is the caller's to choose.
    label = name if name in request.app[PROVIDERS] else "unknown"
    body = await request.read()
    try:
        result = await request.app[WEBHOOKS].receive(name, request.headers, request.query, body)
    except ProblemError as problem:
        request.app[METRICS].webhook_in(label, _OUTCOMES.get(problem.status, "error"))
        raise
    fresh = result["new"] > 0 or result["received"] == 0
    request.app[METRICS].webhook_in(label, "accepted" if fresh else "duplicate")
    return json_response(result)
