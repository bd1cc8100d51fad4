"""A rejected order's `external_id` is usable again (issue 17): the corrected order supersedes
it, both stay readable and link to each other, the successor goes to the provider under a
reference of its own, and exactly-once holds when corrections race. Every test runs on both
stores."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.model.responses import OrderView
from gateway.sandbox.logitrail import Fault
from tests.conftest import SandboxHandle, auth, eventually, order, read_json, ref


def refused() -> Fault:
    """Logitrail refusing the next create for good."""
    return Fault(
        op="create", status=400, body={"code": "customer.city.required", "message": "no city"}
    )


@pytest.fixture
def gateway_store_url(store_url: str) -> str:
    """Every test of this module on every backend."""
    return store_url


async def submit(
    gateway: TestClient[Any, Any], external_id: str, key: str, city: str = "Helsinki"
) -> tuple[int, Any]:
    body = order(external_id)
    body["address"] = {**body["address"], "city": city}
    resp = await gateway.post("/v1/orders", json=body, headers=auth(key=key))
    return resp.status, await read_json(resp)


async def rejected(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle, external_id: str, key: str
) -> Any:
    logitrail.sandbox.inject(refused())
    status, body = await submit(gateway, external_id, key, city="Helsinkii")
    assert (status, body["order"]["status"]) == (422, "rejected"), body
    return body["order"]


async def view(gateway: TestClient[Any, Any], order_id: str) -> Any:
    return await read_json(await gateway.get(f"/v1/orders/{order_id}", headers=auth()))


def held_under(logitrail: SandboxHandle, reference: str) -> list[str]:
    return [o.id for o in logitrail.sandbox.orders_by_merchant_order(reference)]


async def test_the_corrected_order_takes_the_rejected_ones_external_id(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    first = await rejected(gateway, logitrail, "SUP-1", "sup-1a")

    status, corrected = await submit(gateway, "SUP-1", "sup-1b")

    assert status == 201, corrected
    assert (corrected["supersedes"], corrected["superseded_by"]) == (first["id"], None)
    old = await view(gateway, first["id"])
    assert (old["status"], old["superseded_by"], old["supersedes"]) == (
        "rejected",
        corrected["id"],
        None,
    )
    assert old["history"][-1]["status"] == "rejected"
    # Sent under a reference of its own: never the one its predecessor went with.
    assert held_under(logitrail, "storefront-fi~2/SUP-1") == [corrected["provider_order_id"]]
    assert held_under(logitrail, ref("SUP-1")) == []
    listed = await read_json(await gateway.get("/v1/orders?external_id=SUP-1", headers=auth()))
    assert [o["id"] for o in listed["items"]] == [corrected["id"], first["id"]]
    for one in (old, await view(gateway, corrected["id"]), *listed["items"]):
        OrderView.model_validate(one)
    # The external_id is the successor's now: another submission is the usual 409.
    status, exists = await submit(gateway, "SUP-1", "sup-1c")
    assert (status, exists["code"], exists["order_id"]) == (409, "order-exists", corrected["id"])


async def test_a_correction_rejected_again_is_superseded_under_the_next_number(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    first = await rejected(gateway, logitrail, "SUP-2", "sup-2a")
    second = await rejected(gateway, logitrail, "SUP-2", "sup-2b")

    status, third = await submit(gateway, "SUP-2", "sup-2c")

    assert status == 201, third
    assert second["supersedes"] == first["id"]
    assert third["supersedes"] == second["id"]
    assert (await view(gateway, second["id"]))["superseded_by"] == third["id"]
    assert (await view(gateway, first["id"]))["superseded_by"] == second["id"]
    assert held_under(logitrail, "storefront-fi~3/SUP-2") == [third["provider_order_id"]]


async def test_only_a_rejected_order_gives_its_external_id_up(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    _, live = await submit(gateway, "SUP-3", "sup-3a")
    _, cancelled = await submit(gateway, "SUP-4", "sup-4a")
    done = await gateway.post(f"/v1/orders/{cancelled['id']}/cancel", headers=auth())
    assert (await read_json(done))["status"] == "cancelled"

    for held, key in ((live, "sup-3b"), (cancelled, "sup-4b")):
        status, body = await submit(gateway, held["external_id"], key)
        assert (status, body["code"], body["order_id"]) == (409, "order-exists", held["id"])
        assert (await view(gateway, held["id"]))["superseded_by"] is None
    assert len(logitrail.sandbox.orders) == 2


async def test_two_corrections_racing_make_one_order(
    gateway: TestClient[Any, Any], logitrail: SandboxHandle
) -> None:
    first = await rejected(gateway, logitrail, "SUP-5", "sup-5a")

    answers = await asyncio.gather(*(submit(gateway, "SUP-5", f"sup-5-{n}") for n in range(4)))

    winners = [body for status, body in answers if status == 201]
    assert len(winners) == 1, answers
    winner = winners[0]
    for status, body in answers:
        if body is not winner:
            assert (status, body["code"], body["order_id"]) == (409, "order-exists", winner["id"])
    assert winner["supersedes"] == first["id"]
    assert held_under(logitrail, "storefront-fi~2/SUP-5") == [winner["provider_order_id"]]
    # Each key keeps its own answer: a replay repeats it and sends nothing.
    for n, (status, body) in enumerate(answers):
        replay = await gateway.post(
            "/v1/orders", json=order("SUP-5"), headers=auth(key=f"sup-5-{n}")
        )
        again = await read_json(replay)
        assert (replay.status, replay.headers["Idempotent-Replayed"]) == (status, "true")
        assert (again.get("code"), again.get("order_id")) == (
            body.get("code"),
            body.get("order_id"),
        )
        assert again.get("id") == body.get("id")
    assert len(logitrail.sandbox.orders) == 1


async def test_two_gateways_on_one_database_racing_corrections_make_one_order(
    make_gateway: Callable[..., Any], logitrail: SandboxHandle
) -> None:
    first_gw = await make_gateway()
    second_gw = await make_gateway()
    first = await rejected(first_gw, logitrail, "SUP-6", "sup-6a")

    (a_status, a), (b_status, b) = await asyncio.gather(
        submit(first_gw, "SUP-6", "sup-6b"), submit(second_gw, "SUP-6", "sup-6c")
    )

    assert sorted([a_status, b_status]) == [201, 409], (a, b)
    winner, loser = (a, b) if a_status == 201 else (b, a)
    assert (loser["code"], loser["order_id"]) == ("order-exists", winner["id"])
    assert (await view(first_gw, first["id"]))["superseded_by"] == winner["id"]
    assert len(logitrail.sandbox.orders) == 1


async def test_the_correction_reconciles_to_its_own_order_not_the_refused_one(
    make_gateway: Callable[..., Any], logitrail: SandboxHandle
) -> None:
    gateway = await make_gateway(submission__backoff_base_s=0.01, submission__backoff_max_s=0.05)
    # Logitrail took the first order, then refused to confirm it: it still holds it, passive.
    logitrail.sandbox.inject(
        Fault(op="confirm", status=400, body={"code": "order.invalid", "message": "no"})
    )
    status, first = await submit(gateway, "SUP-7", "sup-7a")
    assert (status, first["order"]["status"]) == (422, "rejected"), first
    kept = first["order"]["provider_order_id"]
    assert held_under(logitrail, ref("SUP-7")) == [kept]
    # The correction's create is performed but its answer lost: it must look itself up.
    logitrail.sandbox.inject(Fault(op="create", status=500, after=True))

    status, corrected = await submit(gateway, "SUP-7", "sup-7b")
    assert status in (201, 202), corrected

    async def submitted() -> Any:
        current = await view(gateway, corrected["id"])
        return current if current["status"] == "submitted" else None

    done = await eventually(submitted)
    assert "find" in [r.op for r in logitrail.sandbox.requests]
    assert done["provider_order_id"] != kept
    assert held_under(logitrail, "storefront-fi~2/SUP-7") == [done["provider_order_id"]]
    assert logitrail.sandbox.orders[kept].status == "passive"
