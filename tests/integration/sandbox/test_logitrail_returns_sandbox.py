"""The Logitrail sandbox's order returns service seen from outside (docs/providers/logitrail.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from gateway.sandbox.logitrail import LogitrailSandbox, SandboxClient
from tests.integration.sandbox.test_logitrail_sandbox import (
    MERCHANT,
    FakeClock,
    api_headers,
    create,
    get_token,
)

RETURNS = "order_returns:read order_returns:manage"
CLIENT = SandboxClient(
    "gateway",
    "s3cret",
    frozenset({"orders:read", "orders:manage", "order_returns:read", "order_returns:manage"}),
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sandbox(clock: FakeClock) -> LogitrailSandbox:
    return LogitrailSandbox(clients=[CLIENT], merchant_id=MERCHANT, clock=clock, seed=3)


@pytest.fixture
async def http(sandbox: LogitrailSandbox) -> AsyncIterator[aiohttp.ClientSession]:
    async with (
        TestServer(sandbox.app) as server,
        aiohttp.ClientSession(base_url=server.make_url("")) as session,
    ):
        yield session


@pytest.fixture
async def orders_h(http: aiohttp.ClientSession) -> dict[str, str]:
    return api_headers(await get_token(http, CLIENT, "orders:read orders:manage"))


@pytest.fixture
async def h(http: aiohttp.ClientSession) -> dict[str, str]:
    return api_headers(await get_token(http, CLIENT, RETURNS))


async def new_return(
    http: aiohttp.ClientSession, h: dict[str, str], **fields: Any
) -> dict[str, Any]:
    resp = await http.post("/order-returns", json={"order_return": fields}, headers=h)
    assert resp.status == 201, await resp.text()
    body: dict[str, Any] = (await resp.json())["order_return"]
    return body


async def listed(http: aiohttp.ClientSession, h: dict[str, str], query: str) -> tuple[int, Any]:
    resp = await http.get(f"/order-returns?{query}", headers=h)
    return resp.status, await resp.json()


async def test_create_copies_items_from_the_original_order_when_omitted(
    http: aiohttp.ClientSession, h: dict[str, str], orders_h: dict[str, str]
) -> None:
    order_id = await create(http, orders_h)

    copied = await new_return(http, h, original_order={"id": order_id})
    empty = await new_return(http, h, original_order={"id": order_id}, items=[])
    skeleton = await new_return(http, h)

    assert copied["status"] == "preinfo_received"
    assert copied["type"] == "customer_return"
    assert [(i["product"]["sku"], i["quantity"]) for i in copied["items"]] == [("SKU-1", 2)]
    assert empty["items"] == []
    assert skeleton["items"] == []
    assert skeleton["original_order"] is None


async def test_order_get_shows_items_with_product_ids_that_returns_accept(
    http: aiohttp.ClientSession, h: dict[str, str], orders_h: dict[str, str]
) -> None:
    order_id = await create(http, orders_h)
    order = (await (await http.get(f"/orders/{order_id}", headers=orders_h)).json())["order"]
    product = order["items"][0]["product"]

    ret = await new_return(
        http, h, items=[{"product": {"id": product["id"]}, "quantity": 1}], type="agent_return"
    )

    assert product["sku"] == "SKU-1"
    assert ret["items"][0]["product"] == {"id": product["id"], "sku": "SKU-1"}
    assert ret["type"] == "agent_return"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"type": "courier_return"}, "type.invalid"),
        ({"original_order": {"id": "nope"}}, "original_order.id.invalid"),
        ({"original_order": {"id": "0" * 24}}, "original_order.not_found"),
        ({"items": [{"product": {"id": "0" * 24}, "quantity": 1}]}, "items.product.not_found"),
        ({"items": "all"}, "items.invalid"),
        ({"remarks": 7}, "remarks.invalid"),
    ],
)
async def test_create_refuses_invalid_bodies(
    http: aiohttp.ClientSession, h: dict[str, str], body: dict[str, Any], code: str
) -> None:
    resp = await http.post("/order-returns", json={"order_return": body}, headers=h)
    assert resp.status == 400
    assert (await resp.json())["code"] == code


async def test_returns_need_the_returns_scopes(
    http: aiohttp.ClientSession, orders_h: dict[str, str]
) -> None:
    resp = await http.post("/order-returns", json={"order_return": {}}, headers=orders_h)
    assert resp.status == 403
    assert (await resp.json())["code"] == "access_denied"


async def test_list_is_newest_first_with_and_filters_q_and_offset_limit(
    http: aiohttp.ClientSession,
    h: dict[str, str],
    orders_h: dict[str, str],
    sandbox: LogitrailSandbox,
    clock: FakeClock,
) -> None:
    order_id = await create(http, orders_h)
    made = []
    for n, kind in enumerate(["customer_return", "agent_return", "customer_return"]):
        clock.now += 1
        made.append(
            await new_return(
                http,
                h,
                name=f"ret_{n}",
                merchant_reference=f"RMA-{n}",
                type=kind,
                original_order={"id": order_id} if n else None,
            )
        )
    sandbox.advance_return(made[2]["id"], "processing")

    status, everything = await listed(http, h, "")
    _, page = await listed(http, h, "offset=1&limit=1")
    _, multi = await listed(http, h, "status=processing,preinfo_received&type=customer_return")
    _, repeated = await listed(http, h, "status=processing&status=pending")
    _, by_order = await listed(http, h, f"original_order_id={order_id}&type=agent_return")
    _, by_ref = await listed(http, h, "q=rma-1")
    _, by_id = await listed(http, h, f"q={made[0]['id']}")

    assert status == 200
    assert [r["id"] for r in everything["order_returns"]] == [m["id"] for m in reversed(made)]
    assert everything["total"] == 3
    assert "items" not in everything["order_returns"][0]
    assert "services" not in everything["order_returns"][0]
    assert [r["id"] for r in page["order_returns"]] == [made[1]["id"]]
    assert page["total"] == 3
    assert [r["id"] for r in multi["order_returns"]] == [made[2]["id"], made[0]["id"]]
    assert [r["id"] for r in repeated["order_returns"]] == [made[2]["id"]]
    assert [r["id"] for r in by_order["order_returns"]] == [made[1]["id"]]
    assert [r["id"] for r in by_ref["order_returns"]] == [made[1]["id"]]
    assert [r["id"] for r in by_id["order_returns"]] == [made[0]["id"]]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("q=x", "q.invalid"),
        ("status=lost", "status.invalid"),
        ("type=courier", "type.invalid"),
        ("original_order_id=abc", "original_order_id.invalid"),
        ("limit=501", "limit.invalid"),
        ("offset=-1", "offset.invalid"),
    ],
)
async def test_list_refuses_invalid_queries(
    http: aiohttp.ClientSession, h: dict[str, str], query: str, code: str
) -> None:
    status, body = await listed(http, h, query)
    assert status == 400
    assert body["code"] == code


async def test_cancel_rules(
    http: aiohttp.ClientSession, h: dict[str, str], sandbox: LogitrailSandbox
) -> None:
    ok = await new_return(http, h)
    late = await new_return(http, h)
    busy = await new_return(http, h)
    pending = await new_return(http, h)
    sandbox.advance_return(late["id"], "accepted")
    sandbox.set_inbound(busy["id"], "processing")
    sandbox.advance_return(pending["id"], "pending")
    sandbox.set_inbound(pending["id"], "pending")

    resp = await http.post(f"/order-returns/{ok['id']}/cancel", headers=h)
    assert resp.status == 200
    assert (await resp.json())["order_return"]["status"] == "deleted"
    resp = await http.post(f"/order-returns/{late['id']}/cancel", headers=h)
    assert resp.status == 409
    assert (await resp.json())["code"] == "order_return_not_cancellable"
    resp = await http.post(f"/order-returns/{busy['id']}/cancel", headers=h)
    assert resp.status == 409
    assert (await resp.json())["code"] == "inbound_shipment_already_processing"
    assert sandbox.returns[busy["id"]].status == "preinfo_received"
    resp = await http.post(f"/order-returns/{pending['id']}/cancel", headers=h)
    cancelled = (await resp.json())["order_return"]
    assert cancelled["status"] == "deleted"
    assert cancelled["inbound_shipment"]["status"] == "cancelled"
    resp = await http.post(f"/order-returns/{'0' * 24}/cancel", headers=h)
    assert resp.status == 404


async def test_decision_rules(
    http: aiohttp.ClientSession, h: dict[str, str], sandbox: LogitrailSandbox
) -> None:
    early = await new_return(http, h)
    arrived = await new_return(http, h)
    done = await new_return(http, h)
    sandbox.advance_return(arrived["id"], "pending_merchant_decision")
    sandbox.advance_return(done["id"], "processed")

    def decide(ret: dict[str, Any], code: Any) -> Any:
        return http.post(
            f"/order-returns/{ret['id']}/merchant-decision",
            json={"merchant_decision": {"code": code}},
            headers=h,
        )

    resp = await decide(early, "to_shelf")
    body = (await resp.json())["order_return"]
    assert resp.status == 200
    assert body["status"] == "preinfo_received"
    assert body["merchant_decision"] == {"code": "to_shelf"}
    assert body["inbound_shipment"]["status"] == "pending"
    resp = await decide(arrived, "destroy")
    assert (await resp.json())["order_return"]["status"] == "processing"
    resp = await decide(done, "reject")
    assert resp.status == 409
    assert (await resp.json())["code"] == "order_return_decision_not_allowed"
    resp = await decide(early, "burn")
    assert resp.status == 400
    assert (await resp.json())["code"] == "merchant_decision.code.invalid"
