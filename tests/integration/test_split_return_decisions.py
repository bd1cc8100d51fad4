"""A decision on a return spanning parts of a split order at two providers
(`POST /v1/returns/{id}/decision`): when one part's provider has no decision step (Flexport),
the decision is refused before any provider is asked — the part at a provider that has one
(Logitrail) is not decided alone — on both stores."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import FlexportHandle, SandboxHandle, auth, gb_order, read_json
from tests.integration.shipping import refreshed
from tests.integration.test_split_returns import LINES
from tests.integration.test_split_returns import RULES as UK_SPLITS

# Logitrail first: it has no stock source, so the plan puts on it only what Flexport's east
# channel does not hold (the mugs, back-ordered there), a part of its own.
[UK_SPLIT] = UK_SPLITS
RULES = [
    {
        **UK_SPLIT,
        "candidates": [
            {"provider": "logitrail", "warehouse": "FI-VANTAA"},
            {"provider": "flexport", "warehouse": "east"},
        ],
    },
]
WAREHOUSES = {"east": {"kind": "d2c", "stock_warehouses": ["ATL1"]}}


@pytest.fixture
def gateway_store_url(store_url: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return store_url


async def _shipped_split(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle, flexport: FlexportHandle
) -> dict[str, Any]:
    body = gb_order("SD-1", lines=LINES)
    resp = await gateway.post("/v1/orders", json=body, headers=auth(key="o-SD-1"))
    created: dict[str, Any] = await read_json(resp)
    assert resp.status == 201, created
    parts = created["parts"]
    assert [(p["provider"], p["lines"]) for p in parts] == [
        ("logitrail", [{"sku": "MUG", "quantity": 1}]),
        ("flexport", [{"sku": "TSHIRT-M", "quantity": 2}]),
    ]
    logitrail.sandbox.advance(parts[0]["provider_order_id"], "processed")
    await flexport.sandbox.advance(parts[1]["provider_order_id"], "SHIPPED")
    shipped = await refreshed(gateway, created["id"])
    assert shipped["status"] == "shipped", shipped
    return shipped


async def test_a_decision_one_parts_provider_cannot_take_reaches_no_provider(
    make_gateway: Any, logitrail: SandboxHandle, flexport: FlexportHandle
) -> None:
    flexport.sandbox.approve_returns()
    flexport.sandbox.set_stock("TSHIRT-M", "ATL1", 5)
    gateway: TestClient[Any, Any] = await make_gateway(
        routing__rules=RULES,
        providers__flexport__warehouses=WAREHOUSES,
        providers__flexport__returns_enabled=True,
    )
    order = await _shipped_split(gateway, logitrail, flexport)
    resp = await gateway.post("/v1/returns", json={"order_id": order["id"]}, headers=auth(key="r"))
    created = await read_json(resp)
    assert resp.status == 201, created
    assert [(p["part"], p["provider"]) for p in created["parts"]] == [
        (1, "logitrail"),
        (2, "flexport"),
    ]
    before = await read_json(await gateway.get(f"/v1/returns/{created['id']}", headers=auth()))

    resp = await gateway.post(
        f"/v1/returns/{created['id']}/decision", json={"code": "to_shelf"}, headers=auth()
    )
    problem = await read_json(resp)

    assert resp.status == 422, problem
    assert problem["code"] == "decision-unsupported"
    assert problem["provider"] == "flexport"
    # Logitrail, whose part comes first, was never asked: nothing is half decided.
    assert "return_decision" not in [r.op for r in logitrail.sandbox.requests]
    [held] = logitrail.sandbox.returns.values()
    assert held.merchant_decision is None
    after = await read_json(await gateway.get(f"/v1/returns/{created['id']}", headers=auth()))
    assert after["parts"] == before["parts"]
    assert (after["status"], after["decision"]) == (before["status"], before["decision"])
    assert (after["status"], after["decision"]) == ("registered", None)
    assert after["history"] == before["history"]
