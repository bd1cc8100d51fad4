"""Provider-neutral harness for the hostile-upstream tests: one `Target` per provider.

A `Target` knows how to build an order that routes to its provider, how many orders the
provider's sandbox holds for an external id, and which sandbox ops create and confirm. The
tests in `test_resilience.py` run once per target.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import auth, read_json


@dataclass
class Target:
    name: str
    sandbox: Any
    fault: Callable[..., Any]
    """The sandbox's `Fault` class."""
    create_op: str
    confirm_op: str | None
    order: Callable[[str], dict[str, Any]]
    """A canonical order body, with this external id, that routes to this provider."""
    held: Callable[[str], int]
    """How many orders the provider holds under this external id."""
    start: Callable[..., Awaitable[TestClient[Any, Any]]]
    """Start a gateway in front of this provider (keyword overrides as `make_settings`)."""
    replays: Callable[[], int] = lambda: 0
    """Creates the provider answered from an idempotency key's stored response (Flexport):
    a resent create that made no second order."""

    def calls(self, *, since: float = 0.0) -> list[Any]:
        """Requests the provider received (token requests excluded) after `since`."""
        return [r for r in self.sandbox.requests if r.op != "token" and r.at >= since]


HOSTILE = {
    # Small budgets and cool-downs keep the suite fast; the behaviour is the same.
    "server__request_budget_s": 1.0,
    "submission__backoff_base_s": 0.05,
    "submission__backoff_max_s": 0.3,
}


async def submit(gateway: TestClient[Any, Any], body: dict[str, Any]) -> tuple[int, Any]:
    resp = await gateway.post(
        "/v1/orders", json=body, headers=auth(key=f"key-{body['external_id']}")
    )
    return resp.status, await read_json(resp)


async def wait_all(
    gateway: TestClient[Any, Any],
    ids: list[str],
    status: str = "submitted",
    timeout: float = 60.0,
) -> dict[str, Any]:
    """Poll until every order has `status`; return their final views."""
    deadline = time.monotonic() + timeout
    views: dict[str, Any] = {}
    pending = list(ids)
    while pending:
        for order_id in list(pending):
            view = await read_json(await gateway.get(f"/v1/orders/{order_id}", headers=auth()))
            if view["status"] == status:
                views[order_id] = view
                pending.remove(order_id)
            elif view["status"] in ("rejected", "cancelled"):
                raise AssertionError(f"{order_id} ended {view['status']}: {view}")
        if pending:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(pending)} orders not {status} after {timeout}s")
            await asyncio.sleep(0.05)
    return views


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until `check()` holds (for facts the sandbox records when it answers)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
