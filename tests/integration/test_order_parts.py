"""The order view's `parts`: one part (the order itself) once routed, none while held — on both
stores, in the submit's answer, its idempotent replay, the read and the list alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import SandboxHandle, auth, order, read_json

HOLD = [{"name": "fraud-check", "when": {"tags_any": ["risky"]}}]


@pytest.fixture
def gateway_store_url(store_url: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return store_url


async def test_a_routed_order_has_one_part_mirroring_the_order(
    make_gateway: Callable[..., Any], logitrail: SandboxHandle
) -> None:
    gateway = await make_gateway()
    body = order("P-1")
    headers = auth(key="k-P-1")
    resp = await gateway.post("/v1/orders", json=body, headers=headers)
    assert resp.status == 201, await resp.text()
    created = await read_json(resp)
    [part] = created["parts"]
    assert part == {
        "part": 1,
        "provider": created["provider"],
        "warehouse": created["warehouse"],
        "provider_order_id": created["provider_order_id"],
        "status": created["status"],
        "lines": [{"sku": line["sku"], "quantity": line["quantity"]} for line in body["lines"]],
        "tracking": {"code": created["tracking"]["code"], "url": created["tracking"]["url"]},
        "submission": created["submission"],
    }
    assert part["provider_order_id"] is not None
    replay = await gateway.post("/v1/orders", json=body, headers=headers)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert (await read_json(replay))["parts"] == created["parts"]
    seen = await read_json(await gateway.get(f"/v1/orders/{created['id']}", headers=auth()))
    assert seen["parts"] == created["parts"]
    listed = await read_json(await gateway.get("/v1/orders", headers=auth()))
    assert [o["parts"] for o in listed["items"] if o["id"] == created["id"]] == [created["parts"]]


async def test_a_held_order_has_no_parts(
    make_gateway: Callable[..., Any], logitrail: SandboxHandle
) -> None:
    gateway = await make_gateway(holds=HOLD)
    resp = await gateway.post(
        "/v1/orders", json=order("P-2", tags=["risky"]), headers=auth(key="k-P-2")
    )
    assert resp.status == 202, await resp.text()
    assert (await read_json(resp))["parts"] == []
