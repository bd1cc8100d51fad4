"""Crash recovery of returns: a real gateway process killed with SIGKILL while Logitrail holds
its return create (performed or not), then restarted on the same database. The return must
end registered with exactly one return at Logitrail.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.sandbox.logitrail import Fault
from tests.conftest import ref
from tests.system.gateway_process import GatewayProcess, request
from tests.system.test_crash_recovery import HEADERS, Rig, running_rig

pytestmark = pytest.mark.system


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with running_rig(tmp_path, "logitrail") as r:
        yield r


async def wait_registered(gw: GatewayProcess, return_id: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        _s, view, _h = await request("GET", f"{gw.url}/v1/returns/{return_id}", headers=HEADERS)
        if view["status"] == "registered":
            return view
        if time.monotonic() > deadline:
            raise AssertionError(f"not registered: {view}\n{gw.tail()}")
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("performed", [False, True], ids=["creating-unsent", "creating-sent"])
async def test_sigkill_while_the_return_create_is_held_then_restart(
    rig: Rig, performed: bool
) -> None:
    rig.write_config()
    gw = await rig.start()
    status, placed = await rig.submit(gw, "RCRASH-1")
    order = await rig.wait_submitted(gw, placed["id"])
    rig.sandbox.advance(order["provider_order_id"], "processed")  # only shipped orders return
    status, shipped, _h = await request(
        "POST", f"{gw.url}/v1/orders/{order['id']}/refresh", headers=HEADERS
    )
    assert (status, shipped["status"]) == (200, "shipped"), shipped
    rig.sandbox.inject(Fault(op="return_create", hold=True, after=performed, reset=not performed))
    creating = asyncio.create_task(
        request(
            "POST",
            gw.url + "/v1/returns",
            json={"order_id": order["id"], "external_id": "RMA-CRASH"},
            headers={**HEADERS, "Idempotency-Key": "rcrash-1"},
        )
    )
    await rig.sandbox.wait_held("return_create")

    await gw.kill()
    await asyncio.gather(creating, return_exceptions=True)  # the caller saw the connection die
    await rig.release_held("return_create")  # Logitrail finishes (or drops) what was sent
    restarted = await rig.start()
    # The caller retries with its key, as told by Retry-After while the dead request's lock
    # lasts: then the stored return answers and nothing is created again.
    deadline = time.monotonic() + 30
    while True:
        status, answer, headers = await request(
            "POST",
            restarted.url + "/v1/returns",
            json={"order_id": order["id"], "external_id": "RMA-CRASH"},
            headers={**HEADERS, "Idempotency-Key": "rcrash-1"},
        )
        if status != 409:
            break
        assert answer["code"] == "request-in-progress", answer
        assert time.monotonic() < deadline, f"the dead request's lock never ran out: {answer}"
        await asyncio.sleep(float(headers["Retry-After"]))
    assert status in (201, 202), answer
    view = await wait_registered(restarted, answer["id"])

    held = list(rig.sandbox.returns.values())
    assert len(held) == 1, f"Logitrail holds {len(held)} returns"
    assert view["provider_return_id"] == held[0].id
    assert held[0].merchant_reference == ref("RMA-CRASH")
    assert rig.sandbox.count("return_create", status=201) == 1
    assert rig.sandbox.count("return_list") >= 1  # looked up before anything was re-sent
