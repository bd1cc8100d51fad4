"""A split order's tracking: each part's parcel, as its provider says it (a webhook, a poll),
is kept on the part and shown in `parts[].tracking`; the order's own `tracking` is part 1's —
on both stores, through the Flexport sandbox's per-warehouse stock (two gateway warehouses
counting different Flexport warehouses)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import FlexportHandle, auth, eventually, gb_order, read_json

WAREHOUSES = {
    "auto": {"kind": "d2c"},
    "reserve": {"kind": "b2b"},
    "east": {"kind": "d2c", "stock_warehouses": ["ATL1"]},
    "west": {"kind": "d2c", "stock_warehouses": ["LAX2"]},
}
RULES: list[dict[str, Any]] = [
    {
        "name": "uk",
        "when": {"country": "GB"},
        "stock_aware": True,
        "split": True,
        "candidates": [
            {"provider": "flexport", "warehouse": "east"},
            {"provider": "flexport", "warehouse": "west"},
        ],
    }
]
LINES = [
    {"sku": "TSHIRT-M", "quantity": 2, "unit_price": "19.90"},
    {"sku": "MUG", "quantity": 1, "unit_price": "9.90"},
]


@pytest.fixture
def gateway_store_url(store_url: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return store_url


async def _split_order(
    make_gateway: Callable[..., Any], flexport: FlexportHandle, external_id: str, **overrides: Any
) -> tuple[TestClient[Any, Any], Any]:
    """T-shirts only in Atlanta, mugs only in Los Angeles: a part at each."""
    flexport.sandbox.set_stock("TSHIRT-M", "ATL1", 10)
    flexport.sandbox.set_stock("MUG", "LAX2", 10)
    gateway = await make_gateway(
        routing__rules=RULES, providers__flexport__warehouses=WAREHOUSES, **overrides
    )
    body = gb_order(external_id, lines=LINES)
    resp = await gateway.post("/v1/orders", json=body, headers=auth(key=external_id))
    created = await read_json(resp)
    assert resp.status == 201, created
    assert [p["warehouse"] for p in created["parts"]] == ["east", "west"]
    assert [p["tracking"] for p in created["parts"]] == [{"code": None, "url": None}] * 2
    return gateway, created


async def _view(gateway: TestClient[Any, Any], order_id: str) -> Any:
    return await read_json(await gateway.get(f"/v1/orders/{order_id}", headers=auth()))


def _tracking(flexport: FlexportHandle, provider_order_id: str) -> dict[str, Any]:
    [shipment] = flexport.sandbox.order(provider_order_id).shipments
    code = shipment.tracking_code
    return {"code": code, "url": f"https://www.ups.com/track?tracknum={code}"}


async def test_webhooks_keep_each_parts_tracking_and_the_order_shows_part_ones(
    make_gateway: Callable[..., Any], flexport: FlexportHandle
) -> None:
    gateway, created = await _split_order(make_gateway, flexport, "SPLIT-T1")
    first, second = (p["provider_order_id"] for p in created["parts"])

    await flexport.sandbox.advance(second, "SHIPPED")
    await flexport.sandbox.drain_webhooks()

    async def second_tracked() -> Any:
        view = await _view(gateway, created["id"])
        return view if view["parts"][1]["tracking"]["code"] else None

    view = await eventually(second_tracked)
    assert view["parts"][1]["tracking"] == _tracking(flexport, second)
    assert view["parts"][0]["tracking"] == {"code": None, "url": None}
    assert (view["tracking"]["code"], view["tracking"]["url"]) == (None, None)  # part 1's

    await flexport.sandbox.advance(first, "SHIPPED")
    await flexport.sandbox.drain_webhooks()

    async def first_tracked() -> Any:
        view = await _view(gateway, created["id"])
        return view if view["parts"][0]["tracking"]["code"] else None

    view = await eventually(first_tracked)
    assert view["parts"][0]["tracking"] == _tracking(flexport, first)
    assert view["parts"][1]["tracking"] == _tracking(flexport, second)
    top = view["tracking"]
    assert {"code": top["code"], "url": top["url"]} == _tracking(flexport, first)
    feed = await read_json(await gateway.get("/v1/events", headers=auth()))
    [event] = [
        e["data"]
        for e in feed["items"]
        if e["data"]["order_id"] == created["id"] and e["data"]["status"] == "shipped"
    ]  # shipped once both parts are; part 1 moved it, and its tracking comes with it
    assert (event["part"], event["tracking_code"]) == (1, top["code"])
    assert event["tracking_url"] == top["url"]
    listed = await read_json(await gateway.get("/v1/orders", headers=auth()))
    [item] = [o for o in listed["items"] if o["id"] == created["id"]]
    assert [p["tracking"] for p in item["parts"]] == [p["tracking"] for p in view["parts"]]


async def test_the_poller_keeps_a_parts_tracking_when_its_webhooks_are_lost(
    make_gateway: Callable[..., Any], flexport: FlexportHandle
) -> None:
    gateway, created = await _split_order(
        make_gateway, flexport, "SPLIT-T2", providers__flexport__status_poll_interval_s=0.1
    )
    flexport.sandbox.webhook_url = None  # every webhook from now on is lost
    first = created["parts"][0]["provider_order_id"]

    await flexport.sandbox.advance(first, "SHIPPED")

    async def tracked() -> Any:
        view = await _view(gateway, created["id"])
        return view if view["parts"][0]["tracking"]["code"] else None

    view = await eventually(tracked)
    assert view["parts"][0]["tracking"] == _tracking(flexport, first)
    assert view["parts"][1]["tracking"] == {"code": None, "url": None}
    assert view["tracking"]["code"] == view["parts"][0]["tracking"]["code"]
