"""`CallHarness`: what every provider sandbox does around its API calls.

For each API call (not the control API) the harness: records it (`requests`), applies the
first matching fault rule (`faults.py`), holds it until released, and runs it in its own
shielded task so it completes — and is recorded — even when the client has gone away, as a
real provider would. Every response, control API included, carries an `x-correlation-id`.

A sandbox supplies its `Fault` class (whose `ops` are its op names), how it names the op of
a request (`op_of`) and how its errors look (`ErrorStyle`, `errors.py`: every error of a
handler is answered in the provider's own format, and so is an injected error status).
Control routes are told apart by their route name, `<sandbox>.control.<what>`
(`control_route_name`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qsl

import orjson
import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.sandbox.harness.errors import ErrorStyle, answer, json_response
from gateway.sandbox.harness.faults import Fault, FaultBook, Holds

log = structlog.get_logger(__name__)

CORRELATION_HEADER = "x-correlation-id"
REQUESTS_PATH = "/_control/requests"
_REDACTED_HEADERS = ("authorization", "authentication")
_LOGGED_EFFECT = ("status", "after", "hold", "reset", "delay_s")

F = TypeVar("F", bound=Fault)


def control_route_name(sandbox: str, what: str) -> str:
    """The route name of a control route; the harness neither records nor faults these."""
    return f"{sandbox}.control.{what}"


@dataclass(frozen=True)
class RecordedRequest:
    """One request the sandbox received and what it answered (status 0: connection reset).

    `path` is relative to the mount point; `at` is the sandbox clock when it arrived.
    """

    op: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    at: float
    status: int


class CallHarness(Generic[F]):
    """Faults, holds and records of one sandbox; `install` it on the sandbox's application.

    - `name`: the sandbox's name, in log events (``sandbox.<name>.fault``) and route names.
    - `fault_type`: the sandbox's `Fault` class (for the control API); its `ops` are the op
      names `op_of` gives API calls; other calls (unknown routes) are recorded but never
      faulted.
    """

    def __init__(
        self,
        *,
        name: str,
        fault_type: type[F],
        seed: int,
        clock: Callable[[], float],
        style: ErrorStyle,
        op_of: Callable[[web.Request], str],
    ) -> None:
        self.name = name
        self.ops = fault_type.ops
        self.fault_type = fault_type
        self.requests: list[RecordedRequest] = []
        self._book = FaultBook(seed, self.ops)
        self._holds = Holds()
        self._clock = clock
        self._style = style
        self._op_of = op_of
        self._calls: set[asyncio.Task[web.StreamResponse]] = set()
        self._app: web.Application | None = None
        self.on_call: Callable[[str], None] = lambda _op: None
        """Called with the op of every API call as it arrives (e.g. to count token calls)."""

    # control, from Python -------------------------------------------------------------
    @property
    def faults(self) -> list[F]:
        """The injected fault rules, in evaluation order (exhausted ones included)."""
        return [f for f in self._book.faults if isinstance(f, self.fault_type)]

    def inject(self, fault: F) -> F:
        """Add a rule after the existing ones; `ValueError` if its op is not one of `ops`."""
        self._book.add(fault)
        log.info(f"sandbox.{self.name}.fault.injected", fault_id=fault.id, op=fault.op)
        return fault

    def clear_faults(self) -> None:
        self._book.clear()

    def release(self, op: str | None = None) -> int:
        """Release the calls held now (all, or those of `op`); later calls hold again."""
        released = self._holds.release(op)
        log.info(f"sandbox.{self.name}.released", op=op or "*", calls=released)
        return released

    async def wait_held(self, op: str, n: int, timeout: float) -> None:  # noqa: ASYNC109
        """Return once `n` calls of `op` (``"*"``: any) are held; `TimeoutError` otherwise."""
        await self._holds.wait(op, n, timeout)

    def held(self, op: str = "*") -> int:
        return self._holds.held(op)

    def count(self, op: str, *, status: int | None = None) -> int:
        """Recorded requests of `op` (``"*"``: any), optionally only those answered `status`."""
        return sum(
            1 for r in self.requests if op in ("*", r.op) and (status is None or r.status == status)
        )

    # the aiohttp side ---------------------------------------------------------------
    def install(self, app: web.Application) -> None:
        """Add the middleware and the shutdown hooks to a sandbox's application."""
        self._app = app
        app.middlewares.append(self._middleware)
        app.on_shutdown.append(self._on_shutdown)
        app.on_cleanup.append(self._on_cleanup)

    async def _on_shutdown(self, _app: web.Application) -> None:
        self._holds.release()

    async def _on_cleanup(self, _app: web.Application) -> None:
        """Stop calls still running for clients that went away (e.g. in a long delay)."""
        for call in list(self._calls):
            call.cancel()
        await asyncio.gather(*self._calls, return_exceptions=True)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        name = request.match_info.route.name
        if name is not None and name.startswith(control_route_name(self.name, "")):
            response = await self._answer(request, handler)
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
        op = self._op_of(request)
        at = self._clock()
        raw = await request.read()
        self.on_call(op)
        call = asyncio.create_task(self._run_call(request, handler, op, raw, at))
        self._calls.add(call)
        call.add_done_callback(self._calls.discard)
        return await asyncio.shield(call)

    async def _run_call(
        self, request: web.Request, handler: Handler, op: str, raw: bytes, at: float
    ) -> web.StreamResponse:
        picked = self._book.pick(op)
        if picked is None:
            response = await self._answer(request, handler)
        else:
            fault, effect = picked
            logged = {name: getattr(effect, name) for name in _LOGGED_EFFECT}
            log.info(f"sandbox.{self.name}.fault", op=op, fault_id=fault.id, **logged)
            response = await self._faulted(request, handler, op, effect)
        status = 0 if isinstance(response, _ResetResponse) else response.status
        self.requests.append(self._record(request, op, raw, at, status))
        return response

    async def _answer(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        return await answer(request, handler, self._style, self.name)

    async def _faulted(
        self, request: web.Request, handler: Handler, op: str, effect: Fault
    ) -> web.StreamResponse:
        performed = await self._answer(request, handler) if effect.after else None
        await self._stall(op, effect)
        if effect.reset:
            return _reset(request)
        if effect.status is not None:
            return self._fault_response(effect)
        return performed if performed is not None else await self._answer(request, handler)

    async def _stall(self, op: str, effect: Fault) -> None:
        if effect.delay_s > 0:
            await asyncio.sleep(effect.delay_s)
        if effect.hold:
            await self._holds.hold(op)

    def _fault_response(self, effect: Fault) -> web.Response:
        assert effect.status is not None
        body = effect.body if effect.body is not None else self._style.fault_body(effect.status)
        headers = {"Retry-After": effect.retry_after} if effect.retry_after is not None else None
        return json_response(
            body,
            status=effect.status,
            headers=headers,
            content_type=self._style.fault_content_type,
        )

    def _relative_path(self, path: str) -> str:
        """`path` below the mount point: aiohttp prefixes a sub-app's routes when mounted."""
        assert self._app is not None
        anchor = self._app.router[control_route_name(self.name, "requests")]
        prefix = anchor.canonical.removesuffix(REQUESTS_PATH)
        return path.removeprefix(prefix) if prefix and path.startswith(prefix + "/") else path

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


class _ResetResponse(web.Response):
    """Placeholder answer for an aborted connection; writing it fails quietly in aiohttp."""


def _reset(request: web.Request) -> web.StreamResponse:
    """Abort the TCP connection so the client sees a connection error, not an answer."""
    if request.transport is not None:
        request.transport.abort()
    return _ResetResponse(status=499)


def _parse_body(content_type: str, raw: bytes) -> Any:
    if not raw:
        return None
    if content_type == "application/x-www-form-urlencoded":
        return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "replace")
