"""Operations endpoints: liveness and readiness."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from gateway.api.auth import require
from gateway.api.keys import PROVIDERS, STORE
from gateway.api.orders import json_response
from gateway.store import StoreUnavailable

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(_request: web.Request) -> web.Response:
    """Alive: the event loop answers. Nothing else is checked (that is /readyz)."""
    return json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """Ready: the store answers and no provider is misconfigured.

    A provider that is merely down does not make the gateway unready — orders queue (202).
    A configuration error (refused scopes or credentials) does: it needs an operator.
    """
    checks: dict[str, object] = {}
    ready = True
    try:
        await request.app[STORE].ping()
        checks["store"] = {"status": "ok"}
    except (StoreUnavailable, OSError, ValueError) as exc:
        ready = False
        checks["store"] = {"status": "error", "error": str(exc)}
    providers: dict[str, object] = {}
    for name, provider in request.app[PROVIDERS].items():
        state = provider.state()
        entry: dict[str, object] = {"status": "ok", "circuit": state.circuit}
        if state.configuration_error:
            ready = False
            entry.update(status="error", error=state.configuration_error)
        providers[name] = entry
    checks["providers"] = providers
    return json_response(
        {"status": "ready" if ready else "not_ready", "checks": checks},
        status=200 if ready else 503,
    )


@routes.get("/v1/providers")
async def providers(request: web.Request) -> web.Response:
    """Each provider's live state: circuit, Retry-After gate, limiter, token expiry."""
    require(request, "orders:read", "orders:write")
    out = []
    for provider in request.app[PROVIDERS].values():
        s = provider.state()
        out.append(
            {
                "name": s.name,
                "healthy": provider.healthy(),
                "circuit": s.circuit,
                "retry_after_until": _iso(s.gate_open_at),
                "limiter": {
                    "max_rate": s.max_rate,
                    "time_period": s.time_period,
                    "max_concurrency": s.max_concurrency,
                    "in_flight": s.in_flight,
                    "shared": s.shared,
                },
                "token_expires_at": _iso(s.token_expires_at),
                "configuration_error": s.configuration_error,
                "last_error": s.last_error,
            }
        )
    return json_response({"providers": out})


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
