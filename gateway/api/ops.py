"""Operations endpoints: liveness and readiness."""

from __future__ import annotations

from aiohttp import web

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
