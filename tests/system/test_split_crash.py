"""Crash recovery of a split order: a real gateway process killed with SIGKILL at each phase
of each part, then a new process on the same store.

The rule splits a Canadian order over Logentic MTL (part 1: the T-shirts) and Flexport (part
2: the mug), each provider's sandbox in this test process, so a fault on one sandbox hits
exactly one part. The part under test is stopped in its phase while the other part reaches
its provider; the gateway is killed; the held call is then performed or dropped, as a
provider would with the client gone. After the restart every part is at its provider exactly
once, under its own reference, and the order is `submitted`.

Phases: `queued` (its provider down and its circuit open: nothing reached it), `creating`
with the create held and not yet performed, `creating` with the create performed and its
answer lost. Neither Logentic nor Flexport confirms (`capabilities.confirm` is off), so a part
at either has no `confirming` phase; Logitrail does, and takes a part only as the back-order
(it reports no stock): the last test kills the gateway during that part's confirm. The matrix
runs on SQLite; PostgreSQL runs one case of each part.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from gateway.sandbox.flexport import Fault as FlexportFault
from gateway.sandbox.flexport import FlexportSandbox
from gateway.sandbox.logentic import Fault as LogenticFault
from gateway.sandbox.logentic import LogenticSandbox
from gateway.sandbox.logitrail import Fault as LogitrailFault
from gateway.sandbox.simulators import DEMO_PRODUCTS
from tests.conftest import (
    FLEXPORT_TOKEN,
    LOGENTIC_TOKEN,
    MERCHANT,
    ca_order,
    new_logitrail_sandbox,
    ref,
)
from tests.system.gateway_process import GatewayProcess, read_part_phases, request
from tests.system.test_crash_recovery import BLOCKS, ENV, HEADERS

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
base_url = "{logentic}/v1"
token_env = "LOGENTIC_API_TOKEN"
warehouses = {{ MTL = {{ warehouse_id = 1 }} }}
timeout_s = 30
retry = {{ max_attempts = 1, base_delay_s = 0.05, max_delay_s = 0.2, budget_s = 30 }}
circuit = {{ failure_threshold = 1, cool_down_s = 60 }}

[providers.flexport]
base_url = "{flexport}"
token_env = "FLEXPORT_TOKEN"
warehouses = {{ auto = {{ kind = "d2c" }} }}
timeout_s = 30
retry = {{ max_attempts = 1, base_delay_s = 0.05, max_delay_s = 0.2, budget_s = 30 }}
circuit = {{ failure_threshold = 1, cool_down_s = 60 }}

[[routing.rules]]
name = "split"
stock_aware = true
split = true
candidates = [
    {{ provider = "logentic", warehouse = "MTL" }},
    {{ provider = "flexport", warehouse = "auto" }},
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
EXTERNAL_ID = "SPLIT-CRASH"


async def _until(check: Any, what: str, timeout: float = 30) -> Any:
    """Poll `check` (a plain or an async function) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while not (found := await _value(check())):
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)
    return found


async def _value(result: Any) -> Any:
    return await result if inspect.isawaitable(result) else result


async def _start(tmp: Path, processes: list[GatewayProcess]) -> GatewayProcess:
    """A gateway process on `tmp/gateway.toml`, added to `processes` (stopped afterwards)."""
    gw = GatewayProcess(tmp / "gateway.toml", ENV, tmp / "gateway.log")
    processes.append(gw)
    await gw.start()
    return gw


@dataclass
class SplitRig:
    tmp: Path
    store_url: str
    logentic: LogenticSandbox
    flexport: FlexportSandbox
    processes: list[GatewayProcess]

    def sandbox(self, part: int) -> Any:
        return self.logentic if part == 1 else self.flexport

    def fault(self, part: int, **fields: Any) -> Any:
        return (LogenticFault if part == 1 else FlexportFault)(op="create", **fields)

    def at_provider(self, part: int) -> list[Any]:
        if part == 1:
            return list(self.logentic.orders_by_external_name(ref(EXTERNAL_ID)))
        return list(self.flexport.orders_by_external_id(f"storefront-fi#2/{EXTERNAL_ID}"))

    async def start(self) -> GatewayProcess:
        return await _start(self.tmp, self.processes)

    async def release_held(self, part: int) -> None:
        """The held create of the dead client ends (performed or dropped)."""
        sandbox = self.sandbox(part)
        ended = sandbox.count("create")
        sandbox.release()
        await _until(lambda: sandbox.count("create") > ended, "held create never ended")


