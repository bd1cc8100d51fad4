"""Logentic through the gateway: submit, SKU lookup, stock-aware routing, webhooks, paging."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from gateway.api.keys import PROVIDERS, WEBHOOKS
from gateway.errors import Conflict
from gateway.model.orders import CanonicalOrder
from gateway.providers.base import ProviderOrderRef, Submission, cached_stock_of
from gateway.sandbox.logentic import Fault
from tests.conftest import WEBHOOK_SECRET, LogenticHandle, auth, ca_order, read_json, ref
from tests.unit.fakes import SkipAheadClock


@pytest.fixture
def gateway_store_url(store_url: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return store_url


async def _submit(gateway: TestClient[Any, Any], body: dict[str, Any]) -> tuple[int, Any]:
    resp = await gateway.post("/v1/orders", json=body, headers=auth(key=f"k-{body['external_id']}"))
    return resp.status, await read_json(resp)


async def _view(gateway: TestClient[Any, Any], order_id: str) -> Any:
    return await read_json(await gateway.get(f"/v1/orders/{order_id}", headers=auth()))


def _calls(logentic: LogenticHandle, op: str) -> int:
    return logentic.sandbox.count(op)


async def test_submit_creates_a_pending_logentic_order_by_item_id(
    gateway: TestClient[Any, Any], logentic: LogenticHandle
) -> None:
    status, body = await _submit(gateway, ca_order("CA-1"))

    assert status == 201, body
    assert (body["provider"], body["warehouse"], body["status"]) == ("logentic", "MTL", "submitted")
    assert body["route"] == {"rule": "north-america", "candidate": 0}
    [held] = logentic.sandbox.orders_by_external_name(ref("CA-1"))
    assert str(held.id) == body["provider_order_id"]
    assert held.status == "PENDING"
    assert held.warehouse_id == 1
    assert held.stored_items == [{"item_id": 28000, "quantity": 2}]
    assert held.recipient == {
        "name": "Aino Virtanen",
        "email": "aino@example.com",
        "phone": "+358401234567",
    }
    assert held.place["province_code"] == "QC"


async def test_missing_required_field_is_422_before_any_call(
    gateway: TestClient[Any, Any], logentic: LogenticHandle
) -> None:
    body = ca_order("CA-2")
    body["recipient"] = {**body["recipient"], "phone": None}
    body["address"] = {**body["address"], "region": None}
    status, problem = await _submit(gateway, body)

    assert status == 422
    assert problem["code"] == "provider-rules"
    assert {e["loc"] for e in problem["errors"]} == {"recipient.phone", "address.region"}
    assert all(e["rule"] == "logentic" for e in problem["errors"])
    assert "logentic requires" in problem["detail"]
    # Routing may read inventory first (stock-aware rule); no item lookup, no create.
    assert {r.op for r in logentic.sandbox.requests} <= {"quantities"}


async def test_unknown_sku_is_refused_naming_the_line(
    gateway: TestClient[Any, Any], logentic: LogenticHandle
) -> None:
    body = ca_order(
        "CA-3", lines=[{"sku": "TSHIRT-M", "quantity": 1}, {"sku": "NOPE-1", "quantity": 1}]
    )
    status, problem = await _submit(gateway, body)

    assert status == 422
    assert problem["code"] == "provider-rejected"
    assert problem["errors"] == [
        {
            "loc": "lines[1].sku",
            "rule": "logentic",
            "msg": "logentic has no item with external_name 'NOPE-1'",
        }
    ]
    assert _calls(logentic, "create") == 0


async def test_sku_lookup_is_cached(
    gateway: TestClient[Any, Any], logentic: LogenticHandle
) -> None:
    await _submit(gateway, ca_order("LK-1"))
    await _submit(gateway, ca_order("LK-2"))
    assert _calls(logentic, "items") == 1  # the second order used the cache
    # A miss is remembered briefly, then asked again: tests/integration/test_logentic_items.py


async def test_unknown_item_is_created_in_inches_when_configured(
    make_gateway: Any, logentic: LogenticHandle
) -> None:
    gateway = await make_gateway(providers__logentic__create_missing_items=True)
    body = ca_order(
        "NEW-1",
        lines=[
            {
                "sku": "NEW-SKU",
                "quantity": 1,
                "name": "Lamp",
                "weight_g": 454,
                "dimensions_mm": [254, 100, 25],
            }
        ],
    )
    status, created = await _submit(gateway, body)

    assert status == 201, created
    [item] = [i for i in logentic.sandbox.items.values() if i.external_name == "NEW-SKU"]
    assert (item.width_in, item.height_in, item.depth_in, item.weight) == (10.0, 3.94, 0.99, 1.001)


async def test_stock_aware_routing_takes_the_warehouse_that_holds_every_line(
    gateway: TestClient[Any, Any], logentic: LogenticHandle
) -> None:
    logentic.sandbox.set_stock("TSHIRT-M", 1, 1)  # MTL has 1, the order needs 2
    explain = await read_json(
        await gateway.post("/v1/routing/explain", json=ca_order("ST-1"), headers=auth())
    )
    status, body = await _submit(gateway, ca_order("ST-1"))

    assert explain["decision"]["warehouse"] == "TOR"
    mtl, tor = explain["trace"][-1]["candidates"]
    assert mtl["outcome"] == "skipped: out of stock"
    assert mtl["shortfall"] == {"TSHIRT-M": {"needed": 2, "available": 1}}
    assert tor["stock"] == {"TSHIRT-M": 50}
    assert status == 201
    assert (body["warehouse"], body["route"]["candidate"]) == ("TOR", 1)
    assert logentic.sandbox.orders_by_external_name(ref("ST-1"))[0].warehouse_id == 2


async def test_stock_snapshot_is_cached_briefly(
    gateway: TestClient[Any, Any], logentic: LogenticHandle
) -> None:
    for i in range(3):
        await _submit(gateway, ca_order(f"SC-{i}"))
    assert _calls(logentic, "quantities") == 1


async def test_cached_stock_answers_from_the_last_snapshot_however_old_and_never_calls(
    make_gateway: Any, logentic: LogenticHandle, clock: SkipAheadClock
) -> None:
    gateway = await make_gateway(providers__logentic__stock_cache_ttl_s=1)
    adapter = gateway.server.app[PROVIDERS]["logentic"]
    before = adapter.cached_stock("TOR", ["TSHIRT-M"])
    assert await adapter.stock("MTL", ["TSHIRT-M"]) == {"TSHIRT-M": 50}
    logentic.sandbox.set_stock("TSHIRT-M", 2, 3)
    await clock.advance(2)  # past the TTL
    calls = len(logentic.sandbox.requests)

    assert before is None  # nothing read yet
    assert cached_stock_of(adapter) is adapter
    assert adapter.cached_stock("TOR", ["TSHIRT-M", "NO-SUCH"]) == {"TSHIRT-M": 50, "NO-SUCH": 0}
    assert len(logentic.sandbox.requests) == calls
    assert await adapter.stock("TOR", ["TSHIRT-M"]) == {"TSHIRT-M": 3}  # stock() reads again
    assert adapter.cached_stock("TOR", ["TSHIRT-M"]) == {"TSHIRT-M": 3}


async def test_inventory_outage_routes_on_without_stock(
    gateway: TestClient[Any, Any], logentic: LogenticHandle
) -> None:
    logentic.sandbox.inject(Fault(op="quantities", status=500, count=None))
    status, body = await _submit(gateway, ca_order("NOINV-1"))
    assert status == 201
    assert body["warehouse"] == "MTL"  # stock unknown everywhere: the first healthy candidate


def _signed(body: bytes) -> str:
    return hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()


async def test_signed_webhook_moves_the_order_and_history_says_so(
    gateway: TestClient[Any, Any], logentic: LogenticHandle
) -> None:
    _s, body = await _submit(gateway, ca_order("WH-1"))
    await logentic.sandbox.advance(int(body["provider_order_id"]), "IN_TRANSIT")
    await logentic.sandbox.drain_webhooks()

    async def shipped() -> bool:
        return (await _view(gateway, body["id"]))["status"] == "shipped"

    for _ in range(100):
        if await shipped():
            break
        await asyncio.sleep(0.02)
    view = await _view(gateway, body["id"])
    assert view["status"] == "shipped"
    assert view["history"][-1]["source"] == "webhook"
    assert "order-in-transit" in view["history"][-1]["detail"]


async def test_forged_webhook_is_401_and_changes_nothing(
    gateway: TestClient[Any, Any], logentic: LogenticHandle
) -> None:
    _s, body = await _submit(gateway, ca_order("WH-2"))
    payload = {
        "id": "evt-forged",
        "topic": "order-completed",
        "data": {"id": int(body["provider_order_id"]), "status": "COMPLETED"},
    }
    forged = await logentic.sandbox.send_webhook("order-completed", payload, signature="00" * 32)
    unsigned = await gateway.post(
        "/v1/webhooks/logentic",
        data=orjson.dumps(payload),
        headers={"Logentic-Topic": "order-completed"},
    )
    await gateway.server.app[WEBHOOKS].drain()  # whatever was taken in is applied by now

    assert forged == 401
    assert unsigned.status == 401
    assert (await _view(gateway, body["id"]))["status"] == "submitted"
    # the event id was not stored either: a genuine delivery of it is new and applies
    raw = orjson.dumps(payload)
    genuine = await gateway.post(
        "/v1/webhooks/logentic",
        data=raw,
        headers={"Logentic-Topic": "order-completed", "Signature": _signed(raw)},
    )
    assert await read_json(genuine) == {"received": 1, "new": 1}


async def test_the_same_delivery_twice_is_applied_once(
    gateway: TestClient[Any, Any], logentic: LogenticHandle
) -> None:
    _s, body = await _submit(gateway, ca_order("WH-3"))
    pid = int(body["provider_order_id"])
    payload = orjson.dumps(
        {"id": "evt-twice", "topic": "order-picked", "data": {"id": pid, "status": "PICKED"}}
    )
    headers = {"Logentic-Topic": "order-picked", "Signature": _signed(payload)}

    first = await gateway.post("/v1/webhooks/logentic", data=payload, headers=headers)
    second = await gateway.post("/v1/webhooks/logentic", data=payload, headers=headers)
    await eventually_status(gateway, body["id"], "in_progress")

    assert await read_json(first) == {"received": 1, "new": 1}
    assert await read_json(second) == {"received": 1, "new": 0}
    history = (await _view(gateway, body["id"]))["history"]
    # Once, whoever else reported earlier statuses (the sandbox's own creation webhook may
    # report `submitted` before the submitter does).
    assert [(h["status"], h["source"]) for h in history].count(("in_progress", "webhook")) == 1


async def test_late_news_never_rewinds_an_order(
    gateway: TestClient[Any, Any], logentic: LogenticHandle
) -> None:
    _s, body = await _submit(gateway, ca_order("WH-4"))
    pid = int(body["provider_order_id"])
    for event_id, raw in (("e-done", "COMPLETED"), ("e-old", "PICKED")):
        payload = orjson.dumps({"id": event_id, "data": {"id": pid, "status": raw}})
        await gateway.post(
            "/v1/webhooks/logentic", data=payload, headers={"Signature": _signed(payload)}
        )
    await eventually_status(gateway, body["id"], "delivered")
    await gateway.server.app[WEBHOOKS].drain()  # the late news is applied (ignored) by now
    assert (await _view(gateway, body["id"]))["status"] == "delivered"


async def test_webhook_that_outruns_the_create_answer_is_applied_later(
    gateway: TestClient[Any, Any], logentic: LogenticHandle, clock: SkipAheadClock
) -> None:
    logentic.sandbox.inject(Fault(op="create", hold=True, after=True))
    post = asyncio.ensure_future(_submit(gateway, ca_order("WH-5")))
    await logentic.sandbox.wait_held("create")
    [held] = logentic.sandbox.orders_by_external_name(ref("WH-5"))
    await logentic.sandbox.advance(held.id, "IN_TRANSIT")  # announced while we still wait
    await logentic.sandbox.drain_webhooks()
    logentic.sandbox.release()
    _status, body = await post

    # The stored news waits for the webhook-events loop's next round: skip the clock until it
    # ran (the loop may be mid-round in real time when the skip starts: poll, bounded).
    await clock.skipping(eventually_status(gateway, body["id"], "shipped", timeout=10))


async def eventually_status(
    gateway: TestClient[Any, Any], order_id: str, status: str, timeout: float = 5.0
) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while (await _view(gateway, order_id))["status"] != status:
        assert asyncio.get_running_loop().time() < deadline, f"never {status}"
        await asyncio.sleep(0.05)


async def test_list_follows_next_links_across_pages(
    gateway: TestClient[Any, Any], logentic: LogenticHandle
) -> None:
    for i in range(12):
        await _submit(gateway, ca_order(f"PG-{i}"))
    before = _calls(logentic, "list")
    adapter = gateway.server.app[PROVIDERS]["logentic"]
    seen = [o["external_name"] async for o in adapter.list_orders()]  # type: ignore[attr-defined]

    assert seen == [ref(f"PG-{i}") for i in range(12)]
    assert _calls(logentic, "list") - before == 3  # 5 per page: 5 + 5 + 2


async def test_reconcile_finds_an_order_past_the_first_page(
    gateway: TestClient[Any, Any], logentic: LogenticHandle
) -> None:
    for i in range(7):
        await _submit(gateway, ca_order(f"RC-{i}"))
    adapter = gateway.server.app[PROVIDERS]["logentic"]
    order = CanonicalOrder.model_validate(ca_order("RC-6"))
    sub = Submission("ord_x", "storefront-fi", order, "MTL", "storefront-fi/RC-6")
    found = await adapter.find(sub)
    [held] = logentic.sandbox.orders_by_external_name(ref("RC-6"))
    assert found == ProviderOrderRef(str(held.id))


async def test_cancel_only_while_pending(
    gateway: TestClient[Any, Any], logentic: LogenticHandle
) -> None:
    adapter = gateway.server.app[PROVIDERS]["logentic"]
    _s, a = await _submit(gateway, ca_order("CX-1"))
    _s, b = await _submit(gateway, ca_order("CX-2"))
    await logentic.sandbox.advance(int(b["provider_order_id"]), "PICKED")

    cancelled = await adapter.cancel(ProviderOrderRef(a["provider_order_id"]))
    assert (cancelled.status.value, cancelled.raw_status) == ("cancelled", "CANCELLED")
    with pytest.raises(Conflict, match=r"(?i)pending"):
        await adapter.cancel(ProviderOrderRef(b["provider_order_id"]))


async def test_no_webhook_secret_means_no_webhook_endpoint(make_gateway: Any) -> None:
    gateway = await make_gateway(providers__logentic__webhook_secret_env=None)
    resp = await gateway.post("/v1/webhooks/logentic", data=b"{}")
    assert resp.status == 404
    assert (await gateway.post("/v1/webhooks/logitrail", data=b"{}")).status == 404
