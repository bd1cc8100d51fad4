"""Flexport through the gateway: D2C orders and B2B outbounds, idempotency keys, reconcile,
credential and lock errors, ids-only webhooks, cancel."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import structlog
from aiohttp.test_utils import TestClient

from gateway.api.keys import PROVIDERS, STORE, WEBHOOKS
from gateway.errors import Conflict
from gateway.model.orders import CanonicalOrder
from gateway.orders.refs import provider_ref
from gateway.providers.base import ProviderOrderRef, Submission
from gateway.sandbox.flexport import B2BOrder, D2COrder, Fault
from tests.conftest import (
    FLEXPORT_RULES,
    FLEXPORT_WEBHOOK_SECRET,
    FlexportHandle,
    auth,
    b2b_order,
    gb_order,
    read_json,
    ref,
)

WEBHOOK_HEADER = "X-Flexport-Webhook-Token"


@pytest.fixture
def captured() -> Iterator[list[dict[str, Any]]]:
    """Every log event, info included, as a dict."""
    lines: list[dict[str, Any]] = []

    def keep(_logger: Any, _method: str, event: Any) -> Any:
        lines.append(dict(event))
        raise structlog.DropEvent

    old = structlog.get_config()
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, keep],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
    )
    try:
        yield lines
    finally:
        structlog.configure(**old)


@pytest.fixture
async def gateway(make_gateway: Any) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = await make_gateway(routing__rules=FLEXPORT_RULES)
    return client


async def _submit(gateway: TestClient[Any, Any], body: dict[str, Any]) -> tuple[int, Any]:
    resp = await gateway.post("/v1/orders", json=body, headers=auth(key=f"k-{body['external_id']}"))
    return resp.status, await read_json(resp)


async def _view(gateway: TestClient[Any, Any], order_id: str) -> Any:
    return await read_json(await gateway.get(f"/v1/orders/{order_id}", headers=auth()))


async def eventually_status(
    gateway: TestClient[Any, Any], order_id: str, status: str, timeout: float = 10.0
) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while (view := await _view(gateway, order_id))["status"] != status:
        assert asyncio.get_running_loop().time() < deadline, f"never {status}: {view}"
        await asyncio.sleep(0.05)
    return view


@pytest.fixture
async def impatient(make_gateway: Any) -> TestClient[Any, Any]:
    """A gateway that answers 202 after half a second (for orders that must wait)."""
    client: TestClient[Any, Any] = await make_gateway(
        routing__rules=FLEXPORT_RULES, server__request_budget_s=0.5
    )
    return client


def _adapter(gateway: TestClient[Any, Any]) -> Any:
    return gateway.server.app[PROVIDERS]["flexport"]


async def _stored_ref(gateway: TestClient[Any, Any], order_id: str) -> ProviderOrderRef:
    """The provider's order as the gateway keeps it: what every call about it is given."""
    row = await gateway.app[STORE].get_order(order_id)
    assert row is not None
    return provider_ref(row)


def _submission(body: dict[str, Any], warehouse: str = "auto", gid: str = "ord_x") -> Submission:
    order = CanonicalOrder.model_validate(body)
    reference = f"storefront-fi/{order.external_id}"
    return Submission(gid, "storefront-fi", order, warehouse, reference)


def _one(flexport: FlexportHandle, external_id: str) -> Any:
    [held] = flexport.sandbox.orders_by_external_id(ref(external_id))
    return held


# D2C ------------------------------------------------------------------------------------------
async def test_d2c_order_is_created_by_logistics_sku_with_an_idempotency_key(
    gateway: TestClient[Any, Any], flexport: FlexportHandle
) -> None:
    status, body = await _submit(gateway, gb_order("GB-1"))

    assert status == 201, body
    assert (body["provider"], body["warehouse"], body["status"]) == (
        "flexport",
        "auto",
        "submitted",
    )
    held = _one(flexport, "GB-1")
    assert isinstance(held, D2COrder)
    assert str(held.id) == body["provider_order_id"]
    [create] = [r for r in flexport.sandbox.requests if r.op == "create"]
    assert create.path == "/logistics/api/2026-02/orders"
    assert create.headers["idempotency-key"] == f"{body['id']}:create"
    assert create.headers["authorization"] == "Bearer <redacted>"
    assert create.body["lineItems"] == [
        {
            "logisticsSku": "DSKU6DW2B4Q",
            "quantity": 2,
            "customsUnitValue": {"amount": 19.9, "currencyCode": "GBP"},
        }
    ]
    assert create.body["externalOrderId"] == ref("GB-1")