@pytest.fixture
async def split_rig(tmp_path: Path, store_url: str) -> AsyncIterator[SplitRig]:
    logentic = LogenticSandbox(token=LOGENTIC_TOKEN, warehouses={1: "MTL"})
    logentic.add_item("TSHIRT-M", stock={1: 100})
    logentic.add_item("MUG", stock={1: 0})
    flexport = FlexportSandbox(tokens={FLEXPORT_TOKEN: None})
    for merchant_sku, (logistics_sku, name) in DEMO_PRODUCTS.items():
        stock = {"ATL1": 100 if merchant_sku == "MUG" else 0}
        flexport.add_product(merchant_sku, logistics_sku=logistics_sku, name=name, stock=stock)
    servers = [TestServer(logentic.app), TestServer(flexport.app)]
    for server in servers:
        await server.start_server()
    urls = [str(s.make_url("")).rstrip("/") for s in servers]
    (tmp_path / "gateway.toml").write_text(
        CONFIG.format(store_url=store_url, logentic=urls[0], flexport=urls[1])
    )
    rig = SplitRig(tmp_path, store_url, logentic, flexport, [])
    try:
        yield rig
    finally:
        logentic.release()
        flexport.release()
        for process in rig.processes:
            await process.ensure_stopped()
        for server in servers:
            await server.close()


PHASES = {
    # the part's provider answers 503 to every create: its circuit opens, nothing reaches it
    "queued": {"status": 503, "count": None},
    "creating-unsent": {"hold": True, "reset": True},  # held, then dropped: never created
    "creating-sent": {"hold": True, "after": True},  # created, then its answer is lost
}
SQLITE = pytest.param("sqlite", id="sqlite")
BOTH = [SQLITE, pytest.param("postgres", id="postgres")]
CASES = [
    pytest.param(part, phase, store, id=f"part{part}-{phase}-{store.id}")
    for part in (1, 2)
    for phase in PHASES
    for store in ([*BOTH] if phase == "creating-sent" else [SQLITE])
]


@pytest.mark.parametrize(("part", "phase", "store_url"), CASES, indirect=["store_url"])
async def test_sigkill_at_each_phase_of_each_part_leaves_each_part_at_its_provider_once(
    split_rig: SplitRig, part: int, phase: str
) -> None:
    rig = split_rig
    other = 3 - part
    gw = await rig.start()
    rig.sandbox(part).inject(rig.fault(part, **PHASES[phase]))
    body = ca_order(EXTERNAL_ID, lines=LINES)
    status, created, _h = await request(
        "POST", f"{gw.url}/v1/orders", json=body, headers={**HEADERS, "Idempotency-Key": "s1"}
    )
    assert status == 202, created
    if phase == "queued":
        await _until(
            lambda: rig.sandbox(part).count("create", status=503) >= 1,
            "the part's create was never tried",
        )
    else:
        await rig.sandbox(part).wait_held("create")

    async def other_sent() -> bool:
        return rig.sandbox(other).count("create", status=201) == 1

    await _until(other_sent, "the other part never reached its provider")
    phases = await read_part_phases(rig.store_url, EXTERNAL_ID)
    assert phases[other - 1] == "done"
    assert phases[part - 1] in (("pending", "creating") if phase == "queued" else ("creating",))
    assert phase == "creating-sent" or rig.at_provider(part) == []

    await gw.kill()
    if phase == "queued":
        rig.sandbox(part).clear_faults()
    else:
        await rig.release_held(part)
    restarted = await rig.start()

    async def submitted() -> Any:
        _s, view, _h = await request(
            "GET", f"{restarted.url}/v1/orders/{created['id']}", headers=HEADERS
        )
        return view if view["status"] == "submitted" else None

    view = await _until(submitted, f"not submitted: {restarted.tail()}")
    at_logentic, at_flexport = rig.at_provider(1), rig.at_provider(2)
    assert (len(at_logentic), len(at_flexport)) == (1, 1)
    assert rig.logentic.count("create", status=201) == 1
    assert rig.flexport.count("create", status=201) == 1
    first, second = view["parts"]
    assert (first["provider"], first["warehouse"]) == ("logentic", "MTL")
    assert (second["provider"], second["warehouse"]) == ("flexport", "auto")
    assert first["provider_order_id"] == str(at_logentic[0].id)
    assert second["provider_order_id"] == at_flexport[0].order_id
    assert [p["status"] for p in view["parts"]] == ["submitted", "submitted"]


