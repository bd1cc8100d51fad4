"""`LogitrailSandbox`: a faithful simulator of the Logitrail 3PL API (providers/logitrail.md §0).

Routes, relative to where `app` is mounted (the gateway mounts it at `/_sandbox/logitrail`):

| op | route | scope |
|---|---|---|
| token | `POST /realms/logitrail/token` | HTTP Basic client credentials |
| create | `POST /orders/_create` | orders:manage |
| update | `POST /orders/{id}` | orders:manage |
| confirm | `POST /orders/{id}/_confirm` | orders:manage |
| get | `GET /orders/{id}` | orders:read |
| find | `GET /orders?merchants_order=&status=&offset=&limit=` | orders:read |
| cancel | `DELETE /orders/{id}` | orders:manage |

Every API call is recorded (`requests`, in the order answers are produced) and may be faulted
(`inject`, see `faults.py`); the `/_control/...` routes (`control.py`) are neither. Every
response carries an `x-correlation-id` header; every error is JSON.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import orjson
import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from . import api, control
from .errors import ApiError, json_response
from .faults import Effect, Fault, FaultBook, Holds
from .state import RecordedRequest, SandboxClient, SandboxOrder, SandboxState

log = structlog.get_logger(__name__)

CORRELATION_HEADER = "x-correlation-id"
_CONTROL_ANCHOR = "logitrail.control.requests"
_REDACTED_HEADERS = ("authorization", "authentication")
_FAULT_BODY = {"code": "unknown", "message": "injected fault"}


class LogitrailSandbox:
    """The Logitrail API simulator: state, fault injection, records, and its aiohttp `app`."""

    def __init__(
        self,
        *,
        clients: list[SandboxClient],
        merchant_id: str,
        token_ttl_s: float = 3600.0,
        clock: Callable[[], float] = time.time,
        seed: int = 0,
    ) -> None:
        self._state = SandboxState(
            clients=clients,
            merchant_id=merchant_id,
            token_ttl_s=token_ttl_s,
            clock=clock,
            seed=seed,
        )
        self._faults = FaultBook(seed)
        self._holds = Holds()
        self.requests: list[RecordedRequest] = []
        self.orders: dict[str, SandboxOrder] = self._state.orders
        self.token_requests = 0
        self._operations: dict[web.AbstractRoute, api.Operation] = {}
        self._calls: set[asyncio.Task[web.StreamResponse]] = set()
        self.app = self._build_app()

    # control, from Python

    @property
    def token_ttl_s(self) -> float:
        """Lifetime of tokens issued from now on (`expires_in`); settable, e.g. 0.5 in a test."""
        return self._state.token_ttl_s

    @token_ttl_s.setter
    def token_ttl_s(self, seconds: float) -> None:
        self._state.token_ttl_s = seconds

    @property
    def faults(self) -> list[Fault]:
        """The injected fault rules, in evaluation order (exhausted ones included)."""
        return list(self._faults.faults)

    def inject(self, fault: Fault) -> Fault:
        """Add a fault rule after the existing ones; returns it (watch `.remaining`)."""
        log.info("sandbox.logitrail.fault.injected", fault_id=fault.id, op=fault.op)
        return self._faults.add(fault)

    def clear_faults(self) -> None:
        self._faults.clear()

    def expire_tokens(self) -> None:
        """Every token issued so far becomes invalid (401 on use)."""
        self._state.expire_tokens()

    def release(self, op: str | None = None) -> None:
        """Release the calls held now (all, or those of `op`); later calls hold again."""
        released = self._holds.release(op)
        log.info("sandbox.logitrail.released", op=op or "*", calls=released)

    async def wait_held(
        self,
        op: str,
        n: int = 1,
        timeout: float = 10.0,  # noqa: ASYNC109 - part of the public test API
    ) -> None:
        """Return once `n` calls of `op` (``"*"``: any) are held; `TimeoutError` otherwise."""
        await self._holds.wait(op, n, timeout)

    def held(self, op: str = "*") -> int:
        """How many calls of `op` are held right now."""
        return self._holds.held(op)

    def orders_by_merchant_order(self, merchants_order: str) -> list[SandboxOrder]:
        return [o for o in self.orders.values() if o.merchants_order == merchants_order]

    def advance(self, order_id: str, status: str) -> None:
        """Move an order to any contract status (KeyError: unknown order, ValueError: status)."""
        self._state.set_status(self.orders[order_id], status)

    def count(self, op: str, *, status: int | None = None) -> int:
        """Recorded requests of `op` (``"*"``: any), optionally only those answered `status`."""
        return sum(
            1 for r in self.requests if op in ("*", r.op) and (status is None or r.status == status)
        )

    # the aiohttp application

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        for operation in api.OPERATIONS:
            route = app.router.add_route(operation.method, operation.path, self._perform)
            self._operations[route] = operation
        control.add_routes(app, self, anchor=_CONTROL_ANCHOR)
        app.on_shutdown.append(self._on_shutdown)
        app.on_cleanup.append(self._on_cleanup)
        return app

    async def _on_shutdown(self, _app: web.Application) -> None:
        self._holds.release()

    async def _on_cleanup(self, _app: web.Application) -> None:
        """Stop calls still running for clients that went away (e.g. in a long delay)."""
        for call in list(self._calls):
            call.cancel()
        await asyncio.gather(*self._calls, return_exceptions=True)

    async def _perform(self, request: web.Request) -> web.StreamResponse:
        operation = self._operations[request.match_info.route]
        if operation.scope is not None:
            api.authorize(self._state, request, operation.scope)
        return await operation.handler(self._state, request)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        route = request.match_info.route
        if route.name is not None and route.name.startswith("logitrail.control."):
            response = await _answer(request, handler)
        else:
            response = await self._api_call(request, handler)
        response.headers[CORRELATION_HEADER] = str(uuid.uuid4())
        return response

    async def _api_call(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Run the call in its own task, so it completes even if the client goes away.

        A provider does not stop because its client hung up: an aiohttp server started with
        `handler_cancellation=True` (as `TestServer` is) would otherwise cancel a held or
        delayed call and never record it.
        """
        operation = self._operations.get(request.match_info.route)
        op = operation.op if operation is not None else "unknown"
        at = self._state.clock()
        raw = await request.read()
        if op == "token":
            self.token_requests += 1
        call = asyncio.create_task(self._run_call(request, handler, op, raw, at))
        self._calls.add(call)
        call.add_done_callback(self._calls.discard)
        return await asyncio.shield(call)

    async def _run_call(
        self, request: web.Request, handler: Handler, op: str, raw: bytes, at: float
    ) -> web.StreamResponse:
        picked = self._faults.pick(op)
        if picked is None:
            response = await _answer(request, handler)
        else:
            fault, effect = picked
            log.info(
                "sandbox.logitrail.fault",
                op=op,
                fault_id=fault.id,
                status=effect.status,
                after=effect.after,
                hold=effect.hold,
                reset=effect.reset,
                delay_s=effect.delay_s,
            )
            response = await self._faulted(request, handler, op, effect)
        status = 0 if isinstance(response, _ResetResponse) else response.status
        self.requests.append(self._record(request, op, raw, at, status))
        return response

    async def _faulted(
        self, request: web.Request, handler: Handler, op: str, effect: Effect
    ) -> web.StreamResponse:
        if not effect.after:
            await self._stall(op, effect)
            if effect.reset:
                return _reset(request)
            if effect.status is not None:
                return _fault_response(effect)
        response = await _answer(request, handler)
        if effect.after:
            await self._stall(op, effect)
            if effect.reset:
                return _reset(request)
            if effect.status is not None:
                return _fault_response(effect)
        return response

    async def _stall(self, op: str, effect: Effect) -> None:
        if effect.delay_s > 0:
            await asyncio.sleep(effect.delay_s)
        if effect.hold:
            await self._holds.hold(op)

    def _record(
        self, request: web.Request, op: str, raw: bytes, at: float, status: int
    ) -> RecordedRequest:
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            key = name.lower()
            shown = value
            if key in _REDACTED_HEADERS:
                scheme = value.strip().partition(" ")[0]
                shown = f"{scheme} <redacted>" if scheme else "<redacted>"
            headers[key] = f"{headers[key]}, {shown}" if key in headers else shown
        return RecordedRequest(
            op=op,
            method=request.method,
            path=self._relative_path(request.path),
            query=dict(request.query),
            headers=headers,
            body=_parse_body(request.content_type, raw),
            at=at,
            status=status,
        )

    def _relative_path(self, path: str) -> str:
        anchor = self.app.router[_CONTROL_ANCHOR].canonical
        prefix = anchor.removesuffix(control.REQUESTS_PATH)
        return path.removeprefix(prefix) if prefix and path.startswith(prefix + "/") else path


