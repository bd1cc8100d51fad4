"""Scale-out: two `gateway serve` processes on one PostgreSQL, one Redis and one provider.

500 orders go to either replica at random, as a load balancer would send them; one replica is
SIGKILLed while orders are still queued. A client whose request died with the replica sends it
again, with the same `Idempotency-Key`, to the other one (what a load balancer's retry does).
In the end every order is `submitted`, the provider holds each exactly once, and — the rate
limit being shared through Redis — the provider never saw more calls in any window of
`time_period` than `max_rate` (measured from the sandbox's own record of call times).
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from tests.conftest import CLIENT_ID, CLIENT_SECRET, KEYS, MERCHANT, order, ref
from tests.integration.test_fleet import busiest_window
from tests.services import PostgresDatabase
from tests.system.gateway_process import ROOT, GatewayProcess, free_port

pytestmark = [pytest.mark.system, pytest.mark.slow, pytest.mark.timeout(300)]

ORDERS = 500
MAX_RATE = 50
PERIOD_S = 1.0
CLIENTS = 8
"""Requests in flight at once from the storefront side. With a short request budget most
orders are answered 202 and queue (100+ are open when the replica is killed), while the
machine — 2 cores for two gateways, PostgreSQL, Redis, the sandbox and this client — keeps
enough slack that the sandbox stamps each call when it arrives."""

CONFIG = """
[server]
host = "127.0.0.1"
request_budget_s = 0.2
shutdown_timeout_s = 3
replicas = 2

[store]
url = "{store_url}"
pool_size = 8

[redis]
url = "{redis_url}"
key_prefix = "{redis_prefix}"

[[clients]]
id = "storefront-fi"
key_env = "KEY_FI"

[providers.logitrail]
base_url = "{sandbox}"
token_url = "{sandbox}/realms/logitrail/token"
client_id_env = "LOGITRAIL_CLIENT_ID"
client_secret_env = "LOGITRAIL_CLIENT_SECRET"
merchant_id = "{merchant}"
rate_limit = {{ max_rate = {max_rate}, time_period = {period} }}
max_concurrency = 16
timeout_s = 10
retry = {{ max_attempts = 5, base_delay_s = 0.05, max_delay_s = 0.5, budget_s = 30 }}
circuit = {{ failure_threshold = 1000, cool_down_s = 5 }}
warehouses = {{ FI-VANTAA = {{}} }}

[[routing.rules]]
name = "only"
candidates = [{{ provider = "logitrail", warehouse = "FI-VANTAA" }}]

[submission]
lease_s = 2
poll_interval_s = 0.1
backoff_base_s = 0.1
backoff_max_s = 1
batch = 100

[logging]
level = "warning"
"""
ENV = {
    "KEY_FI": KEYS["storefront-fi"],
    "LOGITRAIL_CLIENT_ID": CLIENT_ID,
    "LOGITRAIL_CLIENT_SECRET": CLIENT_SECRET,
}
HEADERS = {"Authorization": f"Bearer {KEYS['storefront-fi']}"}
OPEN = "SELECT COUNT(*) FROM orders WHERE phase <> 'done'"


@pytest.fixture
async def sandbox() -> AsyncIterator[str]:
    """The Logitrail sandbox in a process of its own (see `sandbox_process`); its root URL."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.system.sandbox_process", str(port), cwd=ROOT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 20
            while True:
                try:
                    async with session.get(url + "/_test/orders") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    pass
                assert proc.returncode is None, f"the sandbox exited {proc.returncode}"
                assert time.monotonic() < deadline, "the sandbox never answered"
                await asyncio.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        await proc.wait()


async def fetch(url: str) -> Any:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return await resp.json()