BACKORDER_CONFIG = """
[server]
host = "127.0.0.1"
request_budget_s = 0.5
shutdown_timeout_s = 3

[store]
url = "{store_url}"

[[clients]]
id = "storefront-fi"
key_env = "KEY_FI"

{logitrail_block}
timeout_s = 30
retry = {{ max_attempts = 3, base_delay_s = 0.05, max_delay_s = 0.2, budget_s = 30 }}

[providers.logentic]
base_url = "{logentic}/v1"
token_env = "LOGENTIC_API_TOKEN"
warehouses = {{ MTL = {{ warehouse_id = 1 }} }}
timeout_s = 30
retry = {{ max_attempts = 3, base_delay_s = 0.05, max_delay_s = 0.2, budget_s = 30 }}

[[routing.rules]]
name = "split"
stock_aware = true
split = true
candidates = [
    {{ provider = "logitrail", warehouse = "FI-VANTAA" }},
    {{ provider = "logentic", warehouse = "MTL" }},
]

[submission]
lease_s = 1
poll_interval_s = 0.05
backoff_base_s = 0.05
backoff_max_s = 0.5
"""


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("performed", [False, True], ids=["confirming-unsent", "confirming-sent"])
async def test_sigkill_during_a_parts_confirm_leaves_it_confirmed_once(
    tmp_path: Path, store_url: str, performed: bool
) -> None:
    """Part 1 is the back-order at Logitrail (the mug no warehouse holds), part 2 the
    T-shirts at Logentic; the gateway dies while part 1's confirm is held."""
    logitrail = new_logitrail_sandbox()
    logentic = LogenticSandbox(token=LOGENTIC_TOKEN, warehouses={1: "MTL"})
    logentic.add_item("TSHIRT-M", stock={1: 100})
    logentic.add_item("MUG", stock={1: 0})
    servers = [TestServer(logitrail.app), TestServer(logentic.app)]
    for server in servers:
        await server.start_server()
    urls = [str(s.make_url("")).rstrip("/") for s in servers]
    block = BLOCKS["logitrail"].format(sandbox=urls[0], merchant=MERCHANT)
    (tmp_path / "gateway.toml").write_text(
        BACKORDER_CONFIG.format(store_url=store_url, logitrail_block=block, logentic=urls[1])
    )
    processes: list[GatewayProcess] = []
    try:
        gw = await _start(tmp_path, processes)
        fault = LogitrailFault(op="confirm", hold=True, after=performed, reset=not performed)
        logitrail.inject(fault)
        body = ca_order(EXTERNAL_ID, lines=LINES)
        status, created, _h = await request(
            "POST", f"{gw.url}/v1/orders", json=body, headers={**HEADERS, "Idempotency-Key": "b1"}
        )
        assert status == 202, created
        await logitrail.wait_held("confirm")
        await _until(
            lambda: logentic.count("create", status=201) == 1,
            "part 2 never reached Logentic",
        )
        # The provider's id is only in memory during the confirm: the part is `creating`.
        assert await read_part_phases(store_url, EXTERNAL_ID) == ["creating", "done"]

        await gw.kill()
        ended = logitrail.count("confirm")
        logitrail.release()
        await _until(lambda: logitrail.count("confirm") > ended, "confirm never ended")
        restarted = await _start(tmp_path, processes)

        async def submitted() -> Any:
            _s, view, _h = await request(
                "GET", f"{restarted.url}/v1/orders/{created['id']}", headers=HEADERS
            )
            return view if view["status"] == "submitted" else None

        view = await _until(submitted, f"not submitted: {restarted.tail()}")
    finally:
        logitrail.release()
        logentic.release()
        for process in processes:
            await process.ensure_stopped()
        for server in servers:
            await server.close()

    [at_logitrail] = logitrail.orders_by_merchant_order(ref(EXTERNAL_ID))
    [at_logentic] = logentic.orders_by_external_name(f"storefront-fi#2/{EXTERNAL_ID}")
    assert at_logitrail.status == "confirmed"
    assert logitrail.count("create", status=201) == 1
    assert logentic.count("create", status=201) == 1
    first, second = view["parts"]
    assert (first["provider"], first["lines"]) == ("logitrail", [{"sku": "MUG", "quantity": 1}])
    assert (second["provider"], second["lines"]) == (
        "logentic",
        [{"sku": "TSHIRT-M", "quantity": 2}],
    )
    assert first["provider_order_id"] == at_logitrail.id
    assert second["provider_order_id"] == str(at_logentic.id)
