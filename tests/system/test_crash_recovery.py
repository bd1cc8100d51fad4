"""Crash recovery: a real gateway process killed with SIGKILL in each submission phase.

The Logitrail sandbox runs in this test process and holds the gateway's call in the phase
under test; the gateway is killed while the call is held, the held call is then either
performed or dropped by the sandbox (as a provider would, with the client gone), and a new
gateway process starts on the same database. Every order must end `submitted` with exactly
one order at the provider. The held-call kill tests run on both stores (`store_url`: a SQLite
file, a PostgreSQL schema); the pending and SIGTERM tests on SQLite only, to keep the suite's
run time down.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from gateway.sandbox.flexport import Fault as FlexportFault
from gateway.sandbox.flexport import FlexportSandbox
from gateway.sandbox.logentic import Fault as LogenticFault
from gateway.sandbox.logentic import LogenticSandbox
from gateway.sandbox.logitrail import Fault
from gateway.sandbox.simulators import DEMO_PRODUCTS
from tests.conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    FLEXPORT_TOKEN,
    KEYS,
    LOGENTIC_TOKEN,
    MERCHANT,
    b2b_order,
    ca_order,
    gb_order,
    new_logitrail_sandbox,
    order,
    ref,
)
from tests.system.gateway_process import GatewayProcess, read_phase, request

pytestmark = pytest.mark.system

CONFIG = """
[server]
host = "127.0.0.1"
request_budget_s = {budget}
shutdown_timeout_s = 3

[store]
url = "{store_url}"

[[clients]]
id = "storefront-fi"
key_env = "KEY_FI"

{provider_block}
timeout_s = 30
retry = {{ max_attempts = 3, base_delay_s = 0.05, max_delay_s = 0.2, budget_s = 30 }}
circuit = {{ failure_threshold = {threshold}, cool_down_s = 60 }}

[[routing.rules]]
name = "only"
candidates = [{{ provider = "{provider}", warehouse = "{warehouse}" }}]

[submission]
lease_s = 1
poll_interval_s = 0.05
backoff_base_s = 0.05
backoff_max_s = 0.5
"""

BLOCKS = {
    "logitrail": """[providers.logitrail]
base_url = "{sandbox}"
token_url = "{sandbox}/realms/logitrail/token"
client_id_env = "LOGITRAIL_CLIENT_ID"
client_secret_env = "LOGITRAIL_CLIENT_SECRET"
merchant_id = "{merchant}"
warehouses = {{ FI-VANTAA = {{}} }}""",
    "logentic": """[providers.logentic]
base_url = "{sandbox}/v1"
token_env = "LOGENTIC_API_TOKEN"
warehouses = {{ MTL = {{ warehouse_id = 1 }} }}""",
    "flexport": """[providers.flexport]
