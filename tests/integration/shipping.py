"""Orders brought to `shipped` the way a provider does it: the sandbox moves the order on, and
the gateway reads it back (`POST /v1/orders/{id}/refresh`). Only shipped orders take returns."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import FlexportHandle, SandboxHandle, auth, read_json


async def refreshed(gateway: TestClient[Any, Any], order_id: str) -> dict[str, Any]:
    resp = await gateway.post(f"/v1/orders/{order_id}/refresh", headers=auth())
    body: dict[str, Any] = await read_json(resp)
    assert resp.status == 200, body
    return body


async def ship_at_logitrail(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle, placed: dict[str, Any]
) -> dict[str, Any]:
    logitrail.sandbox.advance(placed["provider_order_id"], "processed")
    view = await refreshed(gateway, placed["id"])
    assert view["status"] == "shipped", view
    return view


async def ship_at_flexport(
    gateway: TestClient[Any, Any], flexport: FlexportHandle, placed: dict[str, Any]
) -> dict[str, Any]:
    status = "TENDERED" if placed["order"]["kind"] == "b2b" else "SHIPPED"
    await flexport.sandbox.advance(placed["provider_order_id"], status)
    view = await refreshed(gateway, placed["id"])
    assert view["status"] == "shipped", view
    return view
