"""An Idempotency-Key whose request failed after storing its order (or return) leads to it.

The request's store fails (or the request is cancelled) on its first store call after the
insert; the client's retry with the same key gets the order as a submit answers it, not
`409 order-exists`, and the provider holds it once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from gateway.errors import StoreUnavailable
from gateway.store import Store
from tests.conftest import SandboxHandle, auth, order, read_json, ref
from tests.integration.test_returns import placed


@pytest.fixture
def gateway_store_url(store_url: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return store_url


class FailingStore:
    """The real store, but for one call it is told to fail: that call raises
    `StoreUnavailable`, or (`cancel`) its request is cancelled there, as a client that hangs up
    or a shutdown would cancel it."""

    def __init__(self, store: Store, *, cancel: bool) -> None:
        self._store = store
        self._cancel = cancel
        self._after: str | None = None
        self._armed: asyncio.Task[Any] | None = None
        self._next: str | None = None
        self.failed: list[str] = []
        """The calls that failed."""

    def fail_after(self, insert: str) -> None:
        """Fail the call that the request which makes `insert` makes next."""
        self._after = insert

    def fail_next(self, name: str) -> None:
        """Fail the next call of `name`, whoever makes it."""
        self._next = name

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._store, name)
        if not asyncio.iscoroutinefunction(real):
            return real

        async def call(*args: Any, **kwargs: Any) -> Any:
            task = asyncio.current_task()
            if (task is not None and task is self._armed) or name == self._next:
                self._armed = self._next = None
                self.failed.append(name)
                if self._cancel:
                    assert task is not None
                    task.cancel()
                    await asyncio.sleep(0)  # where the cancellation lands
                raise StoreUnavailable(f"{name}: injected failure")
            result = await real(*args, **kwargs)
            if name == self._after:
                self._after, self._armed = None, task
            return result

        return call


def failing(insert: str, failure: str) -> tuple[list[FailingStore], Callable[[Store], Any]]:
    """A `wrap_store` for `make_gateway` that fails the call after the first `insert`."""
    made: list[FailingStore] = []

    def wrap(store: Store) -> Any:
        made.append(FailingStore(store, cancel=failure == "cancel"))
        made[-1].fail_after(insert)
        return made[-1]

    return made, wrap


async def post(gateway: TestClient[Any, Any], path: str, body: Any, key: str) -> tuple[int, Any]:
    """The answer, or (0, None) when the connection was dropped without one."""
    try:
        resp = await gateway.post(path, json=body, headers=auth(key=key))
    except aiohttp.ServerDisconnectedError:
        return 0, None
    return resp.status, await read_json(resp)


@pytest.mark.parametrize("failure", ["error", "cancel"])
async def test_an_order_stored_by_a_request_that_failed_answers_the_retry_with_the_same_key(
    make_gateway: Any, logitrail: SandboxHandle, failure: str
) -> None:
    made, wrap = failing("insert_order", failure)
    gateway = await make_gateway(wrap_store=wrap)

    first, _ = await post(gateway, "/v1/orders", order("AFTER-1"), "after-1")
    status, again = await post(gateway, "/v1/orders", order("AFTER-1"), "after-1")
    replay = await gateway.post("/v1/orders", json=order("AFTER-1"), headers=auth(key="after-1"))

    assert made[0].failed  # the failure did happen after the insert
    assert first == (503 if failure == "error" else 0)
    assert status in (201, 202), again
    assert again["id"].startswith("ord_")
    assert again["external_id"] == "AFTER-1"
    assert (await read_json(replay))["id"] == again["id"]
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert logitrail.sandbox.count("create") == 1
    assert [o.merchants_order for o in logitrail.sandbox.orders.values()] == [ref("AFTER-1")]


@pytest.mark.parametrize("failure", ["error", "cancel"])
async def test_a_return_stored_by_a_request_that_failed_answers_the_retry_with_the_same_key(
    make_gateway: Any, logitrail: SandboxHandle, failure: str
) -> None:
    made, wrap = failing("insert_return", failure)
    gateway = await make_gateway(wrap_store=wrap)
    o = await placed(gateway, logitrail, "AFTER-R1")
    body = {"order_id": o["id"], "external_id": "RMA-AFTER-1"}

    first, _ = await post(gateway, "/v1/returns", body, "after-r1")
    status, again = await post(gateway, "/v1/returns", body, "after-r1")

    assert made[0].failed
    assert first == (503 if failure == "error" else 0)
    assert status in (201, 202), again
    assert again["id"].startswith("ret_")
    assert again["order_id"] == o["id"]
    assert logitrail.sandbox.count("return_create") == 1
    assert len(logitrail.sandbox.returns) == 1


@pytest.mark.parametrize("failure", ["error", "cancel"])
async def test_a_resume_that_failed_leaves_the_key_to_the_next_retry_at_once(
    make_gateway: Any, logitrail: SandboxHandle, failure: str
) -> None:
    made, wrap = failing("insert_order", failure)
    gateway = await make_gateway(wrap_store=wrap)
    await post(gateway, "/v1/orders", order("AFTER-2"), "after-2")

    made[0].fail_next("get_order")  # the retry finds the order stored, then fails too
    resumed, _ = await post(gateway, "/v1/orders", order("AFTER-2"), "after-2")
    status, again = await post(gateway, "/v1/orders", order("AFTER-2"), "after-2")

    assert made[0].failed[-1] == "get_order"
    assert resumed == (503 if failure == "error" else 0)
    # Not `409 request-in-progress` until the failed resume's lock runs out.
    assert status in (201, 202), again
    assert again["external_id"] == "AFTER-2"
    assert logitrail.sandbox.count("create") == 1
