"""ProviderTransport retry rules, one HTTP exchange at a time (scripted server, fake clock)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from gateway.config import ProviderSettings
from gateway.errors import CircuitOpen, Unavailable
from gateway.observability import audit
from gateway.observability.audit import Recorder
from gateway.observability.metrics import Metrics
from gateway.transport import ProviderTransport, StaticBearer
from gateway.transport.fleet import LocalFleet
from tests.unit.fakes import FakeClock
from tests.unit.scripted import Reply, ScriptedServer, scripted


def settings(url: str, **kw: Any) -> ProviderSettings:
    data: dict[str, Any] = {
        "base_url": url,
        "timeout_s": 2,
        "retry": {"max_attempts": 4, "base_delay_s": 0.1, "max_delay_s": 1.0, "budget_s": 30},
        "circuit": {"failure_threshold": 50},
        **kw,
    }
    return ProviderSettings.model_validate(data)


@pytest.fixture
async def fake() -> AsyncIterator[ScriptedServer]:
    async with scripted() as server:
        yield server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def transport(
    session: aiohttp.ClientSession, url: str, clock: FakeClock | None = None, **kw: Any
) -> ProviderTransport:
    return ProviderTransport(
        "p",
        settings(url, **kw),
        base_url=url,
        session=session,
        clock=clock or FakeClock(),
        auth=StaticBearer("tok"),
        default_headers={"X-Merchant": "M-1"},
        metrics=Metrics().provider("p"),
        fleet=LocalFleet(),
    )


async def test_get_is_retried_on_503_until_it_succeeds(
    session: aiohttp.ClientSession, fake: ScriptedServer
) -> None:
    clock = FakeClock()
    fake.on("GET", "/x", Reply(503), Reply(502), Reply(200, {"ok": True}))
    resp = await transport(session, fake.url, clock).request("get", "GET", "/x", retry_unknown=True)
    assert resp.status == 200
    assert resp.json() == {"ok": True}
    assert fake.count("GET", "/x") == 3
    assert len(clock.slept) == 2


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_create_is_not_resent_after_a_5xx(
    session: aiohttp.ClientSession, fake: ScriptedServer, status: int
) -> None:
    fake.on("POST", "/orders", Reply(status), Reply(201))
    resp = await transport(session, fake.url).request(
        "create", "POST", "/orders", json={}, retry_unknown=False
    )
    assert resp.status == status
    assert fake.count("POST", "/orders") == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
async def test_other_4xx_are_never_retried(
    session: aiohttp.ClientSession, fake: ScriptedServer, status: int
) -> None:
    fake.on("GET", "/x", then=Reply(status))
    resp = await transport(session, fake.url).request("get", "GET", "/x", retry_unknown=True)
    assert resp.status == status
    assert fake.count("GET", "/x") == 1


async def test_500_is_not_retried_by_the_transport(
    session: aiohttp.ClientSession, fake: ScriptedServer
) -> None:
    fake.on("GET", "/x", then=Reply(500))
    resp = await transport(session, fake.url).request("get", "GET", "/x", retry_unknown=True)
    assert resp.status == 500
    assert fake.count("GET", "/x") == 1


async def test_429_on_create_waits_retry_after_then_resends(
    session: aiohttp.ClientSession, fake: ScriptedServer
) -> None:
    clock = FakeClock()
    fake.on("POST", "/orders", Reply(429, headers={"Retry-After": "2"}), Reply(201, {"id": 1}))
    start = clock.monotonic()
    resp = await transport(session, fake.url, clock).request(
        "create", "POST", "/orders", json={}, retry_unknown=False
    )
    assert resp.status == 201
    assert fake.count("POST", "/orders") == 2
    assert clock.monotonic() - start >= 2


async def test_429_closes_the_gate_for_other_calls_too(
    session: aiohttp.ClientSession, fake: ScriptedServer
) -> None:
    clock = FakeClock()
    t = transport(session, fake.url, clock)
    fake.on("GET", "/a", Reply(429, headers={"Retry-After": "5"}), Reply(200))
    fake.on("GET", "/b", then=Reply(200))
    first = await t.request("get", "GET", "/a", retry_unknown=True)
    assert first.status == 200
    t.gate.close_for(5)  # as if another call had just been told to wait
    start = clock.monotonic()
    await t.request("get", "GET", "/b", retry_unknown=True)
    assert clock.monotonic() - start >= 5


async def test_connect_error_is_safe_to_retry_even_for_a_create(
    session: aiohttp.ClientSession,
) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    t = transport(
        session,
        dead,
        retry={"max_attempts": 3, "base_delay_s": 0.01, "max_delay_s": 0.01, "budget_s": 5},
    )
    with pytest.raises(Unavailable) as info:
        await t.request("create", "POST", "/orders", json={}, retry_unknown=False)
    assert info.value.outcome_unknown is False
    assert "cannot connect" in info.value.message


async def test_dropped_connection_on_create_is_outcome_unknown_and_not_resent(
    session: aiohttp.ClientSession, fake: ScriptedServer
) -> None:
    fake.on("POST", "/orders", Reply(drop=True), Reply(201))
    with pytest.raises(Unavailable) as info:
        await transport(session, fake.url).request(
            "create", "POST", "/orders", json={}, retry_unknown=False
        )
    assert info.value.outcome_unknown is True
    assert fake.count("POST", "/orders") == 1


async def test_timeout_on_create_is_outcome_unknown_and_not_resent(
    session: aiohttp.ClientSession, fake: ScriptedServer
) -> None:
    fake.on("POST", "/orders", Reply(201, delay_s=0.5), Reply(201))
    with pytest.raises(Unavailable) as info:
        await transport(session, fake.url, timeout_s=0.1).request(
            "create", "POST", "/orders", json={}, retry_unknown=False
        )
    assert info.value.outcome_unknown is True
    assert "timed out" in info.value.message
    assert fake.count("POST", "/orders") == 1


async def test_timeout_on_a_read_is_retried(
    session: aiohttp.ClientSession, fake: ScriptedServer
) -> None:
    fake.on("GET", "/x", Reply(200, delay_s=0.5), Reply(200, {"n": 2}))
    resp = await transport(session, fake.url, timeout_s=0.1).request(
        "get", "GET", "/x", retry_unknown=True
    )
    assert resp.json() == {"n": 2}


async def test_attempts_are_capped(session: aiohttp.ClientSession, fake: ScriptedServer) -> None:
    fake.on("GET", "/x", then=Reply(503))
    resp = await transport(session, fake.url).request("get", "GET", "/x", retry_unknown=True)
    assert resp.status == 503
    assert fake.count("GET", "/x") == 4


async def test_budget_stops_retries_early(
    session: aiohttp.ClientSession, fake: ScriptedServer
) -> None:
    clock = FakeClock()
    t = transport(
        session,
        fake.url,
        clock,
        retry={"max_attempts": 20, "base_delay_s": 1, "max_delay_s": 1, "budget_s": 1.5},
    )
    fake.on("GET", "/x", then=Reply(503, headers={"Retry-After": "1"}))
    resp = await t.request("get", "GET", "/x", retry_unknown=True)
    assert resp.status == 503
    assert fake.count("GET", "/x") == 2
    assert sum(clock.slept) <= 1.5 + 1e-9


async def test_breaker_opens_and_then_refuses_without_calling(
    session: aiohttp.ClientSession, fake: ScriptedServer
) -> None:
    t = transport(session, fake.url, circuit={"failure_threshold": 2, "cool_down_s": 60})
    fake.on("GET", "/x", then=Reply(500))
    await t.request("get", "GET", "/x", retry_unknown=True)
    await t.request("get", "GET", "/x", retry_unknown=True)
    with pytest.raises(CircuitOpen):
        await t.request("get", "GET", "/x", retry_unknown=True)
    assert fake.count("GET", "/x") == 2


async def test_bearer_default_headers_and_json_body_are_sent(
    session: aiohttp.ClientSession, fake: ScriptedServer
) -> None:
    fake.on("POST", "/o", Reply(201))
    await transport(session, fake.url).request(
        "create", "POST", "/o", json={"a": 1}, retry_unknown=False
    )
    [seen] = fake.seen
    assert seen.headers["Authorization"] == "Bearer tok"
    assert seen.headers["X-Merchant"] == "M-1"
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.body == b'{"a":1}'


async def test_each_attempt_is_recorded_with_its_outcome_and_an_encoded_query(
    session: aiohttp.ClientSession, fake: ScriptedServer
) -> None:
    fake.on("GET", "/orders", Reply(201, delay_s=0.5), Reply(200))
    t = transport(session, fake.url, timeout_s=0.1)
    t.audit = recorder = Recorder()
    with audit.subject("order", "storefront-fi", "ord_1"):
        params = {"q": "a&b=c", "token": "tok-1"}
        await t.request("list", "GET", "/orders", params=params, retry_unknown=True)
    recorded = recorder.drain()
    assert [(x.outcome, x.attempt) for x in recorded] == [("timeout", 1), ("ok", 2)]
    # one parameter `q` (its `&` and `=` kept inside it), the token's value removed
    assert recorded[-1].path == "/orders?q=a%26b%3Dc&token=%5Bredacted%5D"


async def test_an_attempt_that_cannot_connect_is_recorded_unreachable(
    session: aiohttp.ClientSession,
) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    retry = {"max_attempts": 1, "base_delay_s": 0.01, "max_delay_s": 0.01, "budget_s": 5}
    t = transport(session, dead, retry=retry)
    t.audit = recorder = Recorder()
    with audit.subject("order", "storefront-fi", "ord_1"), pytest.raises(Unavailable):
        await t.request("create", "POST", "/orders", json={}, retry_unknown=False)
    assert [(x.outcome, x.response_status) for x in recorder.drain()] == [("unreachable", None)]
