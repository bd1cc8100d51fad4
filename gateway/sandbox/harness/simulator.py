"""`Simulator`: what every provider sandbox class is, beside its own API and state.

A sandbox class inherits it, builds its state, webhook sender (`_sender`) and `_autopilot`,
then calls `_serve` with its operations: `app` then routes each operation to `_perform`
(where the provider checks auth and runs the handler), serves the shared and the provider's
own control routes, and installs the `CallHarness` that records, faults and holds every API
call. Tests inject faults, hold and release calls, and count what was received the same way
on every provider.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from aiohttp import web

from gateway.sandbox.harness.calls import CallHarness, F, RecordedRequest
from gateway.sandbox.harness.control import ControlRoute, add_control_routes
from gateway.sandbox.harness.errors import ErrorStyle
from gateway.sandbox.harness.webhooks import WebhookControls

S = TypeVar("S")


@dataclass(frozen=True)
class Operation(Generic[S]):
    """One route of a provider's API: its op name (records, faults) and what performs it.

    `scope`: the permission it needs, as the provider names it (None: none, or checked
    otherwise).
    """

    op: str
    method: str
    path: str
    handler: Callable[[S, web.Request], Awaitable[web.Response]]
    scope: str | None = None


def op_names(operations: Iterable[Operation[S]]) -> frozenset[str]:
    return frozenset(operation.op for operation in operations)


class Simulator(WebhookControls, Generic[F, S]):
    """The harness, the control surface and the aiohttp `app` of one provider's sandbox."""

    _harness: CallHarness[F]
    requests: list[RecordedRequest]
    app: web.Application

    def _serve(
        self,
        name: str,
        fault_type: type[F],
        style: ErrorStyle,
        operations: Sequence[Operation[S]],
        *,
        seed: int,
        clock: Callable[[], float],
        prefix: str = "",
    ) -> None:
        """Build the harness and `app`: each operation at `prefix + path`, then the control
        routes (the shared ones, then `_control_routes()`)."""
        self._operations: dict[web.AbstractRoute, Operation[S]] = {}
        self._harness = CallHarness(
            name=name, fault_type=fault_type, seed=seed, clock=clock, style=style, op_of=self._op_of
        )
        self.requests = self._harness.requests
        app = web.Application()
        for operation in operations:
            route = app.router.add_route(operation.method, prefix + operation.path, self._call)
            self._operations[route] = operation
        add_control_routes(app, self._harness, self._control_routes())
        self._harness.install(app)
        app.on_cleanup.append(self._on_cleanup)
        self.app = app

    def _control_routes(self) -> Iterable[ControlRoute]:
        """The provider's own control routes."""
        return ()

    async def _perform(self, request: web.Request, operation: Operation[S]) -> web.StreamResponse:
        """Check what the provider checks first (auth…), then run `operation.handler`."""
        raise NotImplementedError

    async def _call(self, request: web.Request) -> web.StreamResponse:
        return await self._perform(request, self._operations[request.match_info.route])

    async def _on_cleanup(self, _app: web.Application) -> None:
        await self.close()

    def _op_of(self, request: web.Request) -> str:
        operation = self._operations.get(request.match_info.route)
        return operation.op if operation is not None else "unknown"

    # faults, holds and records, from Python -------------------------------------------
    @property
    def faults(self) -> list[F]:
        """The injected fault rules, in evaluation order (exhausted ones included)."""
        return self._harness.faults

    def inject(self, fault: F) -> F:
        """Add a fault rule after the existing ones; returns it (watch `.remaining`)."""
        return self._harness.inject(fault)

    def clear_faults(self) -> None:
        self._harness.clear_faults()

    def release(self, op: str | None = None) -> None:
        """Release the calls held now (all, or those of `op`); later calls hold again."""
        self._harness.release(op)

    async def wait_held(
        self,
        op: str,
        n: int = 1,
        timeout: float = 10.0,  # noqa: ASYNC109 - part of the public test API
    ) -> None:
        """Return once `n` calls of `op` (``"*"``: any) are held; `TimeoutError` otherwise."""
        await self._harness.wait_held(op, n, timeout)

    def held(self, op: str = "*") -> int:
        """How many calls of `op` are held right now."""
        return self._harness.held(op)

    def count(self, op: str, *, status: int | None = None) -> int:
        """Recorded requests of `op` (``"*"``: any), optionally only those answered `status`."""
        return self._harness.count(op, status=status)
