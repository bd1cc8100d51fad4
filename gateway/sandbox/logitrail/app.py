"""`LogitrailSandbox`: a faithful simulator of the Logitrail 3PL API (docs/providers/logitrail.md).

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
| return_* | `/order-returns…` (see `returns.py`) | order_returns:read / :manage |

Webhooks (`webhooks.py`) go to `webhook_url` (which carries the gateway's `?token=`) on every
status change. `autopilot_s` (for the demo): a confirmed order moves on to `processing`, then
`processed`, every so many seconds, unless something else changed its status meanwhile.

Every API call is recorded (`requests`, in the order answers are produced) and may be faulted
(`inject`, see `gateway.sandbox.harness`); the `/_control/...` routes are neither. Every
response carries an `x-correlation-id` header; every error is JSON.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from aiohttp import web

from gateway.sandbox.harness import Autopilot, ControlRoute, Operation, Simulator

from . import api, control
from .errors import STYLE
from .faults import Fault
from .returns import INBOUND_STATUSES
from .state import SandboxClient, SandboxOrder, SandboxReturn, SandboxState
from .webhooks import WebhookSender

AUTOPILOT = ("confirmed", "processing", "processed")


class LogitrailSandbox(Simulator[Fault, SandboxState]):
    """The Logitrail API simulator: state, fault injection, records, and its aiohttp `app`."""

    _sender: WebhookSender

    def __init__(
        self,
        *,
        clients: list[SandboxClient],
        merchant_id: str,
        token_ttl_s: float = 3600.0,
        clock: Callable[[], float] = time.time,
        seed: int = 0,
        webhook_url: str | None = None,
        autopilot_s: float | None = None,
    ) -> None:
        self._state = SandboxState(
            clients=clients,
            merchant_id=merchant_id,
            token_ttl_s=token_ttl_s,
            clock=clock,
            seed=seed,
        )
        self._sender = WebhookSender(url=webhook_url, clock=clock)
        self._autopilot = Autopilot("logitrail", autopilot_s)
        self._state.on_status = self._on_status
        self.orders: dict[str, SandboxOrder] = self._state.orders
        self.returns: dict[str, SandboxReturn] = self._state.returns
        self.token_requests = 0
        self._serve("logitrail", Fault, STYLE, api.OPERATIONS, seed=seed, clock=clock)
        self._harness.on_call = self._count_token

    # control, from Python

    @property
    def token_ttl_s(self) -> float:
        """Lifetime of tokens issued from now on (`expires_in`); settable, e.g. 0.5 in a test."""
        return self._state.token_ttl_s

    @token_ttl_s.setter
    def token_ttl_s(self, seconds: float) -> None:
        self._state.token_ttl_s = seconds

    def expire_tokens(self) -> None:
        """Every token issued so far becomes invalid (401 on use)."""
        self._state.expire_tokens()

    def orders_by_merchant_order(self, merchants_order: str) -> list[SandboxOrder]:
        return [o for o in self.orders.values() if o.merchants_order == merchants_order]

    def advance(self, order_id: str, status: str) -> None:
        """Move an order to any contract status (KeyError: unknown order, ValueError: status)."""
        self._state.set_status(self.orders[order_id], status)

    def advance_return(self, return_id: str, status: str) -> None:
        """Move a return to any contract status (KeyError: unknown return, ValueError: status)."""
        self._state.set_return_status(self.returns[return_id], status)

    def set_inbound(self, return_id: str, status: str) -> None:
        """Link an inbound shipment to a return (or move its status): `pending`, `processing`…"""
        if status not in INBOUND_STATUSES:
            raise ValueError(f"unknown inbound status {status!r}; one of {INBOUND_STATUSES}")
        ret = self.returns[return_id]
        if ret.inbound_shipment is None:
            ret.inbound_shipment = {"id": self._state.new_id(), "status": status}
        else:
            ret.inbound_shipment["status"] = status

    def _on_status(self, order: SandboxOrder) -> None:
        self._sender.announce(order)
        if order.status == "confirmed":
            self._autopilot.start(order, AUTOPILOT, self._state.set_status)

    # the aiohttp side

    def _control_routes(self) -> Iterable[ControlRoute]:
        return control.routes(self)

    def _count_token(self, op: str) -> None:
        if op == "token":
            self.token_requests += 1

    async def _perform(
        self, request: web.Request, operation: Operation[SandboxState]
    ) -> web.StreamResponse:
        if operation.scope is not None:
            api.authorize(self._state, request, operation.scope)
        return await operation.handler(self._state, request)
