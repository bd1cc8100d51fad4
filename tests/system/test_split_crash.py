"""Crash recovery of a split order: a real gateway process killed with SIGKILL while one
part's create is held at the provider and the other part is already there; the held create
is dropped (the client is gone), and a new process on the same store sends the missing part
once — each part at its provider exactly once, under its own reference."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from gateway.sandbox.logentic import Fault, LogenticSandbox
from tests.conftest import LOGENTIC_TOKEN, ca_order, ref
from tests.system.gateway_process import GatewayProcess, request
from tests.system.test_crash_recovery import ENV, HEADERS

pytestmark = pytest.mark.system

CONFIG = """
[server]
host = "127.0.0.1"
request_budget_s = 0.5
shutdown_timeout_s = 3

[store]
url = "{store_url}"

[[clients]]
id = "storefront-fi"
key_env = "KEY_FI"

[providers.logentic]
base_url = "{sandbox}/v1"
token_env = "LOGENTIC_API_TOKEN"
warehouses = {{ MTL = {{ warehouse_id = 1 }}, TOR = {{ warehouse_id = 2 }} }}
timeout_s = 30
retry = {{ max_attempts = 3, base_delay_s = 0.05, max_delay_s = 0.2, budget_s = 30 }}

[[routing.rules]]
name = "split"
stock_aware = true
split = true
candidates = [
    {{ provider = "logentic", warehouse = "MTL" }},
    {{ provider = "logentic", warehouse = "TOR" }},
]

[submission]
lease_s = 1
poll_interval_s = 0.05
backoff_base_s = 0.05
backoff_max_s = 0.5
"""
LINES = [
    {"sku": "TSHIRT-M", "quantity": 2, "unit_price": "24.90"},
    {"sku": "MUG", "quantity": 1, "unit_price": "9.90"},
]


async def _until(check: Any, what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := await check()):
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)
    return found


async def test_sigkill_with_one_part_sent_and_the_other_held_sends_each_part_once(
    tmp_path: Path, store_url: str
) -> None:
    sandbox = LogenticSandbox(token=LOGENTIC_TOKEN, warehouses={1: "MTL", 2: "TOR"})
    sandbox.add_item("TSHIRT-M", stock={1: 100, 2: 0})
    sandbox.add_item("MUG", stock={1: 0, 2: 100})
    server = TestServer(sandbox.app)
    await server.start_server()
    config = tmp_path / "gateway.toml"
    url = str(server.make_url("")).rstrip("/")
    config.write_text(CONFIG.format(store_url=store_url, sandbox=url))
    processes: list[GatewayProcess] = []

    async def start() -> GatewayProcess:
        gw = GatewayProcess(config, ENV, tmp_path / "gateway.log")
        processes.append(gw)
        await gw.start()
        return gw

    try:
        gw = await start()
        # The first create to arrive is held, then dropped: that part never reaches it.
        sandbox.inject(Fault(op="create", hold=True, reset=True))
        body = ca_order("SPLIT-CRASH", lines=LINES)
        status, created, _h = await request(
            "POST", f"{gw.url}/v1/orders", json=body, headers={**HEADERS, "Idempotency-Key": "s1"}
        )
        assert status == 202, created
        await sandbox.wait_held("create")

        async def one_created() -> bool:
            return sandbox.count("create", status=201) == 1

        await _until(one_created, "the other part never reached the provider")
        [sent] = list(sandbox.orders.values())

        await gw.kill()
        ended = sandbox.count("create")
        sandbox.release()
        await _until(
            lambda: asyncio.sleep(0, sandbox.count("create") > ended), "held create never ended"
        )
        restarted = await start()

        async def submitted() -> Any:
            _s, view, _h = await request(
                "GET", f"{restarted.url}/v1/orders/{created['id']}", headers=HEADERS
            )
            return view if view["status"] == "submitted" else None

        view = await _until(submitted, f"not submitted: {restarted.tail()}")
    finally:
        sandbox.release()
        for process in processes:
            await process.ensure_stopped()
        await server.close()

    first, second = view["parts"]
    at_mtl = sandbox.orders_by_external_name(ref("SPLIT-CRASH"))
    at_tor = sandbox.orders_by_external_name("storefront-fi#2/SPLIT-CRASH")
    assert (len(at_mtl), len(at_tor)) == (1, 1)
    assert (at_mtl[0].warehouse_id, at_tor[0].warehouse_id) == (1, 2)
    assert (first["provider_order_id"], second["provider_order_id"]) == (
        str(at_mtl[0].id),
        str(at_tor[0].id),
    )
    assert sent.id in (at_mtl[0].id, at_tor[0].id)  # the part sent before the kill, kept
    assert sandbox.count("create", status=201) == 2
    assert len(sandbox.orders) == 2