async def test_unknown_sku_is_refused_naming_the_line_without_a_create(
    gateway: TestClient[Any, Any], flexport: FlexportHandle
) -> None:
    body = gb_order("GB-2", lines=[{"sku": "MUG", "quantity": 1}, {"sku": "NOPE", "quantity": 1}])
    status, problem = await _submit(gateway, body)

    assert status == 422
    assert problem["code"] == "provider-rejected"
    assert problem["errors"] == [
        {
            "loc": "lines[1].sku",
            "rule": "flexport",
            "msg": "flexport has no product with merchantSku 'NOPE'",
        }
    ]
    assert flexport.sandbox.count("create") == 0


async def test_catalogue_is_loaded_once_and_a_miss_soon_after_does_not_page_it_again(
    gateway: TestClient[Any, Any], flexport: FlexportHandle
) -> None:
    await _submit(gateway, gb_order("CAT-1"))
    await _submit(gateway, gb_order("CAT-2"))
    missing, _ = await _submit(gateway, gb_order("CAT-3", lines=[{"sku": "LAMP", "quantity": 1}]))

    assert missing == 422
    assert flexport.sandbox.count("products") == 1  # within catalog_refresh_min_s of the load


async def test_an_unknown_sku_reloads_the_catalogue_and_a_new_product_is_found(
    make_gateway: Any, flexport: FlexportHandle
) -> None:
    gateway = await make_gateway(
        routing__rules=FLEXPORT_RULES, providers__flexport__catalog_refresh_min_s=0
    )
    await _submit(gateway, gb_order("CAT-1"))
    late = gb_order("CAT-2", lines=[{"sku": "LAMP", "quantity": 1}])
    first, _ = await _submit(gateway, late)
    flexport.sandbox.add_product("LAMP", logistics_sku="DSKULAMP001")
    again, _ = await _submit(gateway, {**late, "external_id": "CAT-3"})

    assert (first, again) == (422, 201)
    assert flexport.sandbox.count("products") == 3
    assert _one(flexport, "CAT-3").body["lineItems"][0]["logisticsSku"] == "DSKULAMP001"


async def test_the_catalogue_is_paged_to_its_end(
    make_gateway: Any, flexport: FlexportHandle
) -> None:
    gateway = await make_gateway(routing__rules=FLEXPORT_RULES, providers__flexport__per_page=1)
    status, _body = await _submit(
        gateway, gb_order("PAGE-1", lines=[{"sku": "BOOT-42", "quantity": 1}])
    )

    pages = [r.query for r in flexport.sandbox.requests if r.op == "products"]
    assert status == 201
    assert pages == [{"limit": "1", "offset": str(i)} for i in range(5)]  # 4 products, then []
    assert _one(flexport, "PAGE-1").body["lineItems"][0]["logisticsSku"] == "DSKU4BOOT42"


async def test_us_address_without_a_state_is_422_before_any_call(
    make_gateway: Any, flexport: FlexportHandle
) -> None:
    rules = [
        {
            "name": "us",
            "when": {"country": "US"},
            "candidates": [{"provider": "flexport", "warehouse": "auto"}],
        }
    ]
    gateway = await make_gateway(routing__rules=rules)
    body = gb_order("US-1")
    body["address"] = {
        "line1": "1 Main St",
        "postal_code": "10001",
        "city": "New York",
        "country_code": "US",
    }
    status, problem = await _submit(gateway, body)

    assert status == 422
    assert problem["code"] == "provider-rules"
    assert [(e["loc"], e["rule"]) for e in problem["errors"]] == [("address.region", "flexport")]
    assert flexport.sandbox.requests == []


