"""The console's routes: sign-in and out, find, an order and its actions, lists, providers.

Every page but sign-in needs a session; every POST needs the session's CSRF token. Errors are
pages (HTML), not problem documents: the console is read by people.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
import structlog
from aiohttp import web

from gateway.api.keys import CHANGES, CLOCK, FEED, HOLDS, OPERATIONS, PROVIDERS, SETTINGS
from gateway.api.ops import provider_view
from gateway.clock import Clock
from gateway.config import Settings
from gateway.console import pages
from gateway.console.sessions import Operator, Operators, Sessions, SignInLimit
from gateway.errors import GatewayError
from gateway.model.history import Source
from gateway.store import QueueStats

log = structlog.get_logger(__name__)

COOKIE = "gateway_console"
HERE = Path(__file__).parent
OPERATORS = web.AppKey("console_operators", Operators)
SESSIONS = web.AppKey("console_sessions", Sessions)
LIMIT = web.AppKey("console_limit", SignInLimit)
OPERATOR = web.RequestKey("console_operator", Operator)
SESSION = web.RequestKey("console_session", str)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
routes = web.RouteTableDef()


def console_app(settings: Settings, clock: Clock) -> web.Application:
    app = web.Application(middlewares=[_session])
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
    c = settings.console
    secret = settings.secrets.reveal(c.session_secret_env) if c.session_secret_env else None
    app[OPERATORS] = Operators(settings)
    app[SESSIONS] = Sessions(secret.encode() if secret else None, c.session_ttl_s, clock)
    app[LIMIT] = SignInLimit(c.sign_in_per_minute, clock)
    app.add_routes(routes)
    app.router.add_static("/static", HERE / "static", name="static")
    return app


def _page(request: web.Request, name: str, status: int = 200, **ctx: Any) -> web.Response:
    ctx.setdefault("operator", request.get(OPERATOR))
    session = request.get(SESSION)
    ctx["csrf"] = request.app[SESSIONS].csrf(session) if session else ""
    response = aiohttp_jinja2.render_template(name, request, ctx, status=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = "default-src 'self'"
    return response


def _error(request: web.Request, status: int, message: str) -> web.Response:
    return _page(request, "error.html", status=status, status_code=status, message=message)


@web.middleware
async def _session(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Sign-in and static files are open; everything else needs a session, and a POST its
    CSRF token."""
    open_paths = (request.app.router["static"].canonical, "/console/sign-in")
    if request.path.startswith(open_paths):
        return await handler(request)
    cookie = request.cookies.get(COOKIE)
    operator_id = request.app[SESSIONS].verify(cookie)
    operator = request.app[OPERATORS].get(operator_id) if operator_id else None
    if operator is None or cookie is None:
        if request.method == "GET" and not request.path.endswith(".json"):
            raise web.HTTPSeeOther("/console/sign-in")
        return _error(request, 401, "Sign in first.")
    request[OPERATOR], request[SESSION] = operator, cookie
    if request.method == "POST":
        form = await request.post()
        token = form.get("csrf")
        if not request.app[SESSIONS].csrf_ok(cookie, token if isinstance(token, str) else None):
            log.warning("console.csrf_refused", operator=operator.id, path=request.path)
            return _error(request, 403, "This form is stale or forged (CSRF token). Reload it.")
    return await handler(request)


@routes.get("/sign-in")
async def sign_in_form(request: web.Request) -> web.Response:
    return _page(request, "signin.html")


@routes.post("/sign-in")
async def sign_in(request: web.Request) -> web.StreamResponse:
    address = request.remote or "unknown"
    if not request.app[LIMIT].allow(address):
        return _page(
            request, "signin.html", status=429, message="Too many attempts; wait a minute."
        )
    form = await request.post()
    key = form.get("key")
    operator = request.app[OPERATORS].authenticate(key) if isinstance(key, str) and key else None
    if operator is None:
        log.info("console.sign_in_refused", address=address)
        return _page(request, "signin.html", status=401, message="Unknown operator key.")
    response = web.HTTPSeeOther("/console/")
    secure = request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"
    response.set_cookie(
        COOKIE,
        request.app[SESSIONS].issue(operator.id),
        max_age=int(request.app[SESSIONS].ttl_s),
        path="/console",
        httponly=True,
        samesite="Strict",
        secure=secure,
    )
    log.info("console.signed_in", operator=operator.id)
    raise response


