"""Provider limits shared by replicas through a real Redis (`RedisFleet`), and split without it.

Each "replica" here is what a gateway process has: its own Redis client, its own HTTP
session, its own transport or token cache — only Redis (and the provider) in common.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.clock import SystemClock
from gateway.config import ProviderSettings
from gateway.errors import RateLimited
from gateway.observability.metrics import Metrics
from gateway.transport import ProviderTransport, StaticBearer, TokenCache
from gateway.transport.auth import Auth
from gateway.transport.fleet import LocalFleet, local_bucket
from gateway.transport.redis_fleet import RedisFleet
from tests.conftest import CLIENT_ID, CLIENT_SECRET, SandboxHandle, auth, order, read_json
from tests.services import PostgresDatabase
from tests.unit.fakes import FakeClock


@pytest.fixture
async def replicas(redis_server: str, redis_prefix: str) -> AsyncIterator[Callable[[], RedisFleet]]:
    """Make `RedisFleet`s on one Redis and key prefix, as separate processes would."""
    made: list[RedisFleet] = []

    def make() -> RedisFleet:
        fleet = RedisFleet.from_url(redis_server, prefix=redis_prefix)
        made.append(fleet)
        return fleet

    yield make
    for fleet in made:
        await fleet.close()


@pytest.fixture
async def sessions() -> AsyncIterator[Callable[[], aiohttp.ClientSession]]:
    made: list[aiohttp.ClientSession] = []

    def make() -> aiohttp.ClientSession:
        made.append(aiohttp.ClientSession())
        return made[-1]

    yield make
    for s in made:
        await s.close()


def token_cache(
    handle: SandboxHandle, session: aiohttp.ClientSession, fleet: Any, **kw: Any
) -> TokenCache:
    return TokenCache(
        "logitrail",
        token_url=f"{handle.url}/realms/logitrail/token",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        scopes=["orders:read", "orders:manage"],
        session=session,
        clock=SystemClock(),
        fleet=fleet,
        metrics=Metrics().provider("logitrail"),
        **kw,
    )


def token_requests(handle: SandboxHandle) -> int:
    return sum(1 for r in handle.sandbox.requests if r.op == "token")


async def test_two_replicas_fetch_one_token_for_the_fleet(
    logitrail: SandboxHandle, replicas: Callable[[], RedisFleet], sessions: Callable[[], Any]
) -> None:
    a = token_cache(logitrail, sessions(), replicas())
    b = token_cache(logitrail, sessions(), replicas())
    tokens = await asyncio.gather(*(c.token() for c in (a, b) for _ in range(10)))
    assert len(set(tokens)) == 1
    assert token_requests(logitrail) == 1
    assert a.requests + b.requests == 1
    assert a.expires_at == pytest.approx(b.expires_at, abs=1)


async def test_a_refused_token_is_refreshed_once_for_the_fleet(
    logitrail: SandboxHandle, replicas: Callable[[], RedisFleet], sessions: Callable[[], Any]
) -> None:
    a = token_cache(logitrail, sessions(), replicas())
    b = token_cache(logitrail, sessions(), replicas())
    first = await a.token()
    assert await b.token() == first
    a.invalidate(first)  # both got a 401 with it
    b.invalidate(first)
    fresh = await asyncio.gather(a.token(), b.token(), a.token())
    assert len(set(fresh)) == 1
    assert fresh[0] != first
    assert token_requests(logitrail) == 2


async def test_without_redis_each_replica_fetches_its_own_token(
    logitrail: SandboxHandle, sessions: Callable[[], Any]
) -> None:
    a = token_cache(logitrail, sessions(), LocalFleet(2))
    b = token_cache(logitrail, sessions(), LocalFleet(2))
    await asyncio.gather(a.token(), b.token())
    assert token_requests(logitrail) == 2


async def test_a_429_at_one_replica_closes_the_gate_of_every_replica(
    replicas: Callable[[], RedisFleet],
) -> None:
    a = replicas().gate("p", ceiling_s=60, clock=SystemClock())
    b = replicas().gate("p", ceiling_s=60, clock=SystemClock())
    a.close_for(30)
    with pytest.raises(RateLimited):
        await a.wait(deadline=time.monotonic() + 0.1)  # also: the closing has reached Redis
    with pytest.raises(RateLimited) as info:
        await b.wait(deadline=time.monotonic() + 0.1)
    assert info.value.retry_after == pytest.approx(30, abs=1)
    other = replicas().gate("q", ceiling_s=60, clock=SystemClock())
    await other.wait(deadline=time.monotonic() + 0.1)  # another provider is not affected


async def test_the_fleet_gate_respects_the_ceiling(replicas: Callable[[], RedisFleet]) -> None:
    a = replicas().gate("p", ceiling_s=2, clock=SystemClock())
    b = replicas().gate("p", ceiling_s=2, clock=SystemClock())
    assert a.close_for(3600) == 2
    with pytest.raises(RateLimited):
        await a.wait(deadline=time.monotonic() + 0.1)
    with pytest.raises(RateLimited) as info:
        await b.wait(deadline=time.monotonic() + 0.1)
    assert info.value.retry_after <= 2


@dataclass
class Counting:
    """A provider endpoint that records when it counted each call; the first `late` calls it
    counts `late_s` after they were sent (on a slow network, or behind its own queue)."""

    url: str = ""
    arrivals: list[float] = field(default_factory=list)
    late: int = 0
    late_s: float = 0.0
    refuse: set[str] = field(default_factory=set)
    """Bearer tokens answered 401."""


@pytest.fixture
async def counting() -> AsyncIterator[Counting]:
    provider = Counting()

    async def handle(request: web.Request) -> web.Response:
        if provider.late > 0:
            provider.late -= 1
            await asyncio.sleep(provider.late_s)
        provider.arrivals.append(time.monotonic())
        if request.headers.get("Authorization", "").removeprefix("Bearer ") in provider.refuse:
            return web.json_response({"error": "expired"}, status=401)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/ping", handle)
    server = TestServer(app)
    await server.start_server()
    provider.url = str(server.make_url("")).rstrip("/")
    yield provider
    await server.close()


@pytest.fixture
async def provider(counting: Counting) -> tuple[str, list[float]]:
    """A provider endpoint that records when each call arrived."""
    return counting.url, counting.arrivals


def busiest_window(times: list[float], period: float) -> int:
    """The most calls that arrived within any `period` seconds (sliding window)."""
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= period:
            start += 1
        best = max(best, end - start + 1)
    return best


def rated_transport(
    url: str, session: aiohttp.ClientSession, fleet: Any, auth: Auth | None = None
) -> ProviderTransport:
    settings = ProviderSettings.model_validate(
        {"base_url": url, "rate_limit": {"max_rate": 4, "time_period": 1.0}, "max_concurrency": 20}
    )
    return ProviderTransport(
        "p",
        settings,
        base_url=url,
        session=session,
        clock=SystemClock(),
        auth=auth or StaticBearer("t"),
        fleet=fleet,
        metrics=Metrics().provider("p"),
    )


async def pings(transport: ProviderTransport, n: int) -> None:
    await asyncio.gather(
        *(transport.request("ping", "GET", "/ping", retry_unknown=True) for _ in range(n))
    )


async def test_replicas_together_stay_within_the_rate(
    provider: tuple[str, list[float]],
    replicas: Callable[[], RedisFleet],
    sessions: Callable[[], Any],
) -> None:
    url, arrivals = provider
    fleet = [rated_transport(url, sessions(), replicas()) for _ in range(2)]
    await asyncio.gather(
        *(t.request("ping", "GET", "/ping", retry_unknown=True) for t in fleet for _ in range(12))
    )
    assert len(arrivals) == 24

    assert busiest_window(arrivals, 1.0) <= 4


@pytest.mark.parametrize("shared", ["redis", "local"])
async def test_calls_the_provider_counts_late_still_fit_its_window(
    counting: Counting,
    replicas: Callable[[], RedisFleet],
    sessions: Callable[[], Any],
    shared: str,
) -> None:
    # The first 4 calls reach the provider's count 0.6 s after their slots were taken. Were a
    # call counted from its slot alone, the next 4 slots (a period on) would land in the same
    # second at the provider as those 4: 8 calls for a limit of 4.
    counting.late, counting.late_s = 4, 0.6
    if shared == "redis":
        fleet = [rated_transport(counting.url, sessions(), replicas()) for _ in range(2)]
        await asyncio.gather(*(pings(t, 4) for t in fleet))
    else:
        await pings(rated_transport(counting.url, sessions(), LocalFleet()), 8)

    assert len(counting.arrivals) == 8
    assert busiest_window(counting.arrivals, 1.0) <= 4


async def test_without_redis_no_second_holds_more_than_the_rate(
    counting: Counting, sessions: Callable[[], Any]
) -> None:
    # aiolimiter's leaky bucket (4 per second) let 4 through at once, then one every 0.25 s.
    await pings(rated_transport(counting.url, sessions(), LocalFleet()), 10)

    assert len(counting.arrivals) == 10
    assert busiest_window(counting.arrivals, 1.0) <= 4


class Rotating:
    """Bearer tokens t1, t2, …: each 401 gets the next one (what a token cache does)."""

    def __init__(self) -> None:
        self.n = 1

    async def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer t{self.n}"}

    def rejected(self, sent: Mapping[str, str]) -> bool:
        self.n += 1
        return True


async def test_the_resend_after_a_401_takes_a_rate_slot_of_its_own(
    counting: Counting, sessions: Callable[[], Any]
) -> None:
    counting.refuse = {"t1"}
    transport = rated_transport(counting.url, sessions(), LocalFleet(4), auth=Rotating())  # 1/s

    resp = await transport.request("ping", "GET", "/ping", retry_unknown=True)

    assert resp.status == 200
    assert len(counting.arrivals) == 2  # the 401 and the resend: two calls at the provider
    assert busiest_window(counting.arrivals, 1.0) == 1


def test_without_redis_each_replica_takes_its_share_of_the_rate() -> None:
    half = local_bucket(10, 1.0, clock=FakeClock(), share=2)
    assert (half.limit, half.period) == (5, 1.0)
    # A quarter call per second: one call per 4 s.
    slow = local_bucket(1, 1.0, clock=FakeClock(), share=4)
    assert (slow.limit, slow.period) == (1, 4.0)
    assert LocalFleet(3).description == "local (1/3 of each rate)"


async def test_an_unreachable_redis_degrades_to_local_limits(
    logitrail: SandboxHandle, sessions: Callable[[], Any], unused_tcp_port: int
) -> None:
    fleet = RedisFleet.from_url(f"redis://127.0.0.1:{unused_tcp_port}/0", prefix="x", replicas=2)
    try:
        cache = token_cache(logitrail, sessions(), fleet)
        assert await cache.token()
        gate = fleet.gate("p", ceiling_s=5, clock=FakeClock())
        await gate.wait()
        slot = await fleet.rate_bucket("p", max_rate=10, time_period=1, clock=FakeClock()).acquire(
            longest_s=1
        )
        slot.release()
        assert fleet.health.down
    finally:
        await fleet.close()
    assert token_requests(logitrail) == 1


async def test_two_gateways_on_one_redis_share_one_token_and_say_so(
    make_gateway: Callable[..., Any],
    logitrail: SandboxHandle,
    redis_server: str,
    redis_prefix: str,
    store_url: str,
) -> None:
    shared = {"redis__url": redis_server, "redis__key_prefix": redis_prefix}
    first = await make_gateway(**shared, store__url=store_url)
    second = await make_gateway(**shared, store__url=store_url)
    for gw in (first, second):
        resp = await gw.post("/v1/orders", json=order(f"F-{id(gw)}"), headers=auth(key=str(id(gw))))
        assert resp.status == 201
    assert token_requests(logitrail) == 1
    body = await read_json(await second.get("/v1/providers", headers=auth()))
    [state] = [p for p in body["providers"] if p["name"] == "logitrail"]
    assert state["limiter"]["shared"] == "redis (shared by every replica)"


async def test_without_redis_a_gateway_says_which_share_it_takes(
    make_gateway: Callable[..., Any], postgres_db: PostgresDatabase
) -> None:
    gw = await make_gateway(server__replicas=2, store__url=await postgres_db.new_schema_url())
    body = await read_json(await gw.get("/v1/providers", headers=auth()))
    assert {p["limiter"]["shared"] for p in body["providers"]} == {"local (1/2 of each rate)"}
