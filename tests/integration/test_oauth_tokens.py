"""Logitrail OAuth through the gateway: one token for everyone, refresh, scopes."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import SandboxHandle, auth, order, read_json
from tests.unit.fakes import SkipAheadClock


async def test_hundred_concurrent_submits_on_a_cold_token_make_one_token_request(
    make_gateway: Any, logitrail: SandboxHandle
) -> None:
    gateway: TestClient[Any, Any] = await make_gateway(providers__logitrail__prefetch_token=False)
    assert logitrail.sandbox.token_requests == 0

    resps = await asyncio.gather(
        *(
            gateway.post("/v1/orders", json=order(f"COLD-{i}"), headers=auth(key=f"c{i}"))
            for i in range(100)
        )
    )

    assert [r.status for r in resps] == [201] * 100
    assert logitrail.sandbox.token_requests == 1
    assert logitrail.sandbox.count("create", status=201) == 100


async def test_token_is_fetched_at_start_with_basic_auth_and_scopes(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    await gateway.post("/v1/orders", json=order("T-0"), headers=auth(key="t0"))
    token_call = next(r for r in logitrail.sandbox.requests if r.op == "token")
    assert token_call.headers["authorization"].startswith("Basic")
    assert token_call.body["grant_type"] == "client_credentials"
    assert token_call.body["scope"] == "orders:read orders:manage"
    assert token_call.status == 200
    create = next(r for r in logitrail.sandbox.requests if r.op == "create")
    assert create.headers["x-logitrail-merchant-id"] == "M-TEST"


async def test_expired_token_is_refreshed_once_and_the_call_succeeds(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    await gateway.post("/v1/orders", json=order("EXP-1"), headers=auth(key="e1"))
    logitrail.sandbox.expire_tokens()

    resp = await gateway.post("/v1/orders", json=order("EXP-2"), headers=auth(key="e2"))

    assert resp.status == 201
    assert logitrail.sandbox.token_requests == 2
    assert logitrail.sandbox.count("create", status=401) == 1
    assert logitrail.sandbox.count("create", status=201) == 2


async def test_short_expires_in_is_honoured_without_sending_an_expired_token(
    make_gateway: Any, logitrail: SandboxHandle, clock: SkipAheadClock
) -> None:
    # Logitrail: lifetimes vary, always read expires_in. (Skew maths: tests/unit, fake clock.)
    sandbox = logitrail.sandbox
    sandbox.token_ttl_s = 1
    gateway = await make_gateway(providers__logitrail__prefetch_token=False)
    await gateway.post("/v1/orders", json=order("SK-1"), headers=auth(key="s1"))
    await clock.advance(1.5)  # the sandbox's clock too: the first token has expired
    resp = await gateway.post("/v1/orders", json=order("SK-2"), headers=auth(key="s2"))
    assert resp.status == 201
    assert sandbox.token_requests == 2
    assert sandbox.count("*", status=401) == 0


async def test_invalid_scope_shows_in_readyz_and_orders_wait(
    make_gateway: Any, logitrail: SandboxHandle, clock: SkipAheadClock
) -> None:
    gateway = await make_gateway(
        providers__logitrail__scopes=["orders:read", "orders:manage", "pricing:manage"]
    )
    for _ in range(50):
        ready = await gateway.get("/readyz")
        if ready.status == 503:
            break
        await asyncio.sleep(0.02)
    body = await read_json(ready)

    assert ready.status == 503
    assert body["checks"]["store"]["status"] == "ok"
    assert body["checks"]["providers"]["logitrail"]["error"] == "provider logitrail misconfigured"
    providers = await read_json(await gateway.get("/v1/providers", headers=auth()))
    [state] = [p for p in providers["providers"] if p["name"] == "logitrail"]
    error = state["configuration_error"]
    assert "invalid_scope" in error or "pricing:manage" in error
    # The order waits out the request's budget (the clock's) before its 202: skip it.
    resp = await clock.skipping(
        gateway.post("/v1/orders", json=order("SC-1"), headers=auth(key="sc"))
    )
    assert resp.status == 202  # durably queued, not lost, not rejected
    assert (await read_json(resp))["status"] == "accepted"
    assert logitrail.sandbox.count("create") == 0