async def send(
    session: aiohttp.ClientSession, replicas: list[GatewayProcess], rng: random.Random, i: int
) -> int:
    """POST one order to a random live replica until one answers it; return the status."""
    external_id = f"SCALE-{i:04}"
    headers = {**HEADERS, "Idempotency-Key": external_id}
    for _attempt in range(200):
        live = [gw for gw in replicas if gw.proc is not None and gw.proc.returncode is None]
        gw = rng.choice(live)
        try:
            async with session.post(
                gw.url + "/v1/orders", json=order(external_id), headers=headers
            ) as resp:
                await resp.read()
                if resp.status != 409:
                    return resp.status
                # The request that holds the key died with its replica: wait for its lock.
                await asyncio.sleep(float(resp.headers.get("Retry-After", "1")) / 4)
        except (aiohttp.ClientConnectionError, TimeoutError):
            await asyncio.sleep(0.05)  # that replica is gone: the next try picks a live one
    raise AssertionError(f"{external_id}: no replica took it")


async def count(url: str, sql: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


async def test_two_replicas_one_killed_every_order_submitted_once_within_the_rate(
    tmp_path: Path,
    postgres_db: PostgresDatabase,
    redis_server: str,
    redis_prefix: str,
    sandbox: str,
) -> None:
    sandbox_url = sandbox + "/lt"
    store_url = await postgres_db.new_schema_url()
    config = tmp_path / "gateway.toml"
    config.write_text(
        CONFIG.format(
            store_url=store_url,
            redis_url=redis_server,
            redis_prefix=redis_prefix,
            sandbox=sandbox_url,
            merchant=MERCHANT,
            max_rate=MAX_RATE,
            period=PERIOD_S,
        )
    )
    replicas = [GatewayProcess(config, ENV, tmp_path / f"gateway-{n}.log") for n in "ab"]
    started = time.monotonic()
    try:
        await asyncio.gather(*(gw.start(timeout=60) for gw in replicas))  # migrate at once
        rng = random.Random(9)
        slots = asyncio.Semaphore(CLIENTS)
        answered = 0

        async def one(session: aiohttp.ClientSession, i: int) -> int:
            nonlocal answered
            async with slots:
                status = await send(session, replicas, rng, i)
            answered += 1
            return status

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            sending = asyncio.gather(*(one(session, i) for i in range(ORDERS)))
            # Half answered and some still queued: a slow client on a busy host can let the
            # gateways catch up for a moment, and the kill is meant to leave work behind.
            while not sending.done() and (
                answered < ORDERS // 2 or not await count(store_url, OPEN)
            ):
                await asyncio.sleep(0.01)
            await replicas[0].kill()
            open_at_kill = await count(store_url, OPEN)
            statuses = await sending

        deadline = time.monotonic() + 120
        while await count(store_url, "SELECT COUNT(*) FROM orders WHERE phase = 'done'") < ORDERS:
            assert time.monotonic() < deadline, replicas[1].tail()
            await asyncio.sleep(0.2)
        elapsed = time.monotonic() - started
    finally:
        for gw in replicas:
            await gw.ensure_stopped()

    assert set(statuses) <= {201, 202}
    assert open_at_kill > 0, "the kill should come while orders are still queued"
    submitted = await count(
        store_url, "SELECT COUNT(*) FROM orders WHERE status = 'submitted' AND phase = 'done'"
    )
    assert submitted == ORDERS
    held = await fetch(sandbox + "/_test/orders")
    assert sorted(held) == [ref(f"SCALE-{i:04}") for i in range(ORDERS)]
    assert {k: v for k, v in held.items() if v != ["confirmed"]} == {}  # each exactly once
    requests = await fetch(sandbox_url + "/_control/requests")
    calls = [r["at"] for r in requests if r["op"] != "token"]
    tokens = len(requests) - len(calls)
    busiest = busiest_window(calls, PERIOD_S)
    print(  # the numbers behind the README's claims (run with -s to see them)
        f"\nscale-out: {ORDERS} orders in {elapsed:.1f}s, {len(calls)} provider calls"
        f" ({tokens} token requests),"
        f" busiest {PERIOD_S:g}s window {busiest} calls (limit {MAX_RATE}),"
        f" {open_at_kill} orders open when replica a was killed,"
        f" answers {sorted((s, statuses.count(s)) for s in set(statuses))}"
    )
    assert busiest <= MAX_RATE
