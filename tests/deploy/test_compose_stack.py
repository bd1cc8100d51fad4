"""The compose stack's gateways, run as processes from the shipped config files.

What docker-compose.yml starts, without Docker: `gateway migrate`, the `simulator` gateway on
compose/simulator.toml, and two replicas on compose/gateway.toml — the files as shipped, with
only the compose host names (`postgres`, `redis`, `simulator`) swapped for this machine's
servers. Orders for every provider go to either replica; each provider simulator ends up
holding each order once, both replicas read the same orders, and the simulators' webhooks
(to the simulator gateway) move every provider's orders on in the shared store.
"""

from __future__ import annotations

import asyncio
import copy
import os
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from tests.deploy.catalogue import DEPLOY, ROOT
from tests.deploy.config_files import dummy_environ, toml_of
from tests.services import PostgresDatabase
from tests.system.gateway_process import GatewayProcess, free_port

pytestmark = [pytest.mark.system, pytest.mark.slow, pytest.mark.timeout(180)]

ADVANCED = {"in_progress", "shipped", "delivered"}
_LINE = ["accepted", "submitted", "in_progress", "shipped", "delivered"]
LATER_OR_SAME = {(a, b) for i, a in enumerate(_LINE) for b in _LINE[i:]}


def _sample(name: str, external_id: str, **address: str) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads((ROOT / "config" / name).read_bytes())
    body = copy.deepcopy(body)
    body["external_id"] = external_id
    body["address"].update(address)
    return body


ORDERS = {
    # external id → (order, provider its rule sends it to)
    "STACK-FI": (_sample("sample-order.json", "STACK-FI"), "logitrail"),
    "STACK-CA": (_sample("sample-order-ca.json", "STACK-CA"), "logentic"),
    "STACK-B2B": (_sample("sample-order-b2b.json", "STACK-B2B"), "flexport"),
    "STACK-DE": (
        _sample("sample-order.json", "STACK-DE", country_code="DE", postal_code="10115"),
        "flexport",
    ),
}


def _localised(
    name: str, tmp_path: Path, store_url: str, redis_url: str, prefix: str, sim: str
) -> Path:
    text = (DEPLOY / "compose" / name).read_text()
    swaps = [
        ("postgresql://gateway@postgres:5432/gateway", store_url),
        ("redis://redis:6379/0", redis_url),
        ('key_prefix = "gateway-compose"', f'key_prefix = "{prefix}"'),
    ]
    if name == "gateway.toml":
        swaps.append(("http://simulator:8080", sim))
    for compose_value, here in swaps:
        assert compose_value in text, (name, compose_value)
        text = text.replace(compose_value, here)
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture
async def stack(
    tmp_path: Path, postgres_db: PostgresDatabase, redis_server: str, redis_prefix: str
) -> AsyncIterator[tuple[list[GatewayProcess], GatewayProcess, dict[str, str]]]:
    store_url = await postgres_db.new_schema_url()
    sim_port = free_port()
    configs = {
        name: _localised(
            name, tmp_path, store_url, redis_server, redis_prefix, f"http://127.0.0.1:{sim_port}"
        )
        for name in ("gateway.toml", "simulator.toml")
    }
    # Same variable names give the same values: the simulator takes the replicas' credentials.
    env = dummy_environ(toml_of(configs["gateway.toml"]))
    assert set(dummy_environ(toml_of(configs["simulator.toml"]))) <= set(env)
    migrate = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "gateway", "migrate", "--config", str(configs["gateway.toml"])),
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await migrate.communicate()
    assert migrate.returncode == 0, out.decode()
    simulator = GatewayProcess(configs["simulator.toml"], env, tmp_path / "simulator.log")
    simulator.port, simulator.url = sim_port, f"http://127.0.0.1:{sim_port}"
    replicas = [
        GatewayProcess(configs["gateway.toml"], env, tmp_path / f"gateway-{i}.log") for i in (1, 2)
    ]
    try:
        await simulator.start()
        for replica in replicas:
            await replica.start()
        yield replicas, simulator, env
    finally:
        for gw in (*replicas, simulator):
            await gw.ensure_stopped()


async def _json(session: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> Any:
    async with session.request(method, url, **kw) as resp:
        body = await resp.json(content_type=None)
        return resp.status, body


async def test_compose_configs_run_the_stack_every_provider_once_shared_store(
    stack: tuple[list[GatewayProcess], GatewayProcess, dict[str, str]],
) -> None:
    replicas, simulator, env = stack
    key = env["GATEWAY_KEY_STOREFRONT_FI"]
    headers = {"Authorization": f"Bearer {key}"}
    ids: dict[str, str] = {}
    async with aiohttp.ClientSession() as session:
        for i, (external_id, (body, provider)) in enumerate(ORDERS.items()):
            status, answer = await _json(
                session,
                "POST",
                replicas[i % 2].url + "/v1/orders",
                json=body,
                headers={**headers, "Idempotency-Key": external_id},
            )
            assert status in (201, 202), answer
            assert answer["provider"] == provider, answer
            ids[external_id] = answer["id"]

        # Both replicas read every order from the one store; the simulators' webhooks (sent
        # to the simulator gateway) move the orders on.
        deadline = time.monotonic() + 60
        while True:
            seen = {}
            for external_id, order_id in ids.items():
                views = [
                    await _json(session, "GET", gw.url + f"/v1/orders/{order_id}", headers=headers)
                    for gw in replicas
                ]
                assert all(status == 200 for status, _ in views), views
                # One store: the second replica, read a moment later, shows the same status
                # or a later one (the orders move on meanwhile, and only forward).
                first, second = (v[1]["status"] for v in views)
                assert (first, second) in LATER_OR_SAME, views
                seen[external_id] = second
            # Logitrail's too: compose gives its simulator the webhook token (`?token=`).
            done = all(seen[e] in ADVANCED for e in ORDERS)
            if done:
                break
            assert time.monotonic() < deadline, f"orders did not move on: {seen}"
            await asyncio.sleep(0.5)

        creates: Counter[str] = Counter()
        for provider in ("logitrail", "logentic", "flexport"):
            status, calls = await _json(
                session, "GET", simulator.url + f"/_sandbox/{provider}/_control/requests"
            )
            assert status == 200
            creates[provider] = sum(1 for c in calls if c["op"] in ("create", "b2b_create"))
    assert creates == Counter(provider for _body, provider in ORDERS.values())