# B2B ------------------------------------------------------------------------------------------
async def test_b2b_outbound_merges_repeated_skus(
    gateway: TestClient[Any, Any], flexport: FlexportHandle
) -> None:
    status, body = await _submit(gateway, b2b_order("B2B-1"))

    assert status == 201, body
    assert (body["warehouse"], body["route"]["rule"]) == ("reserve", "wholesale")
    held = _one(flexport, "B2B-1")
    assert isinstance(held, B2BOrder)
    assert held.order_id == body["provider_order_id"]
    assert held.status == "PLANNED"
    assert held.body["orderItems"] == [
        {"quantity": 30, "quantityUOM": "EACH", "logisticsSku": "DSKU6DW2B4Q"},
        {"quantity": 12, "quantityUOM": "EACH", "logisticsSku": "DSKU9MUG001"},
    ]
    [create] = [r for r in flexport.sandbox.requests if r.op == "b2b_create"]
    assert create.path == "/logistics/api/2026-02/orders/rs"
    assert create.headers["idempotency-key"] == f"{body['id']}:create"


async def test_b2b_line_unknown_to_the_catalogue_goes_as_product_data_with_an_integer_gtin(
    gateway: TestClient[Any, Any], flexport: FlexportHandle
) -> None:
    body = b2b_order("B2B-2", lines=[{"sku": "CRATE-9", "quantity": 5, "gtin": "00012345678905"}])
    status, created = await _submit(gateway, body)

    assert status == 201, created
    held = _one(flexport, "B2B-2")
    assert held.body["orderItems"] == [
        {
            "quantity": 5,
            "quantityUOM": "EACH",
            "productData": {"sku": "CRATE-9", "gtin": 12345678905},
        }
    ]
    # Flexport cannot resolve it: the outbound is ERROR, which the gateway reads as exception.
    current = await _adapter(gateway).get(await _stored_ref(gateway, created["id"]))
    assert (current.status.value, current.raw_status) == ("exception", "ERROR")


async def test_b2b_without_a_state_is_422_before_any_call(
    gateway: TestClient[Any, Any], flexport: FlexportHandle
) -> None:
    body = b2b_order("B2B-3")
    body["address"] = {**body["address"], "region": None}
    status, problem = await _submit(gateway, body)

    assert status == 422
    assert problem["code"] == "provider-rules"
    assert problem["errors"] == [
        {
            "loc": "address.region",
            "rule": "flexport",
            "msg": "flexport B2B requires shipToAddress.state",
        }
    ]
    assert flexport.sandbox.requests == []


async def test_order_of_the_wrong_kind_for_a_pinned_warehouse_is_422(
    make_gateway: Any, flexport: FlexportHandle
) -> None:
    rules = [
        {
            "name": "all-b2b",
            "when": {"country": "GB"},
            "candidates": [{"provider": "flexport", "warehouse": "reserve"}],
        }
    ]
    gateway = await make_gateway(routing__rules=rules)
    status, problem = await _submit(gateway, gb_order("KIND-1"))

    assert status == 422
    assert problem["errors"][0]["loc"] == "kind"
    assert "takes b2b orders only" in problem["errors"][0]["msg"]
    assert flexport.sandbox.requests == []


# exactly once ---------------------------------------------------------------------------------
async def test_a_create_whose_answer_was_lost_is_resent_with_its_key_and_replayed(
    gateway: TestClient[Any, Any], flexport: FlexportHandle, captured: list[dict[str, Any]]
) -> None:
    flexport.sandbox.inject(Fault(op="create", after=True, reset=True))
    status, body = await _submit(gateway, gb_order("IDEM-1"))

    assert status == 201, body
    assert len(flexport.sandbox.orders_by_external_id(ref("IDEM-1"))) == 1
    assert flexport.sandbox.count("create") == 2
    assert flexport.sandbox.state.replayed == [f"{body['id']}:create"]
    assert body["provider_order_id"] == str(_one(flexport, "IDEM-1").id)
    [replayed] = [e for e in captured if e["event"] == "provider.create.replayed"]
    assert replayed["provider_order_id"] == body["provider_order_id"]
    assert replayed["correlation_id"]


