"""What the transport reports: attempt outcomes, retries, last error with time, refused keys."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest

from gateway.errors import CircuitOpen, Unavailable
from gateway.observability.metrics import Metrics
from gateway.transport import ProviderTransport, StaticBearer
from gateway.transport.fleet import LocalFleet
from tests.unit.fakes import FakeClock
from tests.unit.scripted import Reply, ScriptedServer, scripted
from tests.unit.test_transport import settings


@pytest.fixture
async def fake() -> AsyncIterator[ScriptedServer]:
    async with scripted() as server:
        yield server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def build(
    session: aiohttp.ClientSession, url: str, metrics: Metrics, clock: FakeClock, **kw: object
) -> ProviderTransport:
    return ProviderTransport(
        "p",
        settings(url, **kw),
        base_url=url,
        session=session,
        clock=clock,
        auth=StaticBearer("tok"),
        metrics=metrics.provider("p"),
        fleet=LocalFleet(),
    )


def calls(metrics: Metrics, op: str, outcome: str) -> float:
    value = metrics.registry.get_sample_value(
        "gateway_provider_calls_total", {"provider": "p", "operation": op, "outcome": outcome}
    )
    return value or 0.0


async def test_outcomes_of_attempts_and_retries(
    session: aiohttp.ClientSession, fake: ScriptedServer
) -> None:
    m = Metrics()
    fake.on("GET", "/x", Reply(200, delay_s=0.5), Reply(503), Reply(404), Reply(200))
    fake.on("POST", "/orders", Reply(drop=True))
    t = build(session, fake.url, m, FakeClock(), timeout_s=0.1)

    assert (await t.request("get", "GET", "/x", retry_unknown=True)).status == 404
    assert (await t.request("get", "GET", "/x", retry_unknown=True)).status == 200
    with pytest.raises(Unavailable):
        await t.request("create", "POST", "/orders", json={}, retry_unknown=False)

    assert calls(m, "get", "timeout") == 1
    assert calls(m, "get", "server_error") == 1
    assert calls(m, "get", "client_error") == 1
    assert calls(m, "get", "ok") == 1
    assert calls(m, "create", "connection_error") == 1
    retries = m.registry.get_sample_value(
        "gateway_provider_retries_total", {"provider": "p", "operation": "get"}
    )
    assert retries == 2
    sent = m.registry.get_sample_value(
        "gateway_provider_call_duration_seconds_count", {"provider": "p", "operation": "get"}
    )
    assert sent == 4


async def test_unreachable_provider_and_open_circuit(session: aiohttp.ClientSession) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    m = Metrics()
    clock = FakeClock()
    t = build(
        session,
        dead,
        m,
        clock,
        retry={"max_attempts": 1, "base_delay_s": 0.01, "max_delay_s": 0.01, "budget_s": 5},
        circuit={"failure_threshold": 1, "cool_down_s": 60},
    )
    with pytest.raises(Unavailable):
        await t.request("get", "GET", "/x", retry_unknown=True)
    with pytest.raises(CircuitOpen):
        await t.request("get", "GET", "/x", retry_unknown=True)

    assert calls(m, "get", "connection_error") == 1
    assert calls(m, "get", "circuit_open") == 1
    state = t.state()
    assert state.circuit == "open"
    assert state.last_error is not None
    assert state.last_error.startswith("get: cannot connect")
    assert state.last_error_at == clock.time()


async def test_refused_credentials_are_a_configuration_error_until_accepted_again(
    session: aiohttp.ClientSession, fake: ScriptedServer
) -> None:
    fake.on("GET", "/x", Reply(401), Reply(200))
    t = build(session, fake.url, Metrics(), FakeClock())

    await t.request("get", "GET", "/x", retry_unknown=True)
    refused = t.state().configuration_error
    assert refused is not None
    assert "refused the credentials" in refused
    await t.request("get", "GET", "/x", retry_unknown=True)
    assert t.state().configuration_error is None