base_url = "{sandbox}"
token_env = "FLEXPORT_TOKEN"
warehouses = {{ auto = {{ kind = "d2c" }}, reserve = {{ kind = "b2b" }} }}""",
}
WAREHOUSE = {"logitrail": "FI-VANTAA", "logentic": "MTL", "flexport": "auto"}
ENV = {
    "KEY_FI": KEYS["storefront-fi"],
    "LOGITRAIL_CLIENT_ID": CLIENT_ID,
    "LOGITRAIL_CLIENT_SECRET": CLIENT_SECRET,
    "LOGENTIC_API_TOKEN": LOGENTIC_TOKEN,
    "FLEXPORT_TOKEN": FLEXPORT_TOKEN,
}
HEADERS = {"Authorization": f"Bearer {KEYS['storefront-fi']}"}


class Rig:
    def __init__(
        self, tmp: Path, provider: str, store_url: str, sandbox: Any, sandbox_url: str
    ) -> None:
        self.provider = provider
        self.store_url = store_url
        self.sandbox = sandbox
        self.config = tmp / "gateway.toml"
        self.log = tmp / "gateway.log"
        self.sandbox_url = sandbox_url
        self.processes: list[GatewayProcess] = []
        self.warehouse = WAREHOUSE[provider]

    def write_config(self, *, budget: float = 0.5, threshold: int = 50) -> None:
        block = BLOCKS[self.provider].format(sandbox=self.sandbox_url, merchant=MERCHANT)
        self.config.write_text(
            CONFIG.format(
                budget=budget,
                store_url=self.store_url,
                provider_block=block,
                threshold=threshold,
                provider=self.provider,
                warehouse=self.warehouse,
            )
        )

    async def release_held(self, op: str, timeout: float = 10) -> None:
        """The sandbox finishes (or drops) the held `op` of the dead client, as a provider
        would: wait until it has (a call is recorded when it ends)."""
        ended = self.sandbox.count(op)
        self.sandbox.release()
        deadline = time.monotonic() + timeout
        while self.sandbox.count(op) == ended:
            assert time.monotonic() < deadline, f"the held {op} never ended"
            await asyncio.sleep(0.01)

    async def start(self) -> GatewayProcess:
        gw = GatewayProcess(self.config, ENV, self.log)
        self.processes.append(gw)
        await gw.start()
        return gw

    async def submit(self, gw: GatewayProcess, external_id: str, **fields: Any) -> tuple[int, Any]:
        bodies = {"logitrail": order, "logentic": ca_order, "flexport": gb_order}
        body = bodies[self.provider](external_id)
        if self.warehouse == "reserve":
            body = b2b_order(external_id)
        body.update(fields)
        status, answer, _ = await request(
            "POST",
            gw.url + "/v1/orders",
            json=body,
            headers={**HEADERS, "Idempotency-Key": external_id},
        )
        return status, answer

    async def wait_submitted(
        self, gw: GatewayProcess, order_id: str, timeout: float = 30
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            _s, view, _h = await request("GET", f"{gw.url}/v1/orders/{order_id}", headers=HEADERS)
            if view["status"] == "submitted":
                return dict(view)
            if time.monotonic() > deadline:
                raise AssertionError(f"not submitted: {view}\n{gw.tail()}")
            await asyncio.sleep(0.05)

    def held_at_provider(self, external_id: str) -> list[Any]:
        if self.provider == "logitrail":
            return list(self.sandbox.orders_by_merchant_order(ref(external_id)))
        if self.provider == "flexport":
            return list(self.sandbox.orders_by_external_id(ref(external_id)))
        return list(self.sandbox.orders_by_external_name(ref(external_id)))


@asynccontextmanager
async def running_rig(
    tmp_path: Path, provider: str, store_url: str | None = None
) -> AsyncIterator[Rig]:
    """The provider's sandbox in this process; gateway processes are stopped afterwards. The
    gateways' store is `store_url` (default: a SQLite file in `tmp_path`)."""
    store_url = store_url or f"sqlite:///{tmp_path}/gateway.db"
    if provider == "logitrail":
        sandbox: Any = new_logitrail_sandbox()
    elif provider == "flexport":
        sandbox = FlexportSandbox(tokens={FLEXPORT_TOKEN: None})
        for merchant_sku, (logistics_sku, name) in DEMO_PRODUCTS.items():
            sandbox.add_product(merchant_sku, logistics_sku=logistics_sku, name=name)
    else:
        sandbox = LogenticSandbox(token=LOGENTIC_TOKEN, warehouses={1: "MTL"})
        sandbox.add_item("TSHIRT-M", stock={1: 100})
    server = TestServer(sandbox.app)
    await server.start_server()
    rig = Rig(tmp_path, provider, store_url, sandbox, str(server.make_url("")).rstrip("/"))
    try:
        yield rig
    finally:
        sandbox.release()
        for gw in rig.processes:
            await gw.ensure_stopped()
        await server.close()


# Each rig runs on every store `store_url` gives (tests/conftest.py); SQLITE_ONLY narrows a
# test to SQLite.
SQLITE_ONLY = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


@pytest.fixture
async def rig(tmp_path: Path, store_url: str) -> AsyncIterator[Rig]:
    async with running_rig(tmp_path, "logitrail", store_url) as r:
        yield r


@pytest.fixture
async def logentic_rig(tmp_path: Path, store_url: str) -> AsyncIterator[Rig]:
    async with running_rig(tmp_path, "logentic", store_url) as r:
        yield r