async def test_reconcile_finds_the_order_by_external_id_and_refuses_a_stranger(
    gateway: TestClient[Any, Any], flexport: FlexportHandle
) -> None:
    _s, body = await _submit(gateway, gb_order("REC-1"))
    _s, outbound = await _submit(gateway, b2b_order("REC-2"))
    adapter = _adapter(gateway)

    # Each found with the API that holds it, as create returned it (and the store keeps it).
    d2c = ProviderOrderRef(body["provider_order_id"], {"kind": "d2c"})
    b2b = ProviderOrderRef(outbound["provider_order_id"], {"kind": "b2b"})
    assert await adapter.find(_submission(gb_order("REC-1"))) == d2c
    assert await adapter.find(_submission(b2b_order("REC-2"), "reserve")) == b2b
    assert [await _stored_ref(gateway, o["id"]) for o in (body, outbound)] == [d2c, b2b]
    assert await adapter.find(_submission(gb_order("REC-404"))) is None
    other = gb_order("REC-1", lines=[{"sku": "MUG", "quantity": 7}])
    with pytest.raises(Conflict, match="held by another Flexport order"):
        await adapter.find(_submission(other))


async def test_409_for_an_external_id_already_ours_adopts_that_order(
    gateway: TestClient[Any, Any], flexport: FlexportHandle
) -> None:
    adapter = _adapter(gateway)
    first = await adapter.create(_submission(gb_order("ADOPT-1"), gid="ord_a"))
    # Another create of the same order under another key (the key's record expired, say):
    second = await adapter.create(_submission(gb_order("ADOPT-1"), gid="ord_b"))

    assert second == first
    assert flexport.sandbox.count("create", status=409) == 1
    assert len(flexport.sandbox.orders_by_external_id(ref("ADOPT-1"))) == 1


# credentials and account ----------------------------------------------------------------------
async def test_refused_token_is_a_configuration_error_and_orders_wait(
    impatient: TestClient[Any, Any], flexport: FlexportHandle
) -> None:
    gateway = impatient
    flexport.sandbox.revoke_token("fx-test-token")
    status, body = await _submit(gateway, gb_order("TOK-1"))
    ready = await gateway.get("/readyz")
    providers = await read_json(await gateway.get("/v1/providers", headers=auth()))

    assert status == 202
    assert body["status"] == "accepted"
    assert ready.status == 503
    entry = (await read_json(ready))["checks"]["providers"]["flexport"]
    assert entry["error"] == "provider flexport misconfigured"  # /readyz needs no key
    [state] = [p for p in providers["providers"] if p["name"] == "flexport"]
    error = state["configuration_error"]
    assert "401" in error
    assert "FLEXPORT_TOKEN" in error
    assert "do not refresh" in error
    assert "fx-test-token" not in orjson.dumps(providers).decode()
    assert flexport.sandbox.count("*", status=401) >= 1
    assert flexport.sandbox.orders_by_external_id(ref("TOK-1")) == []


async def test_token_probe_at_start_shows_a_refused_token_at_once(
    make_gateway: Any, flexport: FlexportHandle
) -> None:
    flexport.sandbox.revoke_token("fx-test-token")
    gateway = await make_gateway(providers__flexport__probe_token=True)
    for _ in range(100):
        if (await gateway.get("/readyz")).status == 503:
            break
        await asyncio.sleep(0.02)
    assert (await gateway.get("/readyz")).status == 503
    assert flexport.sandbox.count("warehouses", status=401) == 1


async def test_a_token_without_the_b2b_scope_shows_in_readyz_and_d2c_goes_on(
    impatient: TestClient[Any, Any], flexport: FlexportHandle
) -> None:
    gateway = impatient
    d2c_only = {"read_logistics_orders", "write_logistics_orders", "read_logistics_products"}
    flexport.sandbox.set_scopes("fx-test-token", frozenset(d2c_only))
    b2b_status, _b = await _submit(gateway, b2b_order("SCOPE-1"))
    ready = await read_json(await gateway.get("/readyz"))
    providers = await read_json(await gateway.get("/v1/providers", headers=auth()))
    d2c_status, _d = await _submit(gateway, gb_order("SCOPE-2"))

    assert b2b_status == 202
    assert ready["checks"]["providers"]["flexport"]["status"] == "misconfigured"
    [state] = [p for p in providers["providers"] if p["name"] == "flexport"]
    error = state["configuration_error"]
    assert "(403)" in error
    assert "write_logistics_orders_b2b" in error
    assert d2c_status == 201
    assert flexport.sandbox.orders_by_external_id(ref("SCOPE-1")) == []


