"""`POST /v1/webhooks/{provider}`: provider-signed, not client-authenticated.

Anyone may call it, so nothing is spent on a caller before it has shown a credential, and
what it may make the gateway hold is bounded:

1. On the headers and query alone (`WebhookIntake.precheck`): 404 for a provider without
   webhooks, 401 for a missing or wrong credential where the headers carry it all (a URL
   token, a token header) or a missing signature header. Not a byte of the body is read; to
   `Expect: 100-continue` no `100 Continue` is sent, so the client sends none.
2. The body, read in chunks: more than `server.webhook_max_body_bytes` → 413 (at once when
   `Content-Length` says so); not complete within `server.webhook_body_timeout_s` → 408.
3. Only then the signature over the body and the events (`WebhookIntake.receive`).

A refusal before the body is complete answers `Connection: close`: the rest of the body is
read and thrown away for a moment (aiohttp's lingering close, so the client sees the answer
instead of a reset), never kept; after a 408 the connection is closed at once.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.web_urldispatcher import _default_expect_handler

from gateway.api.answers import json_response, problem_response
from gateway.api.body import too_large
from gateway.api.keys import METRICS, PROVIDERS, SETTINGS, WEBHOOKS
from gateway.api.params import configured_providers
from gateway.api.problems import problem_of
from gateway.api.spec import describe
from gateway.errors import ProblemError, WebhookRefused
from gateway.model.responses import WebhookReceipt

routes = web.RouteTableDef()


_OUTCOMES = {
    401: "rejected",
    400: "malformed",
    404: "not_found",
    408: "timeout",
    413: "too_large",
}


async def _expect(request: web.Request) -> None:
    """`100 Continue` only to a delivery that passes the header checks (else the handler
    answers, and the client never sends its body)."""
    try:
        request.app[WEBHOOKS].precheck(
            request.match_info["provider"], request.headers, request.query
        )
        _check_length(request)
    except (ProblemError, WebhookRefused):
        return
    await _default_expect_handler(request)


@routes.post("/v1/webhooks/{provider}", expect_handler=_expect)
@describe(
    "Inbound provider webhook (verified by the provider's signature or URL token)",
    tag="webhooks",
    body="any",
    responses={200: WebhookReceipt},
    problems=(400, 401, 404, 408, 413),
    auth=False,
    choices={"provider": configured_providers},
)
async def receive(request: web.Request) -> web.Response:
    """Stored before it is answered; redeliveries are acknowledged and not applied again."""
    name = request.match_info["provider"]
    # Only configured providers become label values: the path is the caller's to choose.
    label = name if name in request.app[PROVIDERS] else "unknown"
    intake = request.app[WEBHOOKS]
    try:
        intake.precheck(name, request.headers, request.query)
        body = await _read_body(request)
    except (ProblemError, WebhookRefused) as exc:
        problem = _refusal(request, label, exc)
        response = problem_response(problem, request.path)
        response.force_close()  # the body was not read (all of it): this connection ends
        return response
    try:
        result = await intake.receive(name, request.headers, request.query, body)
    except WebhookRefused as exc:
        _refusal(request, label, exc)
        raise
    receipt = WebhookReceipt.model_validate(result)
    fresh = receipt.new > 0 or receipt.received == 0
    request.app[METRICS].webhook_in(label, "accepted" if fresh else "duplicate")
    return json_response(receipt)


def _refusal(request: web.Request, label: str, exc: ProblemError | WebhookRefused) -> ProblemError:
    """The answer to a refused delivery, counted by its status."""
    problem = problem_of(exc)
    assert problem is not None
    request.app[METRICS].webhook_in(label, _OUTCOMES.get(problem.status, "error"))
    return problem


def _check_length(request: web.Request) -> None:
    limit = request.app[SETTINGS].server.webhook_max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)


async def _read_body(request: web.Request) -> bytes:
    server = request.app[SETTINGS].server
    _check_length(request)
    body = bytearray()
    try:
        async with asyncio.timeout(server.webhook_body_timeout_s):
            while chunk := await request.content.readany():
                body += chunk
                if len(body) > server.webhook_max_body_bytes:  # chunked: no Content-Length
                    raise _too_large(server.webhook_max_body_bytes)
    except TimeoutError:
        # Fails aiohttp's own read of what is left (its lingering close) at once, so the
        # connection closes right after the answer instead of waiting on a slow sender.
        request.content.set_exception(TimeoutError("webhook body read timed out"))
        raise ProblemError(
            408,
            "webhook-body-timeout",
            "Webhook body too slow",
            detail=f"the body did not arrive within {server.webhook_body_timeout_s:g} s",
        ) from None
    return bytes(body)


def _too_large(limit: int) -> ProblemError:
    return too_large("Webhook body too large", f"a webhook body is at most {limit} bytes")