class _ResetResponse(web.Response):
    """Placeholder answer for an aborted connection; writing it fails quietly in aiohttp."""


def _reset(request: web.Request) -> web.StreamResponse:
    """Abort the TCP connection so the client sees a connection error, not an answer."""
    if request.transport is not None:
        request.transport.abort()
    return _ResetResponse(status=499)


def _fault_response(effect: Effect) -> web.Response:
    assert effect.status is not None
    body = effect.body if effect.body is not None else _FAULT_BODY
    headers = {"Retry-After": effect.retry_after} if effect.retry_after is not None else None
    return json_response(body, status=effect.status, headers=headers)


async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Run the handler, turning every error (ours or aiohttp's routing ones) into JSON."""
    try:
        return await handler(request)
    except ApiError as error:
        return error.response()
    except web.HTTPMethodNotAllowed as exc:
        allow = ", ".join(sorted(exc.allowed_methods))
        return json_response(
            {"code": "method_not_allowed", "message": f"{request.method} not allowed; use {allow}"},
            status=405,
            headers={"Allow": allow},
        )
    except web.HTTPNotFound:
        return json_response(
            {"code": "not_found", "message": f"no route {request.method} {request.path}"},
            status=404,
        )
    except web.HTTPException as exc:
        return json_response({"code": "unknown", "message": exc.reason}, status=exc.status)
    except Exception:
        log.exception("sandbox.logitrail.handler.failed", path=request.path)
        return json_response({"code": "unknown", "message": "internal error"}, status=500)


def _parse_body(content_type: str, raw: bytes) -> Any:
    if not raw:
        return None
    if content_type == "application/x-www-form-urlencoded":
        return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "replace")