async def test_locked_account_is_retried_later_and_lands_once(
    impatient: TestClient[Any, Any], flexport: FlexportHandle
) -> None:
    gateway = impatient
    flexport.sandbox.lock()
    status, body = await _submit(gateway, gb_order("LOCK-1"))
    assert status == 202
    view = await _view(gateway, body["id"])
    assert view["submission"]["last_error"]["error"] == "provider-locked"
    assert view["submission"]["last_error"]["correlation_id"]

    flexport.sandbox.lock(False)
    await eventually_status(gateway, body["id"], "submitted")
    assert len(flexport.sandbox.orders_by_external_id(ref("LOCK-1"))) == 1


async def test_rejection_keeps_flexport_detail_and_correlation_id(
    gateway: TestClient[Any, Any], flexport: FlexportHandle
) -> None:
    flexport.sandbox.inject(
        Fault(
            op="create",
            status=422,
            body={
                "type": "https://docs.logistics-api.flexport.com/2026-02/#section/Errors/422",
                "title": "Unprocessable Content",
                "detail": "The request contains invalid data.",
                "instance": "5b0c8a53-2f0e-4f5e-9d7c-1d1c0a7e9a11",
                "invalid-params": [{"name": "address.zip", "reason": "unrecognised postal code"}],
            },
        )
    )
    status, problem = await _submit(gateway, gb_order("REJ-1"))

    assert status == 422
    assert problem["code"] == "provider-rejected"
    assert problem["detail"] == "flexport: create: The request contains invalid data."
    assert problem["errors"] == [
        {
            "loc": "address.postal_code",
            "rule": "flexport",
            "msg": "flexport: address.zip: unrecognised postal code",
        }
    ]
    assert problem["correlation_id"]  # the sandbox's x-correlation-id of that answer


# webhooks -------------------------------------------------------------------------------------
async def test_ids_only_webhook_makes_the_gateway_read_the_order(
    gateway: TestClient[Any, Any], flexport: FlexportHandle
) -> None:
    _s, body = await _submit(gateway, gb_order("WH-1"))
    await flexport.sandbox.advance(body["provider_order_id"], "SHIPPED")
    await flexport.sandbox.drain_webhooks()

    view = await eventually_status(gateway, body["id"], "shipped")
    assert view["history"][-1]["source"] == "webhook"
    assert "(SHIPPED)" in view["history"][-1]["detail"]
    sent = [orjson.loads(d.body) for d in flexport.sandbox.deliveries]
    assert {"logisticsEventId", "orderId", "externalOrderId"} <= set(sent[-1])
    assert "state" not in sent[-1]  # ids only: the gateway had to ask
    assert flexport.sandbox.count("get") >= 1


async def test_b2b_webhook_is_read_from_the_outbound_api_even_after_a_restart(
    gateway: TestClient[Any, Any], flexport: FlexportHandle, make_gateway: Any
) -> None:
    _s, body = await _submit(gateway, b2b_order("WH-2"))
    await flexport.sandbox.drain_webhooks()
    await gateway.app[WEBHOOKS].drain()
    await gateway.close()
    # A fresh process on the same store (the sandbox's webhooks now go to it): the order's
    # kind is stored with it, so nothing in memory is needed to ask the right API.
    restarted = await make_gateway(routing__rules=FLEXPORT_RULES)
    await flexport.sandbox.advance(body["provider_order_id"], "TENDERED")
    await flexport.sandbox.drain_webhooks()

    await eventually_status(restarted, body["id"], "shipped")
    assert flexport.sandbox.count("get") == 0  # never asked the D2C API
    assert flexport.sandbox.count("b2b_get", status=200) >= 1


