"""Operations endpoints: liveness, readiness, provider state, Prometheus metrics."""

from __future__ import annotations

from typing import Any

import structlog
from aiohttp import web

from gateway.api.answers import json_response
from gateway.api.auth import require
from gateway.api.keys import CLOCK, METRICS, OPERATIONS, PROVIDERS
from gateway.api.spec import describe, openapi_document
from gateway.errors import StoreUnavailable
from gateway.model.ops import (
    Limiter,
    Liveness,
    ProviderList,
    ProviderStatus,
    ProviderView,
    Queue,
    Readiness,
)
from gateway.model.view import instant, stamp
from gateway.observability.metrics import CONTENT_TYPE
from gateway.observability.state import ProviderState
from gateway.providers.base import Provider
from gateway.store import QueueStats

log = structlog.get_logger(__name__)

routes = web.RouteTableDef()

_STORE_ERRORS = (StoreUnavailable, OSError, ValueError)


@routes.get("/healthz")
@describe(
    "Liveness: the event loop answers", tag="operations", auth=False, responses={200: Liveness}
)
async def healthz(_request: web.Request) -> web.Response:
    """Alive: the event loop answers. Nothing else is checked (that is /readyz)."""
    return json_response(Liveness(status="ok"))


@routes.get("/readyz")
@describe(
    "Readiness: store reachable, configuration valid; names degraded providers",
    tag="operations",
    auth=False,
    responses={200: Readiness, 503: Readiness},
)
async def readyz(request: web.Request) -> web.Response:
    """Ready: the store answers and no provider is misconfigured.

    Anyone may ask, so the reasons are generic ("store unreachable", "provider x
    misconfigured"): what the store or the provider said is in the log and, for a provider,
    in the authenticated `/v1/providers`.

    A provider that is merely down (circuit open, Retry-After gate shut) does not make the
    gateway unready — orders queue (202) — but it is named under `degraded`. A configuration
    error (refused scopes or credentials) does: it needs an operator.
    """
    checks: dict[str, Any] = {}
    ready = True
    try:
        await request.app[OPERATIONS].ping()
        checks["store"] = {"status": "ok"}
    except _STORE_ERRORS as exc:
        ready = False
        # Unauthenticated: a generic reason here; the driver's text (user, host) is logged.
        log.warning("readyz.store_unreachable", error=str(exc))
        checks["store"] = {"status": "error", "error": "store unreachable"}
    providers: dict[str, Any] = {}
    degraded: list[str] = []
    for name, provider in request.app[PROVIDERS].items():
        state = provider.state()
        status, reasons = provider_status(provider, state)
        entry: dict[str, Any] = {"status": status, "circuit": state.circuit}
        if status == "misconfigured":
            ready = False
            # The provider's own words stay behind the client key (`/v1/providers`).
            entry["error"] = f"provider {name} misconfigured"
        elif status == "degraded":
            degraded.append(name)
            entry["reasons"] = reasons
        providers[name] = entry
    checks["providers"] = providers
    return json_response(
        Readiness(status="ready" if ready else "not_ready", degraded=degraded, checks=checks),
        status=200 if ready else 503,
    )


def provider_status(provider: Provider, state: ProviderState) -> tuple[ProviderStatus, list[str]]:
    """`ok`, `degraded` (failing or throttled: orders queue) or `misconfigured`, with why."""
    if state.configuration_error:
        return "misconfigured", [state.configuration_error]
    reasons = []
    if state.circuit != "closed":
        reasons.append(f"circuit {state.circuit}")
    if state.gate_open_at is not None:
        reasons.append("rate limited (Retry-After)")
    if not provider.healthy() and not reasons:
        reasons.append("not accepting calls")
    return ("degraded" if reasons else "ok"), reasons


@routes.get("/v1/providers")
@describe(
    "Each provider's live state: circuit, limiter, Retry-After gate, token expiry, queue",
    tag="operations",
    scopes=("orders:read", "orders:write"),
    responses={200: ProviderList},
)
async def providers(request: web.Request) -> web.Response:
    """Each provider's live state. Never a credential: the token's expiry, not the token."""
    require(request)
    now = request.app[CLOCK].time()
    try:
        queues = await request.app[OPERATIONS].queues(now=now)
    except _STORE_ERRORS as exc:
        log.warning("providers.queue_unavailable", error=str(exc))
        queues = None
    out = []
    for provider in request.app[PROVIDERS].values():
        s = provider.state()
        queue = None if queues is None else queues.get(s.name, QueueStats(0, 0.0))
        out.append(_view(provider, s, queue))
    return json_response(ProviderList(providers=out))


def _view(provider: Provider, s: ProviderState, queue: QueueStats | None) -> ProviderView:
    """`queue`: None when the store cannot be read."""
    status, reasons = provider_status(provider, s)
    return ProviderView(
        name=s.name,
        status=status,
        reasons=reasons,
        healthy=provider.healthy(),
        circuit=s.circuit,
        retry_after_until=_seconds(s.gate_open_at),
        limiter=Limiter.model_validate(s),
        token_expires_at=_seconds(s.token_expires_at),
        configuration_error=s.configuration_error,
        last_error=s.last_error,
        last_error_at=_seconds(s.last_error_at),
        queue=None
        if queue is None
        else Queue(depth=queue.depth, oldest_age_s=round(queue.oldest_age_s, 3)),
    )


provider_view = _view
"""What `/v1/providers` shows of one provider (the console shows the same)."""


def _seconds(epoch: float | None) -> str | None:
    return None if epoch is None else stamp(instant(epoch), "seconds")


@routes.get("/metrics")
@describe("Prometheus metrics (text exposition format)", tag="operations", auth=False, text=True)
async def metrics(request: web.Request) -> web.Response:
    """Scrape: provider gauges and the queue are read now; counters are live already."""
    app = request.app
    m = app[METRICS]
    now = app[CLOCK].time()
    m.set_provider_states((p.state() for p in app[PROVIDERS].values()), now=now)
    try:
        queues = await app[OPERATIONS].queues(now=now)
    except _STORE_ERRORS as exc:
        # The queue gauges keep their last value; /readyz reports the store.
        log.warning("metrics.queue_unavailable", error=str(exc))
    else:
        m.set_queue(
            sum(q.depth for q in queues.values()),
            max((q.oldest_age_s for q in queues.values()), default=0.0),
        )
    return web.Response(body=m.render(), headers={"Content-Type": CONTENT_TYPE})


@routes.get("/openapi.json")
@describe(
    "This document: OpenAPI 3.1, generated from the routes and models", tag="operations", auth=False
)
async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 description of this gateway's API."""
    return json_response(openapi_document(request.app))
