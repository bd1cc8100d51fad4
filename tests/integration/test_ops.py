"""Liveness, readiness and `/v1/providers`."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from gateway.api.keys import STORE
from gateway.sandbox.logitrail import Fault as LogitrailFault
from tests.conftest import (
    CLIENT_SECRET,
    LOGENTIC_TOKEN,
    LogenticHandle,
    SandboxHandle,
    auth,
    ca_order,
    order,
    read_json,
)
from tests.unit.fakes import SkipAheadClock


async def test_healthz_needs_no_auth(gateway: TestClient[Any, Any]) -> None:
    resp = await gateway.get("/healthz")
    assert resp.status == 200
    assert (await read_json(resp)) == {"status": "ok"}


async def test_readyz_is_ready_with_store_and_providers(gateway: TestClient[Any, Any]) -> None:
    resp = await gateway.get("/readyz")
    body = await read_json(resp)
    assert resp.status == 200
    assert body["status"] == "ready"
    assert body["checks"]["providers"]["logitrail"]["circuit"] == "closed"


async def test_readyz_fails_when_the_store_is_gone_with_a_generic_reason(
    gateway: TestClient[Any, Any],
) -> None:
    store = gateway.server.app[STORE]
    await store.close()
    try:
        await store.ping()
    except Exception as exc:  # what the store says (on PostgreSQL: user, host, database)
        said = str(exc)
    resp = await gateway.get("/readyz")
    body = await read_json(resp)
    assert resp.status == 503
    # Unauthenticated: the store's own words stay in the log.
    assert body["checks"]["store"] == {"status": "error", "error": "store unreachable"}
    assert said not in await resp.text()


async def test_readyz_names_a_rate_limited_provider_as_degraded_but_stays_ready(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    logitrail.sandbox.inject(LogitrailFault(op="create", status=429, retry_after="120"))
    resp = await gateway.post("/v1/orders", json=order("RDY-1"), headers=auth(key="rdy-1"))
    assert resp.status == 202

    ready = await gateway.get("/readyz")
    body = await read_json(ready)
    assert ready.status == 200
    assert body["status"] == "ready"
    assert body["degraded"] == ["logitrail"]
    entry = body["checks"]["providers"]["logitrail"]
    assert entry["status"] == "degraded"
    assert entry["reasons"] == ["rate limited (Retry-After)"]
    assert body["checks"]["providers"]["logentic"]["status"] == "ok"


async def test_readyz_is_not_ready_on_refused_credentials(
    make_gateway: Any, logitrail: SandboxHandle
) -> None:
    gateway = await make_gateway(providers__logitrail__client_secret_env="KEY_SE")  # wrong secret
    for _ in range(100):
        ready = await gateway.get("/readyz")
        if ready.status == 503:
            break
        await asyncio.sleep(0.02)
    body = await read_json(ready)
    assert ready.status == 503
    assert body["status"] == "not_ready"
    assert body["checks"]["store"]["status"] == "ok"
    entry = body["checks"]["providers"]["logitrail"]
    assert entry == {
        "status": "misconfigured",
        "circuit": "closed",
        "error": "provider logitrail misconfigured",
    }
    # The provider's error_description is for the authenticated view only.
    assert "invalid_client" not in await ready.text()
    providers = await read_json(await gateway.get("/v1/providers", headers=auth()))
    [lt] = [p for p in providers["providers"] if p["name"] == "logitrail"]
    assert "invalid_client" in lt["configuration_error"]


async def test_readyz_is_not_ready_while_a_provider_refuses_its_api_token(
    make_gateway: Any, logentic: LogenticHandle, clock: SkipAheadClock
) -> None:
    gateway = await make_gateway(providers__logentic__token_env="KEY_SE")  # not Logentic's
    # The order waits out the request's budget (the clock's) before its 202: skip it.
    resp = await clock.skipping(
        gateway.post("/v1/orders", json=ca_order("RDY-401"), headers=auth(key="r401"))
    )
    assert resp.status == 202  # the order waits for an operator; it is not rejected

    ready = await gateway.get("/readyz")
    body = await read_json(ready)
    assert ready.status == 503
    entry = body["checks"]["providers"]["logentic"]
    assert entry["status"] == "misconfigured"
    assert entry["error"] == "provider logentic misconfigured"
    assert body["checks"]["providers"]["logitrail"]["status"] == "ok"


async def test_providers_shows_live_state_and_never_a_credential(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    resp = await gateway.post("/v1/orders", json=order("PRV-1"), headers=auth(key="prv-1"))
    assert resp.status == 201
    resp = await gateway.get("/v1/providers", headers=auth())
    assert resp.status == 200
    body = await read_json(resp)
    raw = await resp.text()

    by_name = {p["name"]: p for p in body["providers"]}
    lt = by_name["logitrail"]
    assert lt["status"] == "ok"
    assert lt["circuit"] == "closed"
    assert lt["retry_after_until"] is None
    assert lt["limiter"] == {
        "max_rate": 1000,
        "time_period": 1.0,
        "max_concurrency": 50,
        "in_flight": 0,
        "shared": "local",
    }
    expires = datetime.fromisoformat(lt["token_expires_at"])
    assert expires > datetime.now(UTC)
    assert lt["queue"] == {"depth": 0, "oldest_age_s": 0.0}
    assert lt["last_error"] is None
    assert lt["last_error_at"] is None
    assert by_name["logentic"]["token_expires_at"] is None  # static token: nothing expires
    tokens = set(logitrail.sandbox._state._tokens)  # issued (the sandbox's records redact them)
    assert tokens
    for secret in (CLIENT_SECRET, LOGENTIC_TOKEN, *tokens):
        assert secret not in raw


async def test_providers_shows_last_error_with_time_gate_and_queue(
    make_gateway: Any, logitrail: SandboxHandle
) -> None:
    gateway = await make_gateway(server__request_budget_s=0.3)
    logitrail.sandbox.inject(LogitrailFault(op="create", status=503))
    # the retry reconciles first (`find`): that one is told to wait two minutes
    logitrail.sandbox.inject(LogitrailFault(op="find", status=429, retry_after="120"))
    started = datetime.now(UTC).replace(microsecond=0)

    resp = await gateway.post("/v1/orders", json=order("PRV-2"), headers=auth(key="prv-2"))
    assert resp.status == 202
    body = await read_json(await gateway.get("/v1/providers", headers=auth()))

    lt = next(p for p in body["providers"] if p["name"] == "logitrail")
    assert lt["status"] == "degraded"
    assert lt["last_error"] == "create: HTTP 503"
    assert datetime.fromisoformat(lt["last_error_at"]) >= started
    gate = datetime.fromisoformat(lt["retry_after_until"])
    assert gate > datetime.now(UTC) + timedelta(seconds=100)
    assert lt["queue"]["depth"] == 1
    assert lt["queue"]["oldest_age_s"] >= 0


async def test_providers_needs_a_client_key(gateway: TestClient[Any, Any]) -> None:
    assert (await gateway.get("/v1/providers")).status == 401
