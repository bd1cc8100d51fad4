"""TokenCache: single flight, expiry with skew, invalidation after 401, invalid_scope."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from urllib.parse import parse_qs

import aiohttp
import pytest

from gateway.errors import ConfigurationError, Unauthorized
from gateway.observability.metrics import Metrics
from gateway.transport.fleet import SharedToken
from gateway.transport.oauth import Token, TokenCache
from tests.unit.fakes import FakeClock
from tests.unit.scripted import Reply, ScriptedServer, scripted

PATH = "/realms/logitrail/token"


@pytest.fixture
async def fake() -> AsyncIterator[ScriptedServer]:
    async with scripted() as server:
        yield server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def cache(
    session: aiohttp.ClientSession, fake: ScriptedServer, clock: FakeClock, skew_s: float = 30
) -> TokenCache:
    return TokenCache(
        "logitrail",
        token_url=fake.url + PATH,
        client_id="id",
        client_secret="secret",
        scopes=["orders:read", "orders:manage"],
        session=session,
        clock=clock,
        skew_s=skew_s,
        metrics=Metrics().provider("logitrail"),
    )


def token(value: str, expires_in: int = 3600, delay_s: float = 0.0) -> Reply:
    return Reply(
        200,
        {
            "access_token": value,
            "token_type": "Bearer",
            "expires_in": expires_in,
            "scope": "orders:read orders:manage",
        },
        delay_s=delay_s,
    )


async def test_many_concurrent_callers_cause_one_token_request(
    session: aiohttp.ClientSession, fake: ScriptedServer
) -> None:
    fake.on("POST", PATH, token("t1", delay_s=0.05), then=token("other"))
    c = cache(session, fake, FakeClock())
    tokens = await asyncio.gather(*(c.token() for _ in range(50)))
    assert set(tokens) == {"t1"}
    assert c.requests == 1
    assert fake.count("POST", PATH) == 1


async def test_basic_auth_and_space_separated_scopes(
    session: aiohttp.ClientSession, fake: ScriptedServer
) -> None:
    fake.on("POST", PATH, token("t1"))
    await cache(session, fake, FakeClock()).token()
    [seen] = fake.seen
    assert seen.headers["Authorization"] == "Basic " + base64.b64encode(b"id:secret").decode()
    assert parse_qs(seen.body.decode()) == {
        "grant_type": ["client_credentials"],
        "scope": ["orders:read orders:manage"],
    }


async def test_token_is_refreshed_skew_seconds_before_expiry(
    session: aiohttp.ClientSession, fake: ScriptedServer
) -> None:
    clock = FakeClock()
    fake.on("POST", PATH, token("t1", 3600), token("t2", 3600))
    c = cache(session, fake, clock, skew_s=30)
    assert await c.token() == "t1"
    clock.advance(3600 - 31)
    assert await c.token() == "t1"
    clock.advance(2)
    assert await c.token() == "t2"
    assert c.requests == 2


async def test_short_lived_token_gets_proportional_skew(
    session: aiohttp.ClientSession, fake: ScriptedServer
) -> None:
    clock = FakeClock()
    fake.on("POST", PATH, token("t1", 20), token("t2", 20))
    c = cache(session, fake, clock, skew_s=30)
    await c.token()
    clock.advance(17)  # skew is 2 s (10 % of 20), not 30
    assert await c.token() == "t1"
    clock.advance(2)
    assert await c.token() == "t2"


async def test_invalidate_only_drops_the_token_that_failed(
    session: aiohttp.ClientSession, fake: ScriptedServer
) -> None:
    fake.on("POST", PATH, token("t1"), token("t2"), then=token("t3"))
    c = cache(session, fake, FakeClock())
    old = await c.token()
    c.invalidate(old)
    new = await c.token()
    c.invalidate(old)  # a late 401 for the old token must not drop the new one
    assert await c.token() == new == "t2"
    assert c.requests == 2


async def test_invalid_scope_is_a_configuration_error(
    session: aiohttp.ClientSession, fake: ScriptedServer
) -> None:
    fake.on(
        "POST",
        PATH,
        Reply(
            400, {"error": "invalid_scope", "error_description": "Invalid scopes: orders:manage"}
        ),
    )
    c = cache(session, fake, FakeClock())
    with pytest.raises(ConfigurationError):
        await c.token()
    assert c.configuration_error is not None
    assert "orders:manage" in c.configuration_error


async def test_bad_credentials_are_unauthorized(
    session: aiohttp.ClientSession, fake: ScriptedServer
) -> None:
    fake.on("POST", PATH, Reply(401, {"error": "invalid_client"}))
    c = cache(session, fake, FakeClock())
    with pytest.raises(Unauthorized):
        await c.token()
    assert "invalid_client" in (c.configuration_error or "")


async def test_success_clears_a_previous_configuration_error(
    session: aiohttp.ClientSession, fake: ScriptedServer
) -> None:
    fake.on("POST", PATH, Reply(400, {"error": "invalid_scope"}), token("t1"))
    c = cache(session, fake, FakeClock())
    with pytest.raises(ConfigurationError):
        await c.token()
    assert await c.token() == "t1"
    assert c.configuration_error is None


def test_a_token_prints_without_its_value() -> None:
    value = "eyJ-access-token-4b1d"
    for held in (Token(value, 1.0, 2.0), SharedToken(value, 60.0, 2.0)):
        assert value not in repr(held)
        assert value not in str(held)
        assert value not in f"{held!r} {[held]}"  # inside a container, as a log line shows it
        assert held.value == value
