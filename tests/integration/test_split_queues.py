"""The queue of submissions under way counts each open part of a split order at its own
provider (`/v1/providers` `queue`, `gateway_queue_depth`), on both stores."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gateway.sandbox.flexport import Fault as FlexportFault
from gateway.sandbox.logentic import Fault as LogenticFault
from tests.conftest import FlexportHandle, LogenticHandle, auth, ca_order, read_json
from tests.integration.metrics_scrape import scrape

RULES: list[dict[str, Any]] = [
    {
        "name": "north-america",
        "when": {"country": "CA"},
        "stock_aware": True,
        "split": True,
        "candidates": [
            {"provider": "logentic", "warehouse": "MTL"},
            {"provider": "flexport", "warehouse": "auto"},
        ],
    }
]
LINES = [
    {"sku": "TSHIRT-M", "quantity": 2, "unit_price": "24.90"},
    {"sku": "MUG", "quantity": 1, "unit_price": "9.90"},
]


@pytest.fixture
def gateway_store_url(store_url: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return store_url


async def test_each_open_part_is_in_its_providers_queue_until_it_is_sent(
    make_gateway: Callable[..., Any], logentic: LogenticHandle, flexport: FlexportHandle
) -> None:
    logentic.sandbox.set_stock("MUG", 1, 0)  # T-shirts in Montreal, the mug at Flexport
    flexport.sandbox.set_stock("MUG", "ATL1", 10)
    gateway = await make_gateway(routing__rules=RULES, server__request_budget_s=0.3)
    # Both providers ask to wait two minutes: each part stays queued at its provider.
    logentic.sandbox.inject(LogenticFault(op="create", status=429, retry_after="120"))
    flexport.sandbox.inject(FlexportFault(op="create", status=429, retry_after="120"))

    resp = await gateway.post(
        "/v1/orders", json=ca_order("SPLIT-Q", lines=LINES), headers=auth(key="split-q")
    )
    created = await read_json(resp)
    assert resp.status == 202, created
    assert [p["provider"] for p in created["parts"]] == ["logentic", "flexport"]
    assert [p["provider_order_id"] for p in created["parts"]] == [None, None]

    body = await read_json(await gateway.get("/v1/providers", headers=auth()))
    queues = {p["name"]: p["queue"] for p in body["providers"]}
    assert (queues["logentic"]["depth"], queues["flexport"]["depth"]) == (1, 1)
    assert queues["logitrail"] == {"depth": 0, "oldest_age_s": 0.0}
    assert queues["flexport"]["oldest_age_s"] >= 0
    assert (await scrape(gateway)).value("gateway_queue_depth") == 2
