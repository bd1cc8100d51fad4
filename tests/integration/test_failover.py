"""While a provider's circuit is open, routing takes the next healthy candidate."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.sandbox.logitrail import Fault
from tests.conftest import LogenticHandle, SandboxHandle, auth, order, read_json, ref

FAILOVER = [
    {
        "name": "estonia",
        "when": {"country": "EE"},
        "candidates": [
            {"provider": "logitrail", "warehouse": "FI-VANTAA"},
            {"provider": "logentic", "warehouse": "MTL"},
        ],
    }
]


@pytest.fixture
def gateway_store_url(store_url: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return store_url


def estonian(external_id: str) -> dict[str, Any]:
    body = order(external_id)
    body["address"] = {
        "line1": "Narva mnt 5",
        "postal_code": "10117",
        "city": "Tallinn",
        "region": "37",
        "country_code": "EE",
    }
    body["lines"] = [{"sku": "TSHIRT-M", "quantity": 1}]
    return body


async def test_open_circuit_sends_new_orders_to_the_next_candidate(
    make_gateway: Any, logitrail: SandboxHandle, logentic: LogenticHandle
) -> None:
    gateway = await make_gateway(
        routing__rules=FAILOVER,
        server__request_budget_s=0.5,
        providers__logitrail__circuit={"failure_threshold": 1, "cool_down_s": 60},
    )
    logitrail.sandbox.inject(Fault(op="*", status=503, count=None))

    first = await gateway.post("/v1/orders", json=estonian("EE-1"), headers=auth(key="ee1"))
    second = await gateway.post("/v1/orders", json=estonian("EE-2"), headers=auth(key="ee2"))
    explain = await read_json(
        await gateway.post("/v1/routing/explain", json=estonian("EE-3"), headers=auth())
    )
    body = await read_json(second)

    assert first.status == 202  # Logitrail failed it; it stays queued there
    assert (await read_json(first))["provider"] == "logitrail"
    assert second.status == 201
    assert (body["provider"], body["route"]) == ("logentic", {"rule": "estonia", "candidate": 1})
    assert len(logentic.sandbox.orders_by_external_name(ref("EE-2"))) == 1
    candidates = explain["trace"][0]["candidates"]
    assert [c["outcome"] for c in candidates] == ["skipped: circuit open", "chosen"]