@pytest.fixture
async def flexport_rig(tmp_path: Path, store_url: str) -> AsyncIterator[Rig]:
    async with running_rig(tmp_path, "flexport", store_url) as r:
        yield r


@pytest.fixture(params=["logitrail", "logentic", "flexport"])
async def any_rig(
    tmp_path: Path, store_url: str, request: pytest.FixtureRequest
) -> AsyncIterator[Rig]:
    async with running_rig(tmp_path, request.param, store_url) as r:
        yield r


@pytest.mark.parametrize(
    ("op", "performed", "phase"),
    [
        ("create", False, "creating"),  # the create never reached the provider
        ("create", True, "creating"),  # the provider created it; the answer was lost
        # During the confirm the provider's id is only in memory: the store still says
        # `creating`, and recovery finds the order by its reference, then confirms.
        ("confirm", False, "creating"),  # the confirm never reached the provider
        ("confirm", True, "creating"),  # the provider confirmed; the answer was lost
    ],
    ids=["creating-unsent", "creating-sent", "confirming-unsent", "confirming-sent"],
)
async def test_sigkill_while_a_call_is_held_then_restart(
    rig: Rig, op: str, performed: bool, phase: str
) -> None:
    rig.write_config()
    gw = await rig.start()
    # performed: the sandbox does the op, then holds its answer; else holds, then drops it.
    rig.sandbox.inject(Fault(op=op, hold=True, after=performed, reset=not performed))
    status, body = await rig.submit(gw, "CRASH-1")
    assert status == 202
    await rig.sandbox.wait_held(op)
    assert await read_phase(rig.store_url, "CRASH-1") == (phase, "accepted")

    await gw.kill()
    await rig.release_held(op)
    restarted = await rig.start()
    view = await rig.wait_submitted(restarted, body["id"])

    held = rig.held_at_provider("CRASH-1")
    assert len(held) == 1, f"provider holds {len(held)} orders"
    assert held[0].status == "confirmed"
    assert view["provider_order_id"] == held[0].id
    assert rig.sandbox.count("create", status=201) == 1


@pytest.mark.parametrize(
    "crash", ["before-release", "creating-unsent", "creating-sent"], ids=lambda c: c
)
async def test_sigkill_around_a_pre_order_release_then_restart(rig: Rig, crash: str) -> None:
    """A pre-order (`hold_until`) released by time: killed before its release, or while the
    create the release started is held; the next process releases it once, one order."""
    rig.write_config()
    gw = await rig.start()
    until = datetime.now(UTC) + timedelta(seconds=1.5)
    if crash != "before-release":
        performed = crash == "creating-sent"
        rig.sandbox.inject(Fault(op="create", hold=True, after=performed, reset=not performed))
    status, body = await rig.submit(gw, "PRE-1", hold_until=until.isoformat())
    assert status == 202
    assert body["status"] == "on_hold"
    if crash == "before-release":
        await gw.kill()  # the next process releases it when its time comes, as it starts or later
    else:
        await rig.sandbox.wait_held("create")
        await gw.kill()
        await rig.release_held("create")
    restarted = await rig.start()
    view = await rig.wait_submitted(restarted, body["id"])

    held = rig.held_at_provider("PRE-1")
    assert len(held) == 1, f"provider holds {len(held)} orders"
    assert view["provider_order_id"] == held[0].id
    assert rig.sandbox.count("create", status=201) == 1
    _s, feed, _h = await request("GET", restarted.url + "/v1/events?limit=100", headers=HEADERS)
    kinds = [e["type"] for e in feed["items"] if e["data"]["order_id"] == body["id"]]
    assert kinds.count("order.released") == 1


