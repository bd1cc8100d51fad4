"""`build_app(settings)`: the one place that wires the gateway together.

Every long-lived thing is opened and closed by a `cleanup_ctx` generator, started in order
and stopped in reverse: store → providers → use-cases → workers. Stopping therefore drains
the workers first (leaving queued orders for the next start) and closes the store last.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from gateway import api
from gateway.api.auth import ClientKeys
from gateway.api.keys import (
    AUDIT,
    CHANGES,
    CLIENT_KEYS,
    CLOCK,
    DISPATCHER,
    FEED,
    HOLDS,
    METRICS,
    OPERATIONS,
    PART_SUBMITTER,
    PROVIDERS,
    REPLAY,
    RETURN_SUBMITTER,
    RETURNS,
    SELF_URL,
    SERVICE,
    SETTINGS,
    STORE,
    SUBMITTER,
    WEBHOOKS,
)
from gateway.api.middlewares import client_auth, problems, request_context
from gateway.api.params import path_parameters
from gateway.clock import Clock, SystemClock
from gateway.config import Settings
from gateway.console.views import console_app, to_console
from gateway.errors import StoreUnavailable
from gateway.observability.audit import Recorder, Redactor
from gateway.observability.metrics import Metrics
from gateway.orders.changes import OrderChanges
from gateway.orders.events import WebhookIntake
from gateway.orders.feed import Feed
from gateway.orders.holds import OrderHolds
from gateway.orders.operations import Operations
from gateway.orders.parts import PartSubmitter
from gateway.orders.replay import RoutingReplay, cached_stock_lookup, health_of
from gateway.orders.service import OrderService
from gateway.orders.submission import Submitter
from gateway.providers.base import Provider
from gateway.providers.spec import ProviderContext, load_spec
from gateway.returns.service import ReturnService
from gateway.returns.submission import ReturnSubmitter
from gateway.sandbox.mounts import mount_simulators
from gateway.sandbox.receiver import PATH as RECEIVER_PATH
from gateway.sandbox.receiver import receiver_app
from gateway.store import open_store
from gateway.store.group_commit import COUNTS
from gateway.transport.fleet import Fleet, LocalFleet
from gateway.workers.deadlines import run_deadline_workers
from gateway.workers.dispatcher import EventDispatcher
from gateway.workers.exchanges import flush, run_exchange_workers
from gateway.workers.poller import ReturnPoller, StatusPoller
from gateway.workers.returns import run_return_workers
from gateway.workers.submitter import run_workers

log = structlog.get_logger(__name__)


def build_app(
    settings: Settings,
    *,
    self_url: str | None = None,
    clock: Clock | None = None,
) -> web.Application:
    """The gateway as an aiohttp application.

    `self_url` is where this gateway can reach itself (for `base_url`s given as a path, i.e.
    the in-process sandboxes); by default it is derived from `[server]`. `clock`: the time of
    everything the app builds (a test's clock that it moves on itself); by default the system's.
    """
    app = web.Application(
        middlewares=[request_context, problems, client_auth, path_parameters],
        client_max_size=settings.server.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[CLOCK] = clock or SystemClock()
    app[METRICS] = Metrics()
    app[SELF_URL] = self_url or own_url(settings.server.host, settings.server.port)
    app[CLIENT_KEYS] = ClientKeys(settings)
    app[AUDIT] = recorder_of(settings)
    app[METRICS].registry.register(app[AUDIT])
    app.cleanup_ctx.extend([_store, _providers, _service, _workers])
    api.add_routes(app)
    app.router.add_get("/console", to_console)
    app.add_subapp("/console", console_app(settings, app[CLOCK]))
    if settings.sandbox.enabled:
        _mount_sandboxes(app, settings)
    return app


def recorder_of(settings: Settings) -> Recorder:
    """The exchange recorder, told every secret the process holds so that none is kept."""
    secrets = [settings.secrets.reveal(name) for name in settings.secrets]
    a = settings.audit
    return Recorder(
        body_limit_bytes=a.body_limit_bytes, redactor=Redactor(secrets), enabled=a.enabled
    )


def own_url(host: str, port: int) -> str:
    if host in ("0.0.0.0", ""):  # noqa: S104 (recognising, not binding)
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def listen(host: str, port: int, *, backlog: int = 128) -> list[socket.socket]:
    """Sockets bound to `host:port` and listening, bound as `loop.create_server` would.

    `gateway serve` listens before the app starts (aiohttp starts its site only after every
    `cleanup_ctx` has run), so what the app calls on its own URL while starting — the
    in-process sandboxes' token warm-up and probe, workers resuming orders — waits in the
    backlog until the server accepts, instead of being refused and counted as a failure.
    """
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _name, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            if os.name == "posix":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:  # as asyncio: IPv4 gets a socket of its own
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(backlog)
            sock.setblocking(False)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _mount_sandboxes(app: web.Application, settings: Settings) -> None:
    ctx = ProviderContext(
        self_url=app[SELF_URL],
        metrics=app[METRICS],
        sandbox_autopilot_s=settings.sandbox.autopilot_s,
        sandbox_webhooks_to=app[SELF_URL],
    )
    mount_simulators(app, settings, ctx)
    app.add_subapp(RECEIVER_PATH, receiver_app(settings))


async def _store(app: web.Application) -> AsyncIterator[None]:
    s = app[SETTINGS].store
    store = await open_store(
        s.url,
        pool_size=s.pool_size,
        migrate=s.migrate_on_start,
        password=s.password(app[SETTINGS].secrets),
        connect_wait_s=s.connect_wait_s,
        clock=app[CLOCK],
    )
    app[STORE] = store
    if s.url.startswith("sqlite"):
        app[METRICS].count_store(COUNTS.as_dict)
    yield
    # Last: the exchanges of everything the app did while stopping are written too.
    try:
        if flushed := await flush(app[AUDIT], store):
            log.info("exchanges.flushed", exchanges=flushed)
    except StoreUnavailable as exc:
        log.warning("exchanges.lost", exchanges=len(app[AUDIT]), error=str(exc))
    await store.close()


def open_fleet(settings: Settings) -> Fleet:
    """Provider limits shared through Redis when `[redis]` is set, else split by replicas."""
    replicas = settings.server.replicas
    if settings.redis is None:
        fleet: Fleet = LocalFleet(replicas)
    else:
        from gateway.transport.redis_fleet import RedisFleet  # noqa: PLC0415 (optional)

        r = settings.redis
        password = settings.secrets.reveal(r.password_env) if r.password_env else None
        fleet = RedisFleet.from_url(
            r.url, prefix=r.key_prefix, replicas=replicas, password=password
        )
    log.info("fleet.opened", fleet=fleet.description, replicas=replicas)
    return fleet


async def _providers(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    fleet = open_fleet(settings)
    ctx = ProviderContext(
        self_url=app[SELF_URL],
        fleet=fleet,
        metrics=app[METRICS],
        clock=app[CLOCK],
        audit=app[AUDIT],
    )
    providers: dict[str, Provider] = {}
    try:
        for name, block in settings.providers.items():
            provider = load_spec(name).build(block, settings.secrets, ctx)
            await provider.start()
            providers[name] = provider
        app[PROVIDERS] = providers
        yield
    finally:
        for provider in providers.values():
            await provider.close()
        await fleet.close()


async def _service(app: web.Application) -> AsyncIterator[None]:
    settings, store, providers, clock = app[SETTINGS], app[STORE], app[PROVIDERS], app[CLOCK]
    owner = f"{socket.gethostname()}:{os.getpid()}:{id(app):x}"
    submitter = Submitter(
        store, providers, settings.submission, owner=owner, clock=clock, metrics=app[METRICS]
    )
    app[SUBMITTER] = submitter
    parts = PartSubmitter(store, providers, settings.submission, owner=owner, clock=clock)
    app[PART_SUBMITTER] = parts
    app[SERVICE] = OrderService(
        settings, store, providers, submitter, parts, clock=clock, metrics=app[METRICS]
    )
    app[WEBHOOKS] = WebhookIntake(store, providers, clock=clock)
    return_submitter = ReturnSubmitter(
        store, providers, settings.submission, owner=owner, clock=clock
    )
    app[RETURN_SUBMITTER] = return_submitter
    app[RETURNS] = ReturnService(settings, store, providers, return_submitter, clock=clock)
    app[CHANGES] = OrderChanges(store, providers, submitter, clock=clock)
    app[HOLDS] = OrderHolds(store, app[SERVICE], submitter, clock=clock)
    app[FEED] = Feed(store, settings.subscribers)
    app[OPERATIONS] = Operations(store)
    app[REPLAY] = RoutingReplay(
        settings, store, health_of(providers), stock=cached_stock_lookup(providers)
    )
    app[DISPATCHER] = EventDispatcher(
        store,
        settings.subscribers,
        settings.events,
        settings.secrets,
        self_url=app[SELF_URL],
        metrics=app[METRICS],
        clock=clock,
    )
    yield
    await app[WEBHOOKS].drain()
    cancelled = await submitter.drain(settings.server.shutdown_timeout_s)
    if cancelled:
        log.warning("submission.left_for_next_start", orders=cancelled)
    if left := await parts.drain(settings.server.shutdown_timeout_s):
        log.warning("part.submission.left_for_next_start", parts=left)
    if left := await return_submitter.drain(settings.server.shutdown_timeout_s):
        log.warning("return.submission.left_for_next_start", returns=left)


async def _workers(app: web.Application) -> AsyncIterator[None]:
    settings, clock = app[SETTINGS], app[CLOCK]
    poller = StatusPoller(app[STORE], app[PROVIDERS], settings.providers, clock=clock)
    return_poller = ReturnPoller(app[STORE], app[PROVIDERS], settings.returns, clock)
    dispatcher = app[DISPATCHER]
    try:
        async with (
            run_workers(
                app[STORE],
                app[SUBMITTER],
                settings,
                app[WEBHOOKS],
                parts=app[PART_SUBMITTER],
                poller=poller,
                dispatcher=dispatcher,
                clock=clock,
            ),
            run_return_workers(app[RETURN_SUBMITTER], return_poller, settings, clock=clock),
            run_deadline_workers(
                app[HOLDS], app[STORE], settings, metrics=app[METRICS], clock=clock
            ),
            run_exchange_workers(app[AUDIT], app[STORE], settings.audit, clock=clock),
        ):
            yield
    finally:
        await dispatcher.close()
