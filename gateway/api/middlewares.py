"""Request-wide concerns, outermost first: request id, problem rendering, client auth.

Paths under `/_sandbox/` belong to the in-process provider simulators, which answer in their
providers' own formats; these middlewares leave them alone.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from gateway.api.answers import problem_response
from gateway.api.auth import CLIENT
from gateway.api.keys import CLIENT_KEYS, METRICS
from gateway.api.problems import problem_of
from gateway.errors import GatewayError, ProblemError, StoreUnavailable
from gateway.observability.metrics import UNMATCHED_ROUTE

log = structlog.get_logger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_PUBLIC = ("/healthz", "/readyz", "/metrics", "/openapi.json", "/v1/webhooks/")
# Polled every few seconds by load balancers, orchestrators and Prometheus: logged at debug,
# so they do not drown the log, unless they fail (a 5xx is logged like any request).
PROBES = frozenset({"/healthz", "/readyz", "/metrics"})
SANDBOX_PREFIX = "/_sandbox/"


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Echo or mint `X-Request-ID`, bind it into every log line, log and count the request."""
    if request.path.startswith(SANDBOX_PREFIX):
        return await handler(request)
    given = request.headers.get("X-Request-ID", "")
    request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
    except web.HTTPException as exc:
        status = exc.status
        exc.headers["X-Request-ID"] = request_id
        raise
    finally:
        elapsed = time.perf_counter() - started
        request.app[METRICS].request(route_template(request), request.method, status, elapsed)
        quiet = status < 500 and request.path in PROBES
        (log.debug if quiet else log.info)(
            "http.request",
            method=request.method,
            path=request.path,
            status=status,
            ms=round(elapsed * 1000, 1),
        )
    response.headers["X-Request-ID"] = request_id
    return response


def route_template(request: web.Request) -> str:
    """The matched route's path template (`/v1/orders/{id}`): bounded metric cardinality."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED_ROUTE


@web.middleware
async def problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render every error as RFC 9457 problem+json (an exception of the tree as its rule in
    `gateway.api.problems` says); never let a traceback reach a caller."""
    if request.path.startswith(SANDBOX_PREFIX):
        return await handler(request)
    try:
        return await handler(request)
    except GatewayError as exc:
        if isinstance(exc, StoreUnavailable):
            log.error("store.unavailable", path=request.path, error=str(exc))
        problem = problem_of(exc)
        if problem is None:
            return _internal(request)
        return problem_response(problem, request.path)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not-found", 405: "method-not-allowed", 413: "payload-too-large"}.get(
            exc.status, "http-error"
        )
        detail = exc.text if exc.text and not exc.text.startswith(str(exc.status)) else None
        headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        return problem_response(
            ProblemError(
                exc.status, code, exc.reason, detail=detail or exc.reason, headers=headers
            ),
            request.path,
        )
    except Exception:
        return _internal(request)


def _internal(request: web.Request) -> web.Response:
    """A bug's answer (called while its exception is handled: logged with its traceback)."""
    log.exception("http.unhandled", path=request.path)
    return problem_response(
        ProblemError(
            500,
            "internal",
            "Internal error",
            detail="the gateway failed; the request id identifies it in the log",
        ),
        request.path,
    )


@web.middleware
async def client_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate `/v1/*` callers; webhooks and operations endpoints are public."""
    path = request.path
    if path.startswith(SANDBOX_PREFIX) or path.startswith(_PUBLIC) or not path.startswith("/v1/"):
        return await handler(request)
    request[CLIENT] = request.app[CLIENT_KEYS].authenticate(request.headers.get("Authorization"))
    structlog.contextvars.bind_contextvars(client=request[CLIENT].id)
    return await handler(request)
