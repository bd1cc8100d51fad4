"""What of an order may come back (issue 17): only orders that have shipped, and never more of
a SKU than was ordered, counting what earlier returns take back — also when two returns race,
on one gateway or on two sharing the database. Every test runs on both stores."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.sandbox.logitrail import Fault
from tests.conftest import SandboxHandle, auth, order, read_json
from tests.integration.shipping import refreshed, ship_at_logitrail

TWO = [{"sku": "TSHIRT-M", "quantity": 2}]
"""The sample order's lines: 2 × TSHIRT-M."""


@pytest.fixture
def gateway_store_url(store_url: str) -> str:
    """Every test of this module on every backend."""
    return store_url


async def submitted(gateway: TestClient[Any, Any], external_id: str, **changes: Any) -> Any:
    body = order(external_id, **changes)
    resp = await gateway.post("/v1/orders", json=body, headers=auth(key=f"o-{external_id}"))
    assert resp.status == 201, await resp.text()
    return await read_json(resp)


async def shipped(gateway: TestClient[Any, Any], logitrail: SandboxHandle, external_id: str) -> Any:
    return await ship_at_logitrail(gateway, logitrail, await submitted(gateway, external_id))


async def returned(
    gateway: TestClient[Any, Any], order_id: str, key: str, lines: Any = None
) -> tuple[int, Any]:
    body: dict[str, Any] = {"order_id": order_id}
    if lines is not None:
        body["lines"] = lines
    resp = await gateway.post("/v1/returns", json=body, headers=auth(key=key))
    return resp.status, await read_json(resp)


def one(quantity: int = 1) -> list[dict[str, Any]]:
    return [{"sku": "TSHIRT-M", "quantity": quantity}]


def creates(logitrail: SandboxHandle) -> int:
    return sum(1 for r in logitrail.sandbox.requests if r.op == "return_create")


# how many ----------------------------------------------------------------------------------