async def test_webhook_without_the_token_is_401_and_not_stored(
    gateway: TestClient[Any, Any], flexport: FlexportHandle
) -> None:
    _s, body = await _submit(gateway, gb_order("WH-3"))
    payload = {
        "logisticsAccountId": 1042,
        "logisticsEventId": "evt-forged",
        "logisticsEventType": "Order.Delivered",
        "orderId": int(body["provider_order_id"]),
        "externalOrderId": "WH-3",
    }
    forged = await flexport.sandbox.send_webhook(payload, token="guess")
    bare = await gateway.post("/v1/webhooks/flexport", data=orjson.dumps(payload))
    basic = base64.b64encode(f"flexport:{FLEXPORT_WEBHOOK_SECRET}".encode()).decode()
    genuine = await gateway.post(
        "/v1/webhooks/flexport",
        data=orjson.dumps(payload),
        headers={"Authorization": f"Basic {basic}"},
    )

    assert (forged, bare.status) == (401, 401)
    assert await read_json(genuine) == {"received": 1, "new": 1}  # the forged one stored nothing


async def test_the_same_delivery_twice_is_applied_once(
    gateway: TestClient[Any, Any], flexport: FlexportHandle
) -> None:
    _s, body = await _submit(gateway, gb_order("WH-4"))
    await flexport.sandbox.drain_webhooks()
    await flexport.sandbox.advance(body["provider_order_id"], "PICKING")
    await flexport.sandbox.drain_webhooks()
    event_id = orjson.loads(flexport.sandbox.deliveries[-1].body)["logisticsEventId"]
    await eventually_status(gateway, body["id"], "in_progress")

    again = await flexport.sandbox.redeliver(event_id)
    history = (await _view(gateway, body["id"]))["history"]
    assert again == 200
    assert [h["status"] for h in history].count("in_progress") == 1


async def test_events_about_other_resources_are_acknowledged_and_dropped(
    gateway: TestClient[Any, Any],
) -> None:
    payload = {
        "logisticsEventId": "inv-1",
        "logisticsEventType": "Inventory.Adjusted",
        "adjustmentId": 9,
    }
    resp = await gateway.post(
        "/v1/webhooks/flexport",
        data=orjson.dumps(payload),
        headers={WEBHOOK_HEADER: FLEXPORT_WEBHOOK_SECRET},
    )
    assert resp.status == 200
    assert await read_json(resp) == {"received": 0, "new": 0}


# cancel ---------------------------------------------------------------------------------------
async def test_cancel_where_the_api_allows_it_and_conflict_after(
    gateway: TestClient[Any, Any], flexport: FlexportHandle
) -> None:
    adapter = _adapter(gateway)
    _s, early = await _submit(gateway, gb_order("CX-1"))
    _s, picking = await _submit(gateway, gb_order("CX-2"))
    _s, booked = await _submit(gateway, b2b_order("CX-3"))
    _s, started = await _submit(gateway, b2b_order("CX-4"))
    await flexport.sandbox.advance(picking["provider_order_id"], "PICKING")
    await flexport.sandbox.advance(booked["provider_order_id"], "BOOKED")
    await flexport.sandbox.advance(started["provider_order_id"], "IN_PROGRESS")

    d2c = await adapter.cancel(await _stored_ref(gateway, early["id"]))
    b2b = await adapter.cancel(await _stored_ref(gateway, booked["id"]))
    assert (d2c.status.value, d2c.raw_status) == ("cancelled", "CANCELLED")
    assert (b2b.status.value, b2b.raw_status) == ("cancelled", "CANCELLED")
    with pytest.raises(Conflict, match="fulfillment has started") as refused:
        await adapter.cancel(await _stored_ref(gateway, picking["id"]))
    assert refused.value.code == "407001"  # Flexport's six-digit code, kept
    assert refused.value.correlation_id
    with pytest.raises(Conflict, match="only PLANNED or BOOKED"):
        await adapter.cancel(await _stored_ref(gateway, started["id"]))
    again = await adapter.cancel(await _stored_ref(gateway, early["id"]))  # idempotent
    assert again.status.value == "cancelled"
    cancels = [r for r in flexport.sandbox.requests if r.op in ("cancel", "b2b_cancel")]
    assert cancels[0].headers["idempotency-key"] == f"{early['provider_order_id']}:cancel"


async def test_no_webhook_secret_means_no_webhook_endpoint(make_gateway: Any) -> None:
    gateway = await make_gateway(providers__flexport__webhook_secret_env=None)
    resp = await gateway.post("/v1/webhooks/flexport", data=b"{}")
    assert resp.status == 404
