"""A full run on all three providers — orders, webhooks, a return, a cancel — leaves no test
secret, token, client secret, bearer key or webhook secret in any stored exchange."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from gateway.store import open_store
from tests.conftest import (
    ENV,
    FLEXPORT_RULES,
    FlexportHandle,
    LogenticHandle,
    SandboxHandle,
    auth,
    ca_order,
    gb_order,
    order,
    read_json,
)
from tests.integration.shipping import refreshed

NORTH_AMERICA = {
    "name": "north-america",
    "when": {"country": ["CA", "US"]},
    "candidates": [{"provider": "logentic", "warehouse": "MTL"}],
}


@pytest.fixture
def gateway_store_url(store_url: str) -> str:
    return store_url


async def _submit(gateway: TestClient[Any, Any], body: dict[str, Any]) -> dict[str, Any]:
    resp = await gateway.post("/v1/orders", json=body, headers=auth(key=body["external_id"]))
    view: dict[str, Any] = await read_json(resp)
    assert resp.status == 201, view
    return view


async def _until(gateway: TestClient[Any, Any], order_id: str, status: str) -> None:
    for _ in range(200):
        view = await read_json(await gateway.get(f"/v1/orders/{order_id}", headers=auth()))
        if view["status"] == status:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{order_id} never {status}")


async def test_no_secret_reaches_any_exchange(
    make_gateway: Callable[..., Any],
    logitrail: SandboxHandle,
    logentic: LogenticHandle,
    flexport: FlexportHandle,
    gateway_store_url: str,
) -> None:
    issued: list[str] = []
    state = logitrail.sandbox._state
    issue = state.issue_token

    def remembered(scopes: frozenset[str]) -> str:
        issued.append(token := issue(scopes))
        return token

    state.issue_token = remembered  # type: ignore[method-assign]
    gateway = await make_gateway(routing__rules=[*FLEXPORT_RULES, NORTH_AMERICA])

    shipped = await _submit(gateway, order("SEC-1"))  # Logitrail (OAuth)
    logitrail.sandbox.advance(shipped["provider_order_id"], "processed")
    assert (await refreshed(gateway, shipped["id"]))["status"] == "shipped"
    resp = await gateway.post(
        "/v1/returns",
        json={"order_id": shipped["id"], "external_id": "RMA-SEC"},
        headers=auth(key="r-sec"),
    )
    ret = await read_json(resp)
    assert resp.status in (201, 202), ret
    cancelled = await _submit(gateway, order("SEC-2"))
    resp = await gateway.post(f"/v1/orders/{cancelled['id']}/cancel", headers=auth())
    assert resp.status == 200, await read_json(resp)

    ca = await _submit(gateway, ca_order("SEC-3"))  # Logentic, signed webhooks
    await logentic.sandbox.advance(int(ca["provider_order_id"]), "IN_TRANSIT")
    await logentic.sandbox.drain_webhooks()
    await _until(gateway, ca["id"], "shipped")

    gb = await _submit(gateway, gb_order("SEC-4"))  # Flexport, ids-only webhooks
    await flexport.sandbox.advance(gb["provider_order_id"], "SHIPPED")
    await flexport.sandbox.drain_webhooks()
    await _until(gateway, gb["id"], "shipped")
    await gateway.close()  # every buffered exchange written

    store = await open_store(gateway_store_url)
    try:
        rows = await store._db.reads.fetch_all("SELECT * FROM exchanges")  # type: ignore[attr-defined]
    finally:
        await store.close()
    stored = [dict(r) for r in rows]
    providers = {r["provider"] for r in stored}
    assert providers == {"logitrail", "logentic", "flexport"}
    ops = {(r["provider"], r["operation"]) for r in stored}
    assert {("logitrail", "cancel"), ("logitrail", "return_create")} <= ops, ops
    assert {r["subject_kind"] for r in stored} == {"order", "return"}
    assert issued, "Logitrail issued no token: the OAuth path was not exercised"
    secrets = [*ENV.values(), *issued]
    text = orjson.dumps(stored).decode()
    for secret in secrets:
        assert secret not in text, secret