async def test_earlier_returns_count_so_no_sku_comes_back_more_often_than_ordered(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    o = await shipped(gateway, logitrail, "Q-1")

    first_status, first = await returned(gateway, o["id"], "q1-a", one(1))
    status, refused = await returned(gateway, o["id"], "q1-b", one(2))

    assert first_status == 201, first
    assert status == 422, refused
    assert refused["code"] == "validation"
    assert refused["errors"] == [
        {
            "loc": "lines[0].quantity",
            "msg": "2 of 'TSHIRT-M' asked back, 1 remain returnable (2 ordered, 1 taken back"
            " by earlier returns)",
        }
    ]
    assert refused["remaining"] == {"TSHIRT-M": 1}
    assert creates(logitrail) == 1
    # The refusal spent no key: the same key takes the one unit that is left.
    status, second = await returned(gateway, o["id"], "q1-b", one(1))
    assert status == 201, second
    status, nothing = await returned(gateway, o["id"], "q1-c")
    assert status == 422, nothing
    assert [e["loc"] for e in nothing["errors"]] == ["lines"]
    assert nothing["remaining"] == {"TSHIRT-M": 0}
    assert creates(logitrail) == 2


async def test_a_return_without_lines_takes_back_only_what_is_left(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    o = await shipped(gateway, logitrail, "Q-2")
    _, first = await returned(gateway, o["id"], "q2-a", one(1))

    status, rest = await returned(gateway, o["id"], "q2-b")

    assert status == 201, rest
    assert rest["return"]["lines"] == one(1)  # what is left, not the whole order again
    held = logitrail.sandbox.returns[rest["provider_return_id"]]
    assert [(i["product"]["sku"], i["quantity"]) for i in held.items] == [("TSHIRT-M", 1)]
    stored = await read_json(await gateway.get(f"/v1/returns/{rest['id']}", headers=auth()))
    assert stored["return"]["lines"] == one(1)
    assert first["return"]["lines"] == one(1)


async def test_cancelled_and_refused_returns_give_their_units_back(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    o = await shipped(gateway, logitrail, "Q-3")
    _, whole = await returned(gateway, o["id"], "q3-a")
    cancel = await gateway.post(f"/v1/returns/{whole['id']}/cancel", headers=auth())
    assert (await read_json(cancel))["status"] == "cancelled"
    logitrail.sandbox.inject(
        Fault(op="return_create", status=400, body={"code": "x", "message": "not now"})
    )
    refused_status, refused = await returned(gateway, o["id"], "q3-b", one(2))
    assert (refused_status, refused["return"]["status"]) == (422, "rejected")

    status, again = await returned(gateway, o["id"], "q3-c", one(2))

    assert status == 201, again
    assert again["return"]["lines"] == one(2)


# racing ------------------------------------------------------------------------------------


async def test_two_returns_racing_for_the_same_units_register_one(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    orders = [await shipped(gateway, logitrail, f"Q-R{n}") for n in range(4)]

    answers = await asyncio.gather(
        *(
            returned(gateway, o["id"], f"{o['id']}-{side}", lines)
            for o in orders
            # all of it twice, as lines or without: each pair may take the two units once
            for side, lines in (("a", one(2)), ("b", None if o is orders[0] else one(2)))
        )
    )

    for n in range(len(orders)):
        pair = sorted(status for status, _ in answers[2 * n : 2 * n + 2])
        assert pair == [201, 422], answers[2 * n : 2 * n + 2]
    assert creates(logitrail) == len(orders)
    assert len(logitrail.sandbox.returns) == len(orders)


async def test_two_gateways_on_one_database_racing_register_one_return(
    make_gateway: Callable[..., Any], logitrail: SandboxHandle
) -> None:
    first = await make_gateway()
    second = await make_gateway()  # another replica: its own store connections
    o = await shipped(first, logitrail, "Q-G1")

    (a_status, a), (b_status, b) = await asyncio.gather(
        returned(first, o["id"], "g1-a", one(2)), returned(second, o["id"], "g1-b", one(2))
    )

    assert sorted([a_status, b_status]) == [201, 422], (a, b)
    loser = a if a_status == 422 else b
    assert loser["errors"][0]["loc"] == "lines[0].quantity"
    assert len(logitrail.sandbox.returns) == 1


# which orders ------------------------------------------------------------------------------


async def test_an_order_that_has_not_shipped_is_not_returnable(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    fresh = await submitted(gateway, "S-1")
    picking = await submitted(gateway, "S-2")
    logitrail.sandbox.advance(picking["provider_order_id"], "processing")
    assert (await refreshed(gateway, picking["id"]))["status"] == "in_progress"

    for o, status in ((fresh, "submitted"), (picking, "in_progress")):
        code, body = await returned(gateway, o["id"], f"r-{o['id']}")
        assert code == 409, body
        assert body["code"] == "order-not-returnable"
        assert (body["order_id"], body["order_status"]) == (o["id"], status)
        assert f"is {status}" in body["detail"]
    assert creates(logitrail) == 0


async def test_an_order_cancelled_before_it_shipped_is_not_returnable(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    o = await submitted(gateway, "S-3")
    cancelled = await read_json(await gateway.post(f"/v1/orders/{o['id']}/cancel", headers=auth()))
    assert cancelled["status"] == "cancelled"

    status, body = await returned(gateway, o["id"], "s3")

    assert status == 409, body
    assert (body["code"], body["order_status"]) == ("order-not-returnable", "cancelled")
    assert creates(logitrail) == 0
    assert logitrail.sandbox.returns == {}


async def test_a_queued_order_is_not_returnable(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    logitrail.sandbox.inject(Fault(op="create", status=503, count=None))
    resp = await gateway.post("/v1/orders", json=order("S-4"), headers=auth(key="o-S-4"))
    queued = await read_json(resp)
    assert (resp.status, queued["status"]) == (202, "accepted")

    status, body = await returned(gateway, queued["id"], "s4")
    logitrail.sandbox.clear_faults()

    assert status == 409, body
    assert (body["code"], body["order_status"]) == ("order-not-returnable", "accepted")
    assert creates(logitrail) == 0


async def test_a_rejected_order_is_not_returnable_and_says_what_to_do(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    logitrail.sandbox.inject(
        Fault(op="create", status=400, body={"code": "customer.city.required", "message": "x"})
    )
    resp = await gateway.post("/v1/orders", json=order("S-5"), headers=auth(key="o-S-5"))
    rejected = (await read_json(resp))["order"]
    assert rejected["status"] == "rejected"

    status, body = await returned(gateway, rejected["id"], "s5")

    assert status == 409, body
    assert (body["code"], body["order_status"]) == ("order-not-returnable", "rejected")
    assert "corrected order with the same external_id" in body["detail"]
    assert "retry" not in body["detail"]


async def test_an_exception_is_returnable_only_after_the_order_shipped(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    coming_back = await shipped(gateway, logitrail, "S-6")
    logitrail.sandbox.advance(coming_back["provider_order_id"], "returning")
    stuck = await submitted(gateway, "S-7")
    logitrail.sandbox.advance(stuck["provider_order_id"], "problem")
    for o in (coming_back, stuck):
        assert (await refreshed(gateway, o["id"]))["status"] == "exception"

    back_status, back = await returned(gateway, coming_back["id"], "s6")
    stuck_status, refused = await returned(gateway, stuck["id"], "s7")

    assert back_status == 201, back
    assert stuck_status == 409, refused
    assert (refused["code"], refused["order_status"]) == ("order-not-returnable", "exception")
    assert creates(logitrail) == 1
