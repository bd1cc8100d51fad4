"""Logentic item look-ups spend the account's shared rate: an order cannot make many of them.

Counted at the sandbox: what reaches Logentic is what the account pays for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.errors import Invalid
from gateway.model.orders import CanonicalOrder
from gateway.providers.base import Submission
from gateway.providers.logentic.adapter import LogenticAdapter
from gateway.providers.logentic.settings import LogenticSettings
from gateway.providers.spec import ProviderContext
from tests.conftest import (
    LogenticHandle,
    SandboxHandle,
    auth,
    ca_order,
    make_settings,
    read_json,
    ref,
)
from tests.unit.fakes import FakeClock


async def _submit(gateway: TestClient[Any, Any], body: dict[str, Any]) -> tuple[int, Any]:
    resp = await gateway.post("/v1/orders", json=body, headers=auth(key=f"k-{body['external_id']}"))
    return resp.status, await read_json(resp)


def _unknown_lines(n: int) -> list[dict[str, Any]]:
    return [{"sku": f"NOPE-{i:03}", "quantity": 1} for i in range(n)]


async def test_an_order_of_unknown_skus_stops_after_max_unknown_skus_lookups(
    gateway: TestClient[Any, Any], logentic: LogenticHandle
) -> None:
    status, problem = await _submit(gateway, ca_order("MANY-1", lines=_unknown_lines(100)))

    assert status == 422
    assert problem["code"] == "provider-rejected"
    assert "stopped looking after 10 unknown SKUs" in problem["detail"]
    # The answer names the SKUs found missing so far, by line; the other 90 were never asked.
    assert [e["loc"] for e in problem["errors"]] == [f"lines[{i}].sku" for i in range(10)]
    assert logentic.sandbox.count("items") == 10

    # The same SKUs again (another order, maybe another tenant): refused from memory.
    again, problem = await _submit(gateway, ca_order("MANY-2", lines=_unknown_lines(100)))
    assert again == 422
    assert logentic.sandbox.count("items") == 10
    assert logentic.sandbox.count("create") == 0


async def test_known_skus_beside_unknown_ones_are_looked_up_and_only_unknown_ones_named(
    make_gateway: Callable[..., Any], logentic: LogenticHandle
) -> None:
    gateway = await make_gateway(providers__logentic__max_unknown_skus=2)
    lines = [{"sku": "TSHIRT-M", "quantity": 1}, *_unknown_lines(5), {"sku": "MUG", "quantity": 1}]

    status, problem = await _submit(gateway, ca_order("MIX-1", lines=lines))

    assert status == 422
    assert [e["loc"] for e in problem["errors"]] == ["lines[1].sku", "lines[2].sku"]
    # Sorted SKUs, asked at most as many at a time as may still be unknown: MUG, NOPE-000 and
    # NOPE-001 (2 unknown: stop); TSHIRT-M and the rest were not asked.
    asked = [r for r in logentic.sandbox.requests if r.op == "items"]
    assert len(asked) == 3


async def test_created_items_are_remembered_not_created_again(
    make_gateway: Callable[..., Any], logentic: LogenticHandle
) -> None:
    gateway = await make_gateway(providers__logentic__create_missing_items=True)
    line = {"sku": "NEW-1", "quantity": 1, "weight_g": 500, "dimensions_mm": [100, 100, 100]}

    first, _ = await _submit(gateway, ca_order("NEW-A", lines=[line]))
    second, _ = await _submit(gateway, ca_order("NEW-B", lines=[line]))

    assert (first, second) == (201, 201)
    assert logentic.sandbox.count("create_item") == 1  # the miss was replaced by the item
    assert logentic.sandbox.count("items") == 1


@pytest.fixture
async def adapter(
    tmp_path: Path, logitrail: SandboxHandle, logentic: LogenticHandle
) -> AsyncIterator[tuple[LogenticAdapter, FakeClock]]:
    settings = make_settings(tmp_path, logitrail.url, logentic.url)
    block = settings.providers["logentic"]
    assert isinstance(block, LogenticSettings)
    clock = FakeClock()
    built = LogenticAdapter(
        block, settings.secrets, ProviderContext(self_url="http://127.0.0.1:1", clock=clock)
    )
    await built.start()
    try:
        yield built, clock
    finally:
        await built.close()


async def test_a_missing_sku_is_remembered_for_item_miss_ttl_s_then_asked_again(
    adapter: tuple[LogenticAdapter, FakeClock], logentic: LogenticHandle
) -> None:
    provider, clock = adapter
    order = CanonicalOrder.model_validate(
        ca_order("LATE-1", lines=[{"sku": "LATE-SKU", "quantity": 1}])
    )
    submission = Submission("ord_late", "storefront-fi", order, "MTL", ref("LATE-1"))

    with pytest.raises(Invalid, match="LATE-SKU"):
        await provider.create(submission)
    item_id = logentic.sandbox.add_item("LATE-SKU", stock={1: 5})
    clock.advance(59)  # item_miss_ttl_s is 60: still remembered as missing
    with pytest.raises(Invalid, match="LATE-SKU"):
        await provider.create(submission)
    assert logentic.sandbox.count("items") == 1

    clock.advance(2)  # past it: asked again, and found
    await provider.create(submission)

    assert logentic.sandbox.count("items") == 2
    [held] = logentic.sandbox.orders_by_external_name(ref("LATE-1"))
    assert held.stored_items == [{"item_id": item_id, "quantity": 1}]
