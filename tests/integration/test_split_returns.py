"""Returns of a split order (`POST /v1/returns`): a return whose lines one part shipped goes to
that part's provider order; one whose lines are several parts' is refused naming them — on
both stores, through the Flexport sandbox (two channels, each with stock of its own)."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import FlexportHandle, auth, gb_order, read_json, ref
from tests.integration.shipping import refreshed

WAREHOUSES = {
    "reserve": {"kind": "b2b"},
    "east": {"kind": "d2c", "stock_warehouses": ["ATL1"]},
    "west": {"kind": "d2c", "stock_warehouses": ["LAX2", "RNO1"]},
}
RULES = [
    {
        "name": "uk-split",
        "when": {"country": "GB"},
        "stock_aware": True,
        "split": True,
        "candidates": [
            {"provider": "flexport", "warehouse": "east"},
            {"provider": "flexport", "warehouse": "west"},
        ],
    },
]
LINES = [
    {"sku": "TSHIRT-M", "quantity": 2, "unit_price": "19.90"},
    {"sku": "MUG", "quantity": 1, "unit_price": "9.90"},
]


@pytest.fixture
def gateway_store_url(store_url: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return store_url


@pytest.fixture
async def gateway(make_gateway: Any, flexport: FlexportHandle) -> TestClient[Any, Any]:
    flexport.sandbox.approve_returns()
    # T-shirts only in the east, mugs only in the west: no channel holds the order.
    flexport.sandbox.set_stock("TSHIRT-M", "ATL1", 5)
    flexport.sandbox.set_stock("MUG", "RNO1", 5)
    client: TestClient[Any, Any] = await make_gateway(
        routing__rules=RULES,
        providers__flexport__warehouses=WAREHOUSES,
        providers__flexport__returns_enabled=True,
    )
    return client


async def _split(
    gateway: TestClient[Any, Any], flexport: FlexportHandle, external_id: str, *, ship: set[int]
) -> dict[str, Any]:
    """A split order whose parts numbered in `ship` Flexport has shipped."""
    body = gb_order(external_id, lines=LINES)
    resp = await gateway.post("/v1/orders", json=body, headers=auth(key=f"o-{external_id}"))
    created: dict[str, Any] = await read_json(resp)
    assert resp.status == 201, created
    assert [p["warehouse"] for p in created["parts"]] == ["east", "west"]
    for part in created["parts"]:
        if part["part"] in ship:
            await flexport.sandbox.advance(part["provider_order_id"], "SHIPPED")
    return await refreshed(gateway, created["id"])


async def _return(gateway: TestClient[Any, Any], body: dict[str, Any], key: str) -> Any:
    resp = await gateway.post("/v1/returns", json=body, headers=auth(key=key))
    return resp.status, await read_json(resp)


@pytest.mark.parametrize(("sku", "part"), [("TSHIRT-M", 1), ("MUG", 2)])
async def test_a_return_of_one_parts_lines_goes_to_that_parts_provider_order(
    gateway: TestClient[Any, Any], flexport: FlexportHandle, sku: str, part: int
) -> None:
    order = await _split(gateway, flexport, "SR-1", ship={1, 2})
    at = order["parts"][part - 1]
    lines = [{"sku": sku, "quantity": 1}]
    body = {"order_id": order["id"], "external_id": "RMA-S1", "lines": lines}

    status, created = await _return(gateway, body, "r-1")

    assert status == 201, created
    assert created["provider_order_id"] == at["provider_order_id"]
    held = flexport.sandbox.returns[int(created["provider_return_id"])]
    assert held.body["logisticsOrderId"] == at["provider_order_id"]
    assert held.body["returnItems"] == [{"identifier": sku, "type": "SKU", "quantity": 1}]
    # The return's reference is qualified by its part, as the part's own reference is.
    expected = ref("RMA-S1") if part == 1 else "storefront-fi#2/RMA-S1"
    assert held.body["rma"] == expected


async def test_a_return_of_a_part_not_shipped_is_refused_though_another_part_shipped(
    gateway: TestClient[Any, Any], flexport: FlexportHandle
) -> None:
    order = await _split(gateway, flexport, "SR-2", ship={1})
    body = {"order_id": order["id"], "lines": [{"sku": "MUG", "quantity": 1}]}

    status, problem = await _return(gateway, body, "r-2")

    assert status == 409, problem
    assert problem["code"] == "order-not-returnable"
    assert "its part 2 submitted" in problem["detail"]
    assert not flexport.sandbox.returns
    shipped = {"order_id": order["id"], "lines": [{"sku": "TSHIRT-M", "quantity": 2}]}
    assert (await _return(gateway, shipped, "r-2b"))[0] == 201


@pytest.mark.parametrize(
    "lines",
    [[{"sku": "TSHIRT-M", "quantity": 1}, {"sku": "MUG", "quantity": 1}], None],
    ids=["lines-of-two-parts", "whole-order"],
)
async def test_a_return_spanning_parts_is_422_naming_them_and_nothing_is_sent(
    gateway: TestClient[Any, Any], flexport: FlexportHandle, lines: Any
) -> None:
    order = await _split(gateway, flexport, "SR-3", ship={1, 2})
    body: dict[str, Any] = {"order_id": order["id"]}
    if lines is not None:
        body["lines"] = lines

    status, problem = await _return(gateway, body, "r-3")

    assert status == 422, problem
    assert problem["code"] == "return-spans-parts"
    assert (problem["order_id"], problem["parts"]) == (order["id"], [1, 2])
    assert "part 1 (flexport east), part 2 (flexport west)" in problem["detail"]
    assert not flexport.sandbox.returns
    listed = await read_json(await gateway.get("/v1/returns", headers=auth()))
    assert listed["items"] == []


async def test_a_return_of_a_split_order_asking_more_than_its_part_shipped_is_an_overreach(
    gateway: TestClient[Any, Any], flexport: FlexportHandle
) -> None:
    order = await _split(gateway, flexport, "SR-4", ship={1, 2})
    body = {"order_id": order["id"], "lines": [{"sku": "TSHIRT-M", "quantity": 3}]}

    status, problem = await _return(gateway, body, "r-4")

    assert status == 422, problem
    assert [e["loc"] for e in problem["errors"]] == ["lines[0].quantity"]
    assert not flexport.sandbox.returns