@pytest.mark.parametrize("performed", [False, True], ids=["creating-unsent", "creating-sent"])
async def test_logentic_sigkill_while_its_create_is_held_then_restart(
    logentic_rig: Rig, performed: bool
) -> None:
    rig = logentic_rig
    rig.write_config()
    gw = await rig.start()
    rig.sandbox.inject(LogenticFault(op="create", hold=True, after=performed, reset=not performed))
    status, body = await rig.submit(gw, "LCRASH-1")
    assert status == 202
    await rig.sandbox.wait_held("create")
    assert await read_phase(rig.store_url, "LCRASH-1") == ("creating", "accepted")

    await gw.kill()
    await rig.release_held("create")
    restarted = await rig.start()
    view = await rig.wait_submitted(restarted, body["id"])

    held = rig.held_at_provider("LCRASH-1")
    assert len(held) == 1, f"provider holds {len(held)} orders"
    assert view["provider_order_id"] == str(held[0].id)
    assert rig.sandbox.count("create", status=201) == 1


@pytest.mark.parametrize("performed", [False, True], ids=["creating-unsent", "creating-sent"])
@pytest.mark.parametrize("warehouse", ["auto", "reserve"], ids=["d2c", "b2b"])
async def test_flexport_sigkill_while_its_create_is_held_then_restart(
    flexport_rig: Rig, performed: bool, warehouse: str
) -> None:
    rig = flexport_rig
    rig.warehouse = warehouse
    op = "create" if warehouse == "auto" else "b2b_create"
    rig.write_config()
    gw = await rig.start()
    rig.sandbox.inject(FlexportFault(op=op, hold=True, after=performed, reset=not performed))
    status, body = await rig.submit(gw, "FCRASH-1")
    assert status == 202
    await rig.sandbox.wait_held(op)
    assert await read_phase(rig.store_url, "FCRASH-1") == ("creating", "accepted")

    await gw.kill()
    await rig.release_held(op)
    restarted = await rig.start()
    view = await rig.wait_submitted(restarted, body["id"])

    held = rig.held_at_provider("FCRASH-1")
    assert len(held) == 1, f"provider holds {len(held)} orders"
    assert view["provider_order_id"] == held[0].order_id
    assert rig.sandbox.count(op, status=201) == 1


@SQLITE_ONLY
async def test_sigkill_with_an_order_still_pending_then_restart(any_rig: Rig) -> None:
    rig = any_rig
    rig.write_config(threshold=1)
    gw = await rig.start()
    down = {"logitrail": Fault, "logentic": LogenticFault, "flexport": FlexportFault}[rig.provider]
    rig.sandbox.inject(down(op="*", status=503, count=None))  # provider down
    _s, first = await rig.submit(gw, "PEND-1")  # its failure opens the circuit
    status, second = await rig.submit(gw, "PEND-2")  # no healthy candidate: queued
    assert status == 202
    # Queued: `pending`, or `creating` if the background submitter already tried it (it
    # records the phase before its call, which the open circuit then refused).
    assert await read_phase(rig.store_url, "PEND-2") in (
        ("pending", "accepted"),
        ("creating", "accepted"),
    )
    assert rig.held_at_provider("PEND-2") == []

    await gw.kill()
    rig.sandbox.clear_faults()
    restarted = await rig.start()
    for order_id in (first["id"], second["id"]):
        await rig.wait_submitted(restarted, order_id)
    assert len(rig.held_at_provider("PEND-1")) == 1
    assert len(rig.held_at_provider("PEND-2")) == 1


@SQLITE_ONLY
async def test_sigterm_answers_in_flight_requests_and_leaves_the_rest_for_next_start(
    rig: Rig,
) -> None:
    rig.write_config(budget=2.0)
    gw = await rig.start()
    rig.sandbox.inject(Fault(op="create", hold=True, after=True))
    post = asyncio.ensure_future(rig.submit(gw, "TERM-1"))
    await rig.sandbox.wait_held("create")

    exit_code = await gw.terminate()
    status, body = await post
    assert exit_code == 0
    assert status == 202  # the in-flight request got its answer, not a reset
    assert (await read_phase(rig.store_url, "TERM-1"))[0] == "creating"

    rig.sandbox.release()
    restarted = await rig.start()
    await rig.wait_submitted(restarted, body["id"])
    assert len(rig.held_at_provider("TERM-1")) == 1
    assert "submission.left_for_next_start" in rig.log.read_text()
