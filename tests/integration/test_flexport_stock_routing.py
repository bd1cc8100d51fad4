"""Stock-aware routing between Flexport warehouses, through the gateway against the Flexport
sandbox, on SQLite and on PostgreSQL: the order goes to the first candidate whose Flexport
warehouses hold every line."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.sandbox.flexport import Fault
from tests.conftest import FlexportHandle, auth, gb_order, read_json, ref

WAREHOUSES = {
    "reserve": {"kind": "b2b"},
    "east": {"kind": "d2c", "stock_warehouses": ["ATL1"]},
    "west": {"kind": "d2c", "stock_warehouses": ["LAX2", "RNO1"]},
}
RULES = [
    {
        "name": "uk-by-stock",
        "when": {"country": "GB"},
        "stock_aware": True,
        "candidates": [
            {"provider": "flexport", "warehouse": "east"},
            {"provider": "flexport", "warehouse": "west"},
        ],
    },
]


@pytest.fixture
def gateway_store_url(store_url: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return store_url


@pytest.fixture
async def gateway(make_gateway: Any) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = await make_gateway(
        routing__rules=RULES, providers__flexport__warehouses=WAREHOUSES
    )
    return client


async def test_the_order_goes_to_the_flexport_warehouse_that_holds_every_line(
    gateway: TestClient[Any, Any], flexport: FlexportHandle
) -> None:
    flexport.sandbox.set_stock("TSHIRT-M", "ATL1", 1)  # east has 1, the order needs 2
    flexport.sandbox.set_stock("TSHIRT-M", "RNO1", 2)
    body = gb_order("FS-1")

    explain = await read_json(await gateway.post("/v1/routing/explain", json=body, headers=auth()))
    resp = await gateway.post("/v1/orders", json=body, headers=auth(key="k-FS-1"))
    created = await read_json(resp)

    assert explain["decision"]["warehouse"] == "west"
    east, west = explain["trace"][-1]["candidates"]
    assert east["outcome"] == "skipped: out of stock"
    assert east["shortfall"] == {"TSHIRT-M": {"needed": 2, "available": 1}}
    assert west["stock"] == {"TSHIRT-M": 2}
    assert resp.status == 201, created
    assert (created["provider"], created["warehouse"]) == ("flexport", "west")
    assert (created["route"]["rule"], created["route"]["candidate"]) == ("uk-by-stock", 1)
    [held] = flexport.sandbox.orders_by_external_id(ref("FS-1"))
    assert [(i["logisticsSku"], i["quantity"]) for i in held.body["lineItems"]] == [
        ("DSKU6DW2B4Q", 2)
    ]


async def test_where_no_flexport_warehouse_holds_it_the_first_candidate_takes_it(
    gateway: TestClient[Any, Any], flexport: FlexportHandle
) -> None:
    resp = await gateway.post("/v1/orders", json=gb_order("FS-2"), headers=auth(key="k-FS-2"))
    created = await read_json(resp)

    assert resp.status == 201, created
    assert created["warehouse"] == "east"
    assert [r.op for r in flexport.sandbox.requests].count("inventory_by_warehouse") == 1


async def test_an_inventory_outage_routes_on_without_stock(
    gateway: TestClient[Any, Any], flexport: FlexportHandle
) -> None:
    flexport.sandbox.set_stock("TSHIRT-M", "LAX2", 5)  # only west holds it, but cannot say
    flexport.sandbox.inject(Fault(op="inventory_by_warehouse", status=500, count=None))
    resp = await gateway.post("/v1/orders", json=gb_order("FS-3"), headers=auth(key="k-FS-3"))
    created = await read_json(resp)

    assert resp.status == 201, created
    assert created["warehouse"] == "east"  # stock unknown everywhere: the first candidate
    assert len(flexport.sandbox.orders_by_external_id(ref("FS-3"))) == 1