@routes.post("/sign-out")
async def sign_out(request: web.Request) -> web.StreamResponse:
    response = web.HTTPSeeOther("/console/sign-in")
    response.del_cookie(COOKIE, path="/console")
    raise response


async def to_console(_request: web.Request) -> web.StreamResponse:
    """`/console` → `/console/` (the sub-application's root)."""
    raise web.HTTPPermanentRedirect("/console/")


@routes.get("/")
async def home(request: web.Request) -> web.Response:
    q = request.query.get("q", "").strip()
    found = await pages.search(request, request[OPERATOR], q) if q else None
    if found is not None and len(found) == 1:
        raise web.HTTPSeeOther(f"/console/orders/{found[0].id}")
    return _page(request, "home.html", q=q, found=found)


@routes.get("/orders/{id}")
async def order(request: web.Request) -> web.Response:
    operator = request[OPERATOR]
    row = await pages.owned_order(request, operator, request.match_info["id"])
    client = None if row is None else pages.tenant(request, operator, row.client_id)
    if row is None or client is None:
        return _error(request, 404, "No such order among your tenants.")
    page = await pages.order_page(request, client, row)
    return _page(
        request,
        "order.html",
        page=page,
        notice=request.query.get("notice"),
        confirm=request.query.get("confirm"),
    )


async def _act(request: web.Request, action: str) -> web.StreamResponse:
    operator = request[OPERATOR]
    order_id = request.match_info["id"]
    row = await pages.owned_order(request, operator, order_id)
    client = None if row is None else pages.tenant(request, operator, row.client_id)
    if row is None or client is None:
        return _error(request, 404, "No such order among your tenants.")
    app, cause = request.config_dict, (Source.CONSOLE, operator.id)
    try:
        if action == "cancel":
            await app[CHANGES].cancel(client, row.id, cause=cause)
        elif action == "release":
            await app[HOLDS].release(client, row.id, cause=cause)
        elif action == "refresh":
            await app[CHANGES].refresh(client, row.id, cause=cause)
        else:
            form = await request.post()
            await app[FEED].retry(
                client,
                str(form.get("subscriber")),
                str(form.get("event")),
                now=app[CLOCK].time(),
            )
    except GatewayError as exc:
        return _error(request, 409, f"{action} refused: {exc}")
    log.info("console.action", operator=operator.id, action=action, order_id=row.id)
    raise web.HTTPSeeOther(f"/console/orders/{row.id}?notice={action}")


@routes.post("/orders/{id}/cancel")
async def cancel(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    if form.get("confirmed") != "yes":
        raise web.HTTPSeeOther(f"/console/orders/{request.match_info['id']}?confirm=cancel")
    return await _act(request, "cancel")


@routes.post("/orders/{id}/{action:release|refresh|retry}")
async def act(request: web.Request) -> web.StreamResponse:
    """An action without a confirmation step (cancel asks first)."""
    return await _act(request, request.match_info["action"])


@routes.get("/lists")
async def lists(request: web.Request) -> web.Response:
    try:
        older = float(request.query.get("older_than_min", "15"))
    except ValueError:
        return _error(request, 400, "older_than_min must be a number of minutes.")
    if not 0 <= older <= 100_000:
        return _error(request, 400, "older_than_min must be between 0 and 100000.")
    found = await pages.lists(request, request[OPERATOR], older)
    return _page(request, "lists.html", lists=found, older_than_min=older)


async def _providers(request: web.Request) -> list[dict[str, Any]]:
    app = request.config_dict
    queues = await app[OPERATIONS].queues(now=app[CLOCK].time())
    return [
        provider_view(p, p.state(), queues.get(name, QueueStats(0, 0.0))).model_dump(mode="json")
        for name, p in app[PROVIDERS].items()
    ]


@routes.get("/providers")
async def providers(request: web.Request) -> web.Response:
    return _page(request, "providers.html", providers=await _providers(request))


@routes.get("/providers.json")
async def providers_json(request: web.Request) -> web.Response:
    return web.json_response({"providers": await _providers(request)})


__all__ = ["SETTINGS", "console_app"]
