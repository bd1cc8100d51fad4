"""Flexport stock for stock-aware routing, read by the adapter from the sandbox's Products API
inventory (docs/providers/flexport.md, "Stock"): per named Flexport warehouse, or the
account's whole `available`; cached `stock_cache_ttl_s`; `cached_stock` for replay."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.api.keys import PROVIDERS
from gateway.providers.base import cached_stock_of, stock_of
from gateway.sandbox.flexport import Fault
from tests.conftest import FLEXPORT_RULES, FlexportHandle
from tests.unit.fakes import SkipAheadClock

WAREHOUSES = {
    "auto": {"kind": "d2c"},
    "reserve": {"kind": "b2b"},
    "east": {"kind": "d2c", "stock_warehouses": ["ATL1"]},
    "west": {"kind": "d2c", "stock_warehouses": ["LAX2", "RNO1"]},
}
TSHIRT, MUG, BOOT = "DSKU6DW2B4Q", "DSKU9MUG001", "DSKU4BOOT42"


async def _gateway(make_gateway: Any, **overrides: Any) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = await make_gateway(
        routing__rules=FLEXPORT_RULES, providers__flexport__warehouses=WAREHOUSES, **overrides
    )
    return client


def _adapter(gateway: TestClient[Any, Any]) -> Any:
    return gateway.server.app[PROVIDERS]["flexport"]


def _calls(flexport: FlexportHandle, op: str) -> list[Any]:
    return [r for r in flexport.sandbox.requests if r.op == op]


def _stock(flexport: FlexportHandle) -> None:
    flexport.sandbox.set_stock("TSHIRT-M", "ATL1", 3)
    flexport.sandbox.set_stock("TSHIRT-M", "LAX2", 4)
    flexport.sandbox.set_stock("TSHIRT-M", "RNO1", 5)
    flexport.sandbox.set_stock("BOOT-42", "ATL1", 1)


async def test_flexport_is_a_stock_source_that_can_answer_from_its_cache(
    make_gateway: Any,
) -> None:
    adapter = _adapter(await _gateway(make_gateway))
    assert adapter.capabilities.stock
    assert stock_of(adapter) is adapter
    assert cached_stock_of(adapter) is adapter


async def test_named_warehouses_hold_their_available_units_together(
    make_gateway: Any, flexport: FlexportHandle
) -> None:
    _stock(flexport)
    adapter = _adapter(await _gateway(make_gateway))

    west = await adapter.stock("west", ["TSHIRT-M", "MUG", "NO-SUCH"])
    east = await adapter.stock("east", ["TSHIRT-M", "BOOT-42"])

    assert west == {"TSHIRT-M": 9, "MUG": 0, "NO-SUCH": 0}  # no product: no units
    assert east == {"TSHIRT-M": 3, "BOOT-42": 1}
    [first, second] = _calls(flexport, "inventory_by_warehouse")
    assert first.query == {"poolName": "DEFAULT"}
    assert first.body == {"logisticsSKUs": [TSHIRT, MUG]}
    assert second.body == {"logisticsSKUs": [BOOT]}  # the T-shirt's read still serves
    assert _calls(flexport, "inventory") == []


async def test_products_are_asked_for_at_most_per_page_at_a_time(
    make_gateway: Any, flexport: FlexportHandle
) -> None:
    _stock(flexport)
    adapter = _adapter(await _gateway(make_gateway, providers__flexport__per_page=2))

    held = await adapter.stock("east", ["TSHIRT-M", "MUG", "BOOT-42"])

    assert held == {"TSHIRT-M": 3, "MUG": 0, "BOOT-42": 1}
    bodies = [r.body["logisticsSKUs"] for r in _calls(flexport, "inventory_by_warehouse")]
    assert bodies == [[BOOT, TSHIRT], [MUG]]


async def test_without_named_warehouses_it_is_the_accounts_available_paged_to_its_end(
    make_gateway: Any, flexport: FlexportHandle
) -> None:
    _stock(flexport)
    adapter = _adapter(await _gateway(make_gateway, providers__flexport__per_page=1))

    held = await adapter.stock("auto", ["TSHIRT-M", "BOOT-42", "MUG"])

    assert held == {"TSHIRT-M": 12, "BOOT-42": 1, "MUG": 0}
    pages = [r.query for r in _calls(flexport, "inventory")]
    # 4 products one a page, then the empty page that ends the list
    assert pages == [{"limit": "1", "offset": str(i), "poolName": "DEFAULT"} for i in range(5)]


async def test_stock_is_read_again_only_once_its_ttl_has_passed(
    make_gateway: Any, flexport: FlexportHandle, clock: SkipAheadClock
) -> None:
    _stock(flexport)
    adapter = _adapter(await _gateway(make_gateway, providers__flexport__stock_cache_ttl_s=1))

    first = (await adapter.stock("auto", ["TSHIRT-M"]), await adapter.stock("east", ["TSHIRT-M"]))
    flexport.sandbox.set_stock("TSHIRT-M", "ATL1", 0)
    cached = (await adapter.stock("auto", ["TSHIRT-M"]), await adapter.stock("east", ["TSHIRT-M"]))
    await clock.advance(1.5)
    fresh = (await adapter.stock("auto", ["TSHIRT-M"]), await adapter.stock("east", ["TSHIRT-M"]))

    assert first == cached == ({"TSHIRT-M": 12}, {"TSHIRT-M": 3})
    assert fresh == ({"TSHIRT-M": 9}, {"TSHIRT-M": 0})
    assert len(_calls(flexport, "inventory_by_warehouse")) == 2
    assert {r.query["offset"] for r in _calls(flexport, "inventory")} == {"0"}  # twice


async def test_cached_stock_answers_from_what_was_read_however_old_and_never_calls(
    make_gateway: Any, flexport: FlexportHandle, clock: SkipAheadClock
) -> None:
    _stock(flexport)
    adapter = _adapter(await _gateway(make_gateway, providers__flexport__stock_cache_ttl_s=1))

    before = (adapter.cached_stock("auto", ["TSHIRT-M"]), adapter.cached_stock("east", ["MUG"]))
    await adapter.stock("auto", ["TSHIRT-M"])
    await adapter.stock("east", ["TSHIRT-M"])
    flexport.sandbox.set_stock("TSHIRT-M", "ATL1", 0)
    await clock.advance(2)  # past the TTL
    calls = len(flexport.sandbox.requests)

    assert before == (None, None)  # nothing read yet, not even the catalogue
    assert adapter.cached_stock("auto", ["TSHIRT-M", "MUG", "NO-SUCH"]) == {
        "TSHIRT-M": 12,
        "MUG": 0,
        "NO-SUCH": 0,
    }
    assert adapter.cached_stock("east", ["TSHIRT-M"]) == {"TSHIRT-M": 3}
    assert adapter.cached_stock("east", ["TSHIRT-M", "MUG"]) is None  # the mug was never read
    assert adapter.cached_stock("west", ["TSHIRT-M"]) == {"TSHIRT-M": 9}  # one read, all codes
    assert len(flexport.sandbox.requests) == calls


async def test_skus_that_already_are_logistics_skus_are_asked_for_as_they_are(
    make_gateway: Any, flexport: FlexportHandle
) -> None:
    _stock(flexport)
    adapter = _adapter(await _gateway(make_gateway, providers__flexport__product_ids="sku"))

    held = await adapter.stock("east", [TSHIRT, "TSHIRT-M"])

    assert held == {TSHIRT: 3, "TSHIRT-M": 0}
    assert _calls(flexport, "products") == []
    assert adapter.cached_stock("east", [TSHIRT]) == {TSHIRT: 3}


async def test_an_account_read_the_order_stopped_waiting_for_runs_on_and_then_serves(
    make_gateway: Any, flexport: FlexportHandle
) -> None:
    _stock(flexport)
    adapter = _adapter(await _gateway(make_gateway))
    flexport.sandbox.inject(Fault(op="inventory", hold=True, count=1))

    routing = asyncio.create_task(adapter.stock("auto", ["TSHIRT-M"]))
    await flexport.sandbox.wait_held("inventory", 1, timeout=10)
    routing.cancel()  # routing gave up on stock (its timeout)
    with pytest.raises(asyncio.CancelledError):
        await routing
    flexport.sandbox.release()
    later = await adapter.stock("auto", ["TSHIRT-M"])

    assert later == {"TSHIRT-M": 12}
    assert [r.query["offset"] for r in _calls(flexport, "inventory")] == ["0"]  # read once
