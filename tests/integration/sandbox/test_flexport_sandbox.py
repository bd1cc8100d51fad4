"""The Flexport sandbox seen from outside, over real sockets (docs/providers/flexport.md)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.sandbox.flexport import Fault, FlexportSandbox
from gateway.sandbox.flexport.state import Stored

TOKEN = "fx-token"
READ_ONLY = "fx-read-only"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
API = "/logistics/api/2026-02"
T0 = 1_796_000_000.0  # 2026-11-30 (a Monday)


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@dataclass
class Running:
    sandbox: FlexportSandbox
    http: aiohttp.ClientSession
    base: str
    clock: FakeClock

    async def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:
        async with self.http.request(
            method, self.base + path, json=body, headers={**AUTH, **(headers or {})}
        ) as r:
            return r.status, await r.json(content_type=None), r.headers


@pytest.fixture
async def fx() -> AsyncIterator[Running]:
    clock = FakeClock()
    sandbox = FlexportSandbox(
        tokens={TOKEN: None, READ_ONLY: frozenset({"read_logistics_orders"})},
        webhook_token="hook-secret",
        clock=clock,
        idempotency_ttl_s=60,
    )
    sandbox.add_product("TSHIRT-M", logistics_sku="DSKU6DW2B4Q")
    sandbox.add_product("MUG", logistics_sku="DSKU9MUG001")
    server = TestServer(sandbox.app)
    await server.start_server()
    async with aiohttp.ClientSession() as http:
        try:
            yield Running(sandbox, http, str(server.make_url("")).rstrip("/"), clock)
        finally:
            sandbox.release()
            await server.close()


def d2c(external: str = "SO-1", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "externalOrderId": external,
        "address": {
            "name": "Ada L",
            "address1": "1 Main St",
            "city": "Austin",
            "countryCode": "US",
            "provinceCode": "TX",
            "zip": "73301",
        },
        "lineItems": [{"logisticsSku": "DSKU6DW2B4Q", "quantity": 2}],
    }
    return body | changes


def b2b(external: str = "PO-1", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "B2B",
        "externalId": external,
        "shipToAddress": {
            "name": "DC 7",
            "street1": "1 Way",
            "city": "Reno",
            "zip": "89502",
            "state": "NV",
            "country": "US",
        },
        "orderItems": [{"logisticsSku": "DSKU9MUG001", "quantity": 12, "quantityUOM": "EACH"}],
        "transportationDetails": {"shippingPartner": "FLEXPORT", "shippingType": "PARCEL"},
    }
    return body | changes


def names(problem: Any) -> list[str]:
    return [p["name"] for p in problem.get("invalid-params", [])]


# paths, auth, errors -----------------------------------------------------------------------
async def test_errors_are_problem_json_with_a_correlation_id(fx: Running) -> None:
    async with fx.http.get(fx.base + f"{API}/orders/1", headers=AUTH) as r:
        body = await r.json(content_type=None)
        assert r.status == 404
        assert r.content_type == "application/problem+json"
        uuid.UUID(r.headers["x-correlation-id"])
    assert body["title"] == "Not Found"
    assert body["detail"] == "Cannot find order 1"
    assert body["type"].startswith("https://docs.logistics-api.flexport.com/2026-02/")
    uuid.UUID(body["instance"])


async def test_paths_are_versioned(fx: Running) -> None:
    ok, _b, _h = await fx.call("GET", "/logistics/api/2025-03/warehouses/active")
    bad, problem, _h = await fx.call("GET", "/logistics/api/2099-01/warehouses/active")
    unversioned, _b, _h = await fx.call("GET", "/orders/1")
    assert ok == 200
    assert (bad, unversioned) == (400, 400)  # "Non-existent URL path used" is a 400
    assert "2099-01" in problem["detail"]


async def test_token_and_scopes(fx: Running) -> None:
    missing, _b, _h = await fx.call(
        "GET", f"{API}/warehouses/active", headers={"Authorization": ""}
    )
    wrong, _b, _h = await fx.call(
        "GET", f"{API}/warehouses/active", headers={"Authorization": "Bearer x"}
    )
    ro = {"Authorization": f"Bearer {READ_ONLY}"}
    write, problem, _h = await fx.call("POST", f"{API}/orders", d2c(), headers=ro)
    other, _b, _h = await fx.call("GET", f"{API}/orders/rs/1", headers=ro)
    read, _b, _h = await fx.call("GET", f"{API}/orders/1", headers=ro)

    assert (missing, wrong) == (401, 401)
    assert write == 403
    assert "write_logistics_orders" in problem["detail"]
    assert other == 403
    assert read == 404  # allowed, just not there


async def test_revoked_token_and_locked_account(fx: Running) -> None:
    fx.sandbox.lock()
    locked, problem, _h = await fx.call("GET", f"{API}/warehouses/active")
    fx.sandbox.lock(False)
    fx.sandbox.revoke_token(TOKEN)
    revoked, _b, _h = await fx.call("GET", f"{API}/warehouses/active")
    assert (locked, problem["title"]) == (423, "Locked")
    assert revoked == 401


# idempotency -------------------------------------------------------------------------------
async def test_same_key_same_body_replays_the_stored_answer(fx: Running) -> None:
    key = {"idempotency-key": "ord_1:create"}
    first, a, h1 = await fx.call("POST", f"{API}/orders", d2c(), headers=key)
    second, b, h2 = await fx.call("POST", f"{API}/orders", d2c(), headers=key)

    assert (first, second) == (201, 201)
    assert a == b
    assert "idempotent-replayed" not in h1
    assert h2["idempotent-replayed"] == "true"
    assert len(fx.sandbox.d2c) == 1
    assert fx.sandbox.state.replayed == ["ord_1:create"]


async def test_same_key_other_body_is_422_and_no_key_duplicate_is_409(fx: Running) -> None:
    key = {"idempotency-key": "k1"}
    await fx.call("POST", f"{API}/orders", d2c(), headers=key)
    changed, problem, _h = await fx.call(
        "POST", f"{API}/orders", d2c(externalOrderId="SO-2"), headers=key
    )
    dup, _b, _h = await fx.call("POST", f"{API}/orders", d2c())
    assert changed == 422
    assert "different request" in problem["detail"]
    assert dup == 409


async def test_a_key_still_running_is_409_and_an_expired_key_is_forgotten(fx: Running) -> None:
    fx.sandbox.state.keys[(TOKEN, "busy")] = Stored("x", T0 + 60)
    busy, _b, _h = await fx.call(
        "POST", f"{API}/orders", d2c(), headers={"idempotency-key": "busy"}
    )
    assert busy == 409

    key = {"idempotency-key": "k2"}
    await fx.call("POST", f"{API}/orders", d2c("SO-9"), headers=key)
    fx.clock.now += 61
    again, _b, _h = await fx.call("POST", f"{API}/orders", d2c("SO-9"), headers=key)
    assert again == 409  # performed again: the externalOrderId exists


async def test_the_answer_lost_after_the_create_is_replayed_to_the_retry(fx: Running) -> None:
    fx.sandbox.inject(Fault(op="create", after=True, status=503))
    key = {"idempotency-key": "k3"}
    lost, _b, _h = await fx.call("POST", f"{API}/orders", d2c(), headers=key)
    retried, body, headers = await fx.call("POST", f"{API}/orders", d2c(), headers=key)
    assert (lost, retried) == (503, 201)
    assert headers["idempotent-replayed"] == "true"
    assert len(fx.sandbox.d2c) == 1
    assert body["id"] in fx.sandbox.d2c


async def test_a_5xx_is_not_stored_under_the_key(fx: Running) -> None:
    fx.sandbox.inject(Fault(op="create", status=429, retry_after="3"))
    key = {"idempotency-key": "k4"}
    async with fx.http.post(fx.base + f"{API}/orders", json=d2c(), headers={**AUTH, **key}) as r:
        assert (r.status, r.headers["Retry-After"]) == (429, "3")
        assert r.content_type == "application/problem+json"
    created, _b, _h = await fx.call("POST", f"{API}/orders", d2c(), headers=key)
    assert created == 201


# D2C orders ----------------------------------------------------------------------------------
async def test_d2c_validation_names_every_field(fx: Running) -> None:
    body = d2c(lineItems=[{"logisticsSku": "DSKU6DW2B4Q"}])
    del body["address"]["city"]
    bad, problem, _h = await fx.call("POST", f"{API}/orders", body)
    unknown, p2, _h = await fx.call(
        "POST", f"{API}/orders", d2c(lineItems=[{"logisticsSku": "NOPE", "quantity": 1}])
    )
    assert bad == 400
    assert names(problem) == ["address.city", "lineItems[0].quantity"]
    assert unknown == 422
    assert names(p2) == ["lineItems[0].logisticsSku"]


async def test_d2c_lifecycle_lookup_and_cancel(fx: Running) -> None:
    _s, one, _h = await fx.call("POST", f"{API}/orders", d2c("A"))
    _s, two, _h = await fx.call("POST", f"{API}/orders", d2c("B"))
    status, found, _h = await fx.call("GET", f"{API}/orders/external_id/A")
    assert (status, found["id"]) == (200, one["id"])
    assert found["state"] == {
        "internalStatus": "CREATED",
        "fulfillmentStatus": "ROUTING_IN_PROGRESS",
        "fulfillmentInProgress": False,
        "fulfillmentDelayed": False,
    }

    cancelled, body, _h = await fx.call("POST", f"{API}/orders/{one['id']}/cancel")
    await fx.sandbox.advance(two["id"], "PICKING")
    refused, problem, _h = await fx.call("POST", f"{API}/orders/{two['id']}/cancel")
    await fx.sandbox.advance(two["id"], "SHIPPED")
    _s, shipped, _h = await fx.call("GET", f"{API}/orders/{two['id']}")

    assert (cancelled, body["state"]["internalStatus"]) == (200, "CANCELLED")
    assert (refused, problem["code"]) == (400, 407001)
    assert shipped["state"]["internalStatus"] == "SHIPPED"
    assert shipped["shipments"][0]["packages"][0]["label"]["trackingCode"].startswith("1Z")


# B2B outbounds -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"type": "EDI"}, 422, "type"),
        (
            {
                "orderItems": [
                    {"logisticsSku": "DSKU9MUG001", "quantity": 1, "quantityUOM": "EACH"}
                ]
                * 2
            },
            422,
            "orderItems[1]",
        ),
        (
            {
                "orderItems": [
                    {
                        "productData": {"sku": "MUG", "gtin": "0001234"},
                        "quantity": 1,
                        "quantityUOM": "EACH",
                    }
                ]
            },
            400,
            "orderItems[0].productData.gtin",
        ),
        (
            {"orderItems": [{"quantity": 1, "quantityUOM": "EACH"}]},
            400,
            "orderItems[0].productData.sku",
        ),
        (
            {
                "orderItems": [
                    {"logisticsSku": f"S{i}", "quantity": 1, "quantityUOM": "EACH"}
                    for i in range(1001)
                ]
            },
            422,
            "orderItems",
        ),
        ({"shipBy": "2026-12-02T00:00:00Z"}, 422, "shipBy"),
        (
            {
                "transportationDetails": {
                    "shippingPartner": "FLEXPORT",
                    "shippingType": "LTL",
                    "shippingSpeed": "TWO_DAY",
                }
            },
            422,
            "transportationDetails.shippingSpeed",
        ),
        (
            {"transportationDetails": {"shippingPartner": "RECEIVER", "shippingType": "PARCEL"}},
            422,
            "transportationDetails.carrierAccountDetails",
        ),
        (
            {
                "shipToAddress": {
                    "name": "x",
                    "street1": "y",
                    "city": "z",
                    "zip": "1",
                    "country": "US",
                }
            },
            400,
            "shipToAddress.state",
        ),
    ],
)
async def test_b2b_rules(fx: Running, change: dict[str, Any], status: int, field: str) -> None:
    got, problem, _h = await fx.call("POST", f"{API}/orders/rs", b2b(**change))
    assert got == status
    assert field in names(problem)


async def test_b2b_accepts_product_data_and_a_ship_by_three_business_days_out(fx: Running) -> None:
    item = {
        "productData": {"sku": "MUG", "gtin": 12345678905},
        "quantity": 2,
        "quantityUOM": "CASE",
    }
    status, body, _h = await fx.call(
        "POST", f"{API}/orders/rs", b2b(orderItems=[item], shipBy="2026-12-03T15:00:00Z")
    )
    assert (status, body["orderStatus"], body["type"]) == (201, "PLANNED", "B2B")


async def test_b2b_duplicate_external_id_or_unknown_product_ends_in_error(fx: Running) -> None:
    await fx.call("POST", f"{API}/orders/rs", b2b("PO-7"))
    _s, dup, _h = await fx.call("POST", f"{API}/orders/rs", b2b("PO-7"))
    item = {"productData": {"sku": "GHOST"}, "quantity": 1, "quantityUOM": "EACH"}
    _s, ghost, _h = await fx.call("POST", f"{API}/orders/rs", b2b("PO-8", orderItems=[item]))
    assert dup["orderStatus"] == "ERROR"
    assert "Duplicate externalId" in dup["errorReason"]
    assert ghost["orderStatus"] == "ERROR"


async def test_b2b_lifecycle_lookup_and_cancel(fx: Running) -> None:
    _s, one, _h = await fx.call("POST", f"{API}/orders/rs", b2b("PO-1"))
    _s, two, _h = await fx.call("POST", f"{API}/orders/rs", b2b("PO-2"))
    status, found, _h = await fx.call("GET", f"{API}/orders/rs/external_id/PO-2")
    d2c_view, _b, _h = await fx.call("GET", f"{API}/orders/{one['orderId']}")
    assert (status, found["orderId"]) == (200, two["orderId"])
    assert d2c_view == 404  # the D2C API does not know outbounds

    await fx.sandbox.advance(one["orderId"], "BOOKED")
    await fx.sandbox.advance(two["orderId"], "IN_PROGRESS")
    cancelled, body, _h = await fx.call("POST", f"{API}/orders/rs/{one['orderId']}/cancel")
    refused, problem, _h = await fx.call("POST", f"{API}/orders/rs/{two['orderId']}/cancel")
    await fx.sandbox.advance(two["orderId"], "TENDERED")
    _s, tendered, _h = await fx.call("GET", f"{API}/orders/rs/{two['orderId']}")

    assert (cancelled, body["orderStatus"]) == (200, "CANCELLED")
    assert refused == 400
    assert "only PLANNED or BOOKED" in problem["detail"]
    assert tendered["shipments"][0]["status"] == "SHIPPED"
    assert tendered["shipments"][0]["trackingCode"]


# products ------------------------------------------------------------------------------------
async def test_products_are_paged_by_limit_and_offset(fx: Running) -> None:
    _s, first, _h = await fx.call("GET", f"{API}/products?limit=1&offset=0")
    _s, second, _h = await fx.call("GET", f"{API}/products?limit=1&offset=1")
    _s, past, _h = await fx.call("GET", f"{API}/products?limit=1&offset=2")
    too_many, _b, _h = await fx.call("GET", f"{API}/products?limit=101")
    assert [p["merchantSku"] for p in first + second] == ["TSHIRT-M", "MUG"]
    assert past == []
    assert too_many == 400


# inventory (docs/providers/flexport.md, "Stock") -------------------------------------------
async def test_all_inventory_pages_each_products_default_pool_until_an_empty_page(
    fx: Running,
) -> None:
    fx.sandbox.set_stock("TSHIRT-M", "ATL1", 7)
    fx.sandbox.set_stock("DSKU6DW2B4Q", "LAX2", 5)  # by logisticsSku as well
    fx.sandbox.set_stock("MUG", "RNO1", 2)
    q = "poolName=DEFAULT&limit=1"
    _s, first, _h = await fx.call("GET", f"{API}/products/inventory/all?{q}&offset=0")
    _s, second, _h = await fx.call("GET", f"{API}/products/inventory/all?{q}&offset=1")
    _s, past, _h = await fx.call("GET", f"{API}/products/inventory/all?{q}&offset=2")
    _s, storage, _h = await fx.call("GET", f"{API}/products/inventory/all?poolName=STORAGE")
    bad_pool, _b, _h = await fx.call("GET", f"{API}/products/inventory/all?poolName=NOPE")
    bad_limit, _b, _h = await fx.call("GET", f"{API}/products/inventory/all?limit=101")

    assert [(r["logisticsSku"], r["available"], r["onHand"]) for r in first + second] == [
        ("DSKU6DW2B4Q", 12, 12),
        ("DSKU9MUG001", 2, 2),
    ]
    assert past == []
    assert [r["available"] for r in storage] == [0, 0]
    assert (bad_pool, bad_limit) == (400, 400)


async def test_warehouse_details_give_each_products_units_per_warehouse(fx: Running) -> None:
    fx.sandbox.set_stock("TSHIRT-M", "ATL1", 7)
    fx.sandbox.set_stock("TSHIRT-M", "RNO1", 0)
    body = {"logisticsSKUs": ["DSKU6DW2B4Q", "DSKU9MUG001", "DSKUNOSUCH"]}
    status, rows, _h = await fx.call("POST", f"{API}/products/warehouse?poolName=DEFAULT", body)
    misspelt, problem, _h = await fx.call(
        "POST", f"{API}/products/warehouse", {"logisticsSkus": ["DSKU6DW2B4Q"]}
    )
    too_many, _b, _h = await fx.call(
        "POST", f"{API}/products/warehouse", {"logisticsSKUs": [f"S{i}" for i in range(101)]}
    )

    assert status == 200
    assert rows == [
        {
            "logisticsSku": "DSKU6DW2B4Q",
            "warehouseDetails": [
                {"warehouseId": "ATL1", "available": 7},
                {"warehouseId": "RNO1", "available": 0},
            ],
        },
        {"logisticsSku": "DSKU9MUG001", "warehouseDetails": []},
    ]
    assert (misspelt, names(problem)) == (400, ["logisticsSKUs"])
    assert too_many == 400


async def test_inventory_needs_the_products_scope_and_reading_is_enough(fx: Running) -> None:
    fx.sandbox.set_scopes(READ_ONLY, frozenset({"read_logistics_products"}))
    body = {"logisticsSKUs": ["DSKU6DW2B4Q"]}
    read = {"Authorization": f"Bearer {READ_ONLY}"}
    by_post, _b, _h = await fx.call("POST", f"{API}/products/warehouse", body, read)
    by_get, _b, _h = await fx.call("GET", f"{API}/products/inventory/all", headers=read)
    fx.sandbox.set_scopes(READ_ONLY, frozenset({"read_logistics_orders"}))
    refused, _b, _h = await fx.call("POST", f"{API}/products/warehouse", body, read)
    assert (by_post, by_get, refused) == (200, 200, 403)


def test_stock_is_set_only_for_known_products_and_warehouses() -> None:
    sandbox = FlexportSandbox(tokens={TOKEN: None})
    sandbox.add_product("MUG", logistics_sku="DSKU9MUG001", stock={"ATL1": 3})
    with pytest.raises(ValueError, match="unknown warehouse"):
        sandbox.add_product("LAMP", logistics_sku="DSKULAMP1", stock={"XXX9": 3})
    with pytest.raises(KeyError):
        sandbox.set_stock("NOSUCH", "ATL1", 1)
    with pytest.raises(ValueError, match="units"):
        sandbox.set_stock("MUG", "ATL1", -1)
    assert sandbox.state.stock == {"DSKU9MUG001": {"ATL1": 3}}
    assert "DSKULAMP1" not in sandbox.state.products


# webhooks ------------------------------------------------------------------------------------
@dataclass
class Receiver:
    url: str
    bodies: list[dict[str, Any]]
    headers: list[dict[str, str]]
    fail_first: list[int]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    got = Receiver("", [], [], [])

    async def hook(request: web.Request) -> web.Response:
        if got.fail_first:
            return web.Response(status=got.fail_first.pop(0))
        got.bodies.append(orjson.loads(await request.read()))
        got.headers.append(dict(request.headers))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    server = TestServer(app)
    await server.start_server()
    got.url = str(server.make_url("/hook"))
    try:
        yield got
    finally:
        await server.close()


async def test_webhooks_carry_ids_only_with_the_token_in_order_and_are_retried(
    fx: Running, receiver: Receiver
) -> None:
    fx.sandbox.webhook_url = receiver.url
    fx.sandbox.webhook_retry_delays_s = (0.01, 0.01)
    receiver.fail_first = [500]
    _s, order, _h = await fx.call("POST", f"{API}/orders", d2c("W-1"))
    await fx.sandbox.advance(order["id"], "PICKING")
    await fx.sandbox.advance(order["id"], "SHIPPED")
    await fx.sandbox.drain_webhooks()

    types = [b["logisticsEventType"] for b in receiver.bodies]
    assert types == [
        "Order.Submitted",
        "Order.PickingStarted",
        "Order.Dispatched",
        "Order.Shipped",
        "Shipment.Shipped",
    ]
    first = receiver.bodies[0]
    assert set(first) == {
        "logisticsAccountId",
        "logisticsEventId",
        "logisticsEventType",
        "logisticsEventTime",
        "orderId",
        "externalOrderId",
    }
    assert (first["orderId"], first["externalOrderId"]) == (order["id"], "W-1")
    assert "id" in receiver.bodies[-1]  # the shipment's id
    assert all(h["X-Flexport-Webhook-Token"] == "hook-secret" for h in receiver.headers)
    assert [d.status for d in fx.sandbox.deliveries][:2] == [500, 200]

    assert await fx.sandbox.redeliver(first["logisticsEventId"]) == 200
    assert receiver.bodies[-1] == first


async def test_autopilot_walks_each_kind_to_the_end(receiver: Receiver) -> None:
    sandbox = FlexportSandbox(tokens={TOKEN: None}, webhook_url=receiver.url, autopilot_s=0.01)
    sandbox.add_product("MUG", logistics_sku="DSKU9MUG001")
    server = TestServer(sandbox.app)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            base = str(server.make_url("")).rstrip("/")
            for path, body in (
                (f"{API}/orders", d2c(lineItems=[{"logisticsSku": "DSKU9MUG001", "quantity": 1}])),
                (f"{API}/orders/rs", b2b()),
            ):
                async with http.post(base + path, json=body, headers=AUTH) as r:
                    assert r.status == 201
        for _ in range(200):
            if [o.status for o in (*sandbox.d2c.values(), *sandbox.b2b.values())] == [
                "DELIVERED",
                "COMPLETED",
            ]:
                break
            await asyncio.sleep(0.01)
        assert [o.status for o in (*sandbox.d2c.values(), *sandbox.b2b.values())] == [
            "DELIVERED",
            "COMPLETED",
        ]
    finally:
        await server.close()


# control API ---------------------------------------------------------------------------------
async def test_control_api_for_processes_that_cannot_call_python(fx: Running) -> None:
    async with fx.http.post(
        fx.base + "/_control/products", json={"merchantSku": "LAMP", "logisticsSku": "DSKULAMP1"}
    ) as r:
        assert r.status == 201
    async with fx.http.post(
        fx.base + "/_control/stock", json={"sku": "LAMP", "warehouseId": "LAX2", "units": 4}
    ) as r:
        stocked = await r.json()
    refused = []
    for bad in (
        {"sku": "LAMP", "warehouseId": "XXX9", "units": 4},
        {"sku": "NOSUCH", "warehouseId": "LAX2", "units": 4},
        {"sku": "LAMP", "warehouseId": "LAX2", "units": "4"},
    ):
        async with fx.http.post(fx.base + "/_control/stock", json=bad) as r:
            refused.append((r.status, (await r.json())["code"]))
    _s, order, _h = await fx.call("POST", f"{API}/orders/rs", b2b())
    async with fx.http.post(
        fx.base + f"/_control/orders/{order['orderId']}/status", json={"status": "BOOKED"}
    ) as r:
        assert (r.status, (await r.json())["orderStatus"]) == (200, "BOOKED")
    async with fx.http.post(
        fx.base + f"/_control/orders/{order['orderId']}/status", json={"status": "NOPE"}
    ) as r:
        assert r.status == 400
    async with fx.http.post(fx.base + "/_control/lock", json={"locked": True}) as r:
        assert r.status == 200
    locked, _b, _h = await fx.call("GET", f"{API}/products")
    async with fx.http.post(fx.base + "/_control/lock", json={"locked": False}) as r:
        assert r.status == 200
    async with fx.http.post(fx.base + "/_control/tokens/revoke", json={"token": TOKEN}) as r:
        assert r.status == 200
    revoked, _b, _h = await fx.call("GET", f"{API}/products")
    async with fx.http.get(fx.base + "/_control/requests?op=b2b_create") as r:
        [recorded] = await r.json()

    assert (locked, revoked) == (423, 401)
    assert "DSKULAMP1" in fx.sandbox.state.products
    assert stocked == {"logisticsSku": "DSKULAMP1", "warehouses": {"LAX2": 4}}
    assert refused == [(400, "invalid_stock"), (404, "not_found"), (400, "invalid_stock")]
    assert recorded["headers"]["authorization"] == "Bearer <redacted>"
    assert recorded["path"] == f"{API}/orders/rs"


# returns (docs/providers/flexport.md#returns) ----------------------------------------------


def ret(external: str = "ret_1", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "rma": "RMA-1",
        "externalReturnId": external,
        "returnItems": [{"identifier": "TSHIRT-M", "type": "SKU", "quantity": 1}],
        "sourceAddress": {"name": "Ada L", "address1": "1 Main St", "city": "Austin"},
    }
    return body | changes


async def test_returns_need_the_accounts_approval(fx: Running) -> None:
    status, problem, _h = await fx.call("POST", f"{API}/returns", ret())
    assert status == 403
    assert "support ticket" in problem["detail"]
    fx.sandbox.approve_returns()
    status, _body, _h = await fx.call("POST", f"{API}/returns", ret())
    assert status == 201


async def test_create_validation_names_every_field(fx: Running) -> None:
    fx.sandbox.approve_returns()
    bad = ret(rma=None, returnItems=[{"identifier": "TSHIRT-M", "type": "EAN", "quantity": 0}])
    del bad["sourceAddress"]
    status, problem, _h = await fx.call("POST", f"{API}/returns", bad)
    assert status == 400
    assert sorted(names(problem)) == [
        "returnItems[0].type",
        "rma",
        "sourceAddress",
    ]
    status, problem, _h = await fx.call(
        "POST",
        f"{API}/returns",
        ret(returnItems=[{"identifier": "NOPE", "type": "SKU", "quantity": 1}]),
    )
    assert status == 422
    assert names(problem) == ["returnItems[0].identifier"]
    labelled = ret(externalLabel={"trackingCode": "1Z", "carrier": "UPS"})
    del labelled["sourceAddress"]
    status, _body, _h = await fx.call("POST", f"{API}/returns", labelled)
    assert status == 201


async def test_lookup_by_external_return_id_duplicates_and_cancel(fx: Running) -> None:
    fx.sandbox.approve_returns()
    _s, first, _h = await fx.call("POST", f"{API}/returns", ret("ret_A"))
    _s, second, _h = await fx.call(
        "POST",
        f"{API}/returns",
        ret(
            "ret_B",
            returnItems=[{"identifier": "DSKU9MUG001", "type": "LOGISTICS_SKU", "quantity": 2}],
        ),
    )
    status, _p, _h = await fx.call("POST", f"{API}/returns", ret("ret_A"))
    assert status == 409

    _s, found, _h = await fx.call("GET", f"{API}/returns?externalReturnId=ret_B")
    assert [r["id"] for r in found] == [second["id"]]
    assert found[0]["returnItems"][0]["expectedQuantity"] == 2
    assert first["status"] == "CREATED"
    assert first["shippingLabel"]["trackingCode"]

    fx.sandbox.advance_return(second["id"], "RECEIVED_FOR_PROCESSING")
    status, cancelled, _h = await fx.call("POST", f"{API}/returns/{first['id']}/cancel")
    assert (status, cancelled["status"]) == (200, "CANCELLED")
    status, again, _h = await fx.call("POST", f"{API}/returns/{first['id']}/cancel")
    assert (status, again["status"]) == (200, "CANCELLED")
    status, refused, _h = await fx.call("POST", f"{API}/returns/{second['id']}/cancel")
    assert status == 409
    assert "received" in refused["detail"]
    status, _p, _h = await fx.call("GET", f"{API}/returns/999")
    assert status == 404
