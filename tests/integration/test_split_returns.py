"""Returns of a split order (`POST /v1/returns`): a return whose lines one part shipped goes to
that part's provider order; one whose lines are several parts' is one provider return per
part under one gateway return — sent exactly once each through lost answers and a crash,
polled and cancelled part by part — on both stores, through the Flexport sandbox (two
channels, each with stock of its own)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.api.keys import PROVIDERS, RETURN_SUBMITTER, SETTINGS, STORE
from gateway.returns.submission import ReturnSubmitter
from gateway.sandbox.flexport import Fault
from gateway.workers.poller import ReturnPoller
from tests.conftest import FlexportHandle, auth, eventually, gb_order, read_json, ref
from tests.integration.shipping import refreshed
from tests.integration.test_openapi import conforms
from tests.unit.fakes import FakeClock

WAREHOUSES = {
    "reserve": {"kind": "b2b"},
    "east": {"kind": "d2c", "stock_warehouses": ["ATL1"]},
    "west": {"kind": "d2c", "stock_warehouses": ["LAX2", "RNO1"]},
}
RULES = [
    {
        "name": "uk-split",
        "when": {"country": "GB"},
        "stock_aware": True,
        "split": True,
        "candidates": [
            {"provider": "flexport", "warehouse": "east"},
            {"provider": "flexport", "warehouse": "west"},
        ],
    },
]
LINES = [
    {"sku": "TSHIRT-M", "quantity": 2, "unit_price": "19.90"},
    {"sku": "MUG", "quantity": 1, "unit_price": "9.90"},
]


@pytest.fixture
def gateway_store_url(store_url: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return store_url


async def _gateway(
    make_gateway: Any, flexport: FlexportHandle, **overrides: Any
) -> TestClient[Any, Any]:
    flexport.sandbox.approve_returns()
    # T-shirts only in the east, mugs only in the west: no channel holds the order.
    flexport.sandbox.set_stock("TSHIRT-M", "ATL1", 5)
    flexport.sandbox.set_stock("MUG", "RNO1", 5)
    client: TestClient[Any, Any] = await make_gateway(
        routing__rules=RULES,
        providers__flexport__warehouses=WAREHOUSES,
        providers__flexport__returns_enabled=True,
        **overrides,
    )
    return client


@pytest.fixture
async def gateway(make_gateway: Any, flexport: FlexportHandle) -> TestClient[Any, Any]:
    return await _gateway(make_gateway, flexport)


async def _split(
    gateway: TestClient[Any, Any], flexport: FlexportHandle, external_id: str, *, ship: set[int]
) -> dict[str, Any]:
    """A split order whose parts numbered in `ship` Flexport has shipped."""
    body = gb_order(external_id, lines=LINES)
    resp = await gateway.post("/v1/orders", json=body, headers=auth(key=f"o-{external_id}"))
    created: dict[str, Any] = await read_json(resp)
    assert resp.status == 201, created
    assert [p["warehouse"] for p in created["parts"]] == ["east", "west"]
    for part in created["parts"]:
        if part["part"] in ship:
            await flexport.sandbox.advance(part["provider_order_id"], "SHIPPED")
    return await refreshed(gateway, created["id"])


async def _return(gateway: TestClient[Any, Any], body: dict[str, Any], key: str) -> Any:
    resp = await gateway.post("/v1/returns", json=body, headers=auth(key=key))
    return resp.status, await read_json(resp)


@pytest.mark.parametrize(("sku", "part"), [("TSHIRT-M", 1), ("MUG", 2)])
async def test_a_return_of_one_parts_lines_goes_to_that_parts_provider_order(
    gateway: TestClient[Any, Any], flexport: FlexportHandle, sku: str, part: int
) -> None:
    order = await _split(gateway, flexport, "SR-1", ship={1, 2})
    at = order["parts"][part - 1]
    lines = [{"sku": sku, "quantity": 1}]
    body = {"order_id": order["id"], "external_id": "RMA-S1", "lines": lines}

    status, created = await _return(gateway, body, "r-1")

    assert status == 201, created
    assert created["provider_order_id"] == at["provider_order_id"]
    [one] = created["parts"]
    assert (one["part"], one["provider_order_id"]) == (part, at["provider_order_id"])
    assert (one["provider_return_id"], one["lines"]) == (created["provider_return_id"], lines)
    held = flexport.sandbox.returns[int(created["provider_return_id"])]
    assert held.body["logisticsOrderId"] == at["provider_order_id"]
    assert held.body["returnItems"] == [{"identifier": sku, "type": "SKU", "quantity": 1}]
    # The return's reference is qualified by its part, as the part's own reference is.
    expected = ref("RMA-S1") if part == 1 else "storefront-fi#2/RMA-S1"
    assert held.body["rma"] == expected


async def test_a_return_of_a_part_not_shipped_is_refused_though_another_part_shipped(
    gateway: TestClient[Any, Any], flexport: FlexportHandle
) -> None:
    order = await _split(gateway, flexport, "SR-2", ship={1})
    body = {"order_id": order["id"], "lines": [{"sku": "MUG", "quantity": 1}]}

    status, problem = await _return(gateway, body, "r-2")

    assert status == 409, problem
    assert problem["code"] == "order-not-returnable"
    assert "its part 2 submitted" in problem["detail"]
    assert not flexport.sandbox.returns
    shipped = {"order_id": order["id"], "lines": [{"sku": "TSHIRT-M", "quantity": 2}]}
    assert (await _return(gateway, shipped, "r-2b"))[0] == 201


def _held_by_part(flexport: FlexportHandle, return_id: str) -> dict[str, list[Any]]:
    """Flexport's returns of the gateway return, by the id each part is keyed by."""
    held: dict[str, list[Any]] = {}
    for r in flexport.sandbox.returns.values():
        if r.body["externalReturnId"].startswith(f"{return_id}#"):
            held.setdefault(r.body["externalReturnId"], []).append(r)
    return held


@pytest.mark.parametrize(
    ("lines", "sent"),
    [
        ([{"sku": "TSHIRT-M", "quantity": 1}, {"sku": "MUG", "quantity": 1}], (1, 1)),
        (None, (2, 1)),
    ],
    ids=["lines-of-two-parts", "whole-order"],
)
async def test_a_return_spanning_parts_is_one_provider_return_per_part(
    gateway: TestClient[Any, Any], flexport: FlexportHandle, lines: Any, sent: tuple[int, int]
) -> None:
    order = await _split(gateway, flexport, "SR-3", ship={1, 2})
    body: dict[str, Any] = {"order_id": order["id"], "external_id": "RMA-S3"}
    if lines is not None:
        body["lines"] = lines

    status, created = await _return(gateway, body, "r-3")

    assert status == 201, created
    assert created["status"] == "registered"  # derived: every part is registered
    parts = created["parts"]
    assert [(p["part"], p["status"], p["submission"]["phase"]) for p in parts] == [
        (1, "registered", "done"),
        (2, "registered", "done"),
    ]
    assert created["submission"]["phase"] == "parts"
    held = _held_by_part(flexport, created["id"])
    assert sorted(held) == [f"{created['id']}#1", f"{created['id']}#2"]
    for part, at, (sku, quantity) in zip(
        parts, order["parts"], [("TSHIRT-M", sent[0]), ("MUG", sent[1])], strict=True
    ):
        [one] = held[f"{created['id']}#{part['part']}"]
        assert one.body["logisticsOrderId"] == at["provider_order_id"] == part["provider_order_id"]
        assert one.body["returnItems"] == [{"identifier": sku, "type": "SKU", "quantity": quantity}]
        assert part["provider_return_id"] == str(one.id)
        assert part["lines"] == [{"sku": sku, "quantity": quantity}]
    # Each part's reference is qualified by its part, as the order part's own is.
    assert [held[k][0].body["rma"] for k in sorted(held)] == [
        ref("RMA-S3"),
        "storefront-fi#2/RMA-S3",
    ]
    read = await read_json(await gateway.get(f"/v1/returns/{created['id']}", headers=auth()))
    assert read["parts"] == parts
    assert [h["detail"] for h in read["history"]][-1].startswith("part ")
    listed = await read_json(await gateway.get("/v1/returns", headers=auth()))
    assert [r["parts"] for r in listed["items"]] == [parts]
    # The document describes what these answers carry.
    spec = await read_json(await gateway.get("/openapi.json"))
    conforms(spec, "/v1/returns", "post", 201, created)
    conforms(spec, "/v1/returns/{id}", "get", 200, read)
    conforms(spec, "/v1/returns", "get", 200, listed)
    assert "parts" in spec["components"]["schemas"]["ReturnView"]["required"]

    # Each part's calls are the return's exchanges, marked with the part.
    async def created_by_part() -> bool:
        resp = await gateway.get(f"/v1/returns/{created['id']}/exchanges", headers=auth())
        calls = (await read_json(resp))["items"]
        return {c["part"] for c in calls if c["operation"] == "return_create"} >= {1, 2}

    assert await eventually(created_by_part)
    # Everything came back: nothing is left to return.
    again = {"order_id": order["id"], "lines": [{"sku": "MUG", "quantity": 1}]}
    assert (await _return(gateway, again, "r-3b"))[0] == 422


async def test_a_whole_order_return_takes_what_each_part_has_left(
    gateway: TestClient[Any, Any], flexport: FlexportHandle
) -> None:
    order = await _split(gateway, flexport, "SR-9", ship={1, 2})
    one = {"order_id": order["id"], "lines": [{"sku": "TSHIRT-M", "quantity": 1}]}
    assert (await _return(gateway, one, "r-9a"))[0] == 201

    status, rest = await _return(gateway, {"order_id": order["id"]}, "r-9b")

    assert status == 201, rest
    assert [(p["part"], p["lines"]) for p in rest["parts"]] == [
        (1, [{"sku": "TSHIRT-M", "quantity": 1}]),
        (2, [{"sku": "MUG", "quantity": 1}]),
    ]
    assert rest["return"]["lines"] == [
        {"sku": "TSHIRT-M", "quantity": 1},
        {"sku": "MUG", "quantity": 1},
    ]


async def test_a_return_every_part_of_which_the_provider_refuses_is_rejected(
    gateway: TestClient[Any, Any], flexport: FlexportHandle
) -> None:
    order = await _split(gateway, flexport, "SR-10", ship={1, 2})
    flexport.sandbox.inject(Fault(op="return_create", status=400, count=None))

    status, problem = await _return(gateway, {"order_id": order["id"]}, "r-10")

    assert status == 422, problem
    assert problem["code"] == "provider-rejected"
    assert problem["return"]["status"] == "rejected"
    parts = problem["return"]["parts"]
    assert [(p["status"], p["submission"]["phase"]) for p in parts] == [("rejected", "failed")] * 2
    assert not flexport.sandbox.returns


async def test_the_lines_of_a_part_its_provider_refused_can_be_returned_again(
    gateway: TestClient[Any, Any], flexport: FlexportHandle
) -> None:
    order = await _split(gateway, flexport, "SR-11", ship={1, 2})
    flexport.sandbox.inject(Fault(op="return_create", status=400, count=1))  # one part's
    status, spanning = await _return(gateway, {"order_id": order["id"]}, "r-11a")
    assert status in (201, 422), spanning
    ret = spanning if status == 201 else spanning["return"]
    refused = [p for p in ret["parts"] if p["status"] == "rejected"]
    assert len(ret["parts"]) == 2, ret["parts"]
    assert len(refused) == 1, ret["parts"]
    assert ret["status"] != "rejected"  # the other part goes on

    again = {"order_id": order["id"], "lines": refused[0]["lines"]}
    status, retried = await _return(gateway, again, "r-11b")

    assert status == 201, retried
    assert [(p["part"], p["lines"]) for p in retried["parts"]] == [
        (refused[0]["part"], refused[0]["lines"])
    ]
    assert len(flexport.sandbox.returns) == 2  # the part that took it, and the retried one


async def test_a_replay_of_a_return_spanning_parts_answers_the_whole_return(
    gateway: TestClient[Any, Any], flexport: FlexportHandle
) -> None:
    order = await _split(gateway, flexport, "SR-5", ship={1, 2})
    body = {"order_id": order["id"]}

    first = await _return(gateway, body, "r-5")
    replay = await _return(gateway, body, "r-5")

    assert first[0] == 201, first
    assert replay == first
    assert len(first[1]["parts"]) == 2
    assert len(flexport.sandbox.returns) == 2


async def test_a_lost_create_answer_of_each_part_is_reconciled_by_its_own_id_not_resent(
    make_gateway: Any, flexport: FlexportHandle
) -> None:
    # Two sends per call, and a circuit that stays closed through the lost answers.
    gateway = await _gateway(
        make_gateway,
        flexport,
        providers__flexport__retry__max_attempts=2,
        providers__flexport__circuit__failure_threshold=50,
    )
    order = await _split(gateway, flexport, "SR-6", ship={1, 2})
    # Flexport creates every return it is sent, but every answer is lost (502).
    flexport.sandbox.inject(Fault(op="return_create", status=502, after=True, count=None))

    status, created = await _return(gateway, {"order_id": order["id"]}, "r-6")

    assert status == 201, created
    assert [p["submission"]["phase"] for p in created["parts"]] == ["done", "done"]
    held = _held_by_part(flexport, created["id"])
    assert {k: len(v) for k, v in held.items()} == {
        f"{created['id']}#1": 1,
        f"{created['id']}#2": 1,
    }
    lookups = [r for r in flexport.sandbox.requests if r.op == "return_list"]
    assert len(lookups) >= 2  # each part looked itself up before sending again
    assert [p["provider_return_id"] for p in created["parts"]] == [
        str(held[f"{created['id']}#{n}"][0].id) for n in (1, 2)
    ]


async def test_a_crash_between_parts_sends_each_part_exactly_once_after_restart(
    make_gateway: Any, flexport: FlexportHandle
) -> None:
    gateway = await _gateway(make_gateway, flexport, server__request_budget_s=0.5)
    order = await _split(gateway, flexport, "SR-7", ship={1, 2})
    # The first part's create reaches Flexport, and its answer never comes back.
    flexport.sandbox.inject(Fault(op="return_create", hold=True, after=True))

    status, created = await _return(gateway, {"order_id": order["id"]}, "r-7")

    assert status == 202, created
    # The process dies: every part it was driving stops where it stands (leases kept).
    app = gateway.server.app
    dying = list(app[RETURN_SUBMITTER].parts.running.values())
    for task in dying:
        task.cancel()
    await asyncio.gather(*dying, return_exceptions=True)
    # Restarted after its leases ran out: what the store rows say was sent is looked up.
    later = FakeClock(wall=time.time() + 3600)
    restarted = ReturnSubmitter(
        app[STORE], app[PROVIDERS], app[SETTINGS].submission, owner="restarted", clock=later
    )
    await restarted.submit_due()
    await asyncio.gather(*restarted.parts.running.values())

    done = await read_json(await gateway.get(f"/v1/returns/{created['id']}", headers=auth()))
    assert [p["submission"]["phase"] for p in done["parts"]] == ["done", "done"]
    assert done["status"] == "registered"
    held = _held_by_part(flexport, created["id"])
    assert {k: len(v) for k, v in held.items()} == {
        f"{created['id']}#1": 1,
        f"{created['id']}#2": 1,
    }


async def test_each_part_is_polled_and_cancelled_at_its_own_provider_return(
    gateway: TestClient[Any, Any], flexport: FlexportHandle
) -> None:
    order = await _split(gateway, flexport, "SR-8", ship={1, 2})
    status, created = await _return(gateway, {"order_id": order["id"]}, "r-8")
    assert status == 201, created
    second = created["parts"][1]["provider_return_id"]
    flexport.sandbox.advance_return(second, "RECEIVED_FOR_PROCESSING")
    app = gateway.server.app
    later = FakeClock(wall=time.time() + 3600)
    poller = ReturnPoller(app[STORE], app[PROVIDERS], app[SETTINGS].returns, clock=later)

    assert await poller.poll() == 2

    moved = await read_json(await gateway.get(f"/v1/returns/{created['id']}", headers=auth()))
    assert [p["status"] for p in moved["parts"]] == ["registered", "in_progress"]
    assert moved["parts"][1]["provider_status"] == "RECEIVED_FOR_PROCESSING"
    assert moved["status"] == "registered"  # the least advanced part
    # Part 2 is no longer cancellable at Flexport: the cancel is refused with its reason,
    # and part 1, cancelled before it, stays cancelled.
    resp = await gateway.post(f"/v1/returns/{created['id']}/cancel", headers=auth())
    problem = await read_json(resp)
    assert resp.status == 409, problem
    assert problem["detail"].startswith("flexport (part 2): ")
    refused = await read_json(await gateway.get(f"/v1/returns/{created['id']}", headers=auth()))
    assert [p["status"] for p in refused["parts"]] == ["cancelled", "in_progress"]
    assert refused["status"] == "in_progress"
    flexport.sandbox.advance_return(second, "CANCELLED")
    later.advance(3600)
    assert await poller.poll() == 1  # a cancelled part is final: no longer read back
    cancelled = await gateway.post(f"/v1/returns/{created['id']}/cancel", headers=auth())
    view = await read_json(cancelled)
    assert cancelled.status == 200, view
    assert [p["status"] for p in view["parts"]] == ["cancelled", "cancelled"]
    assert view["status"] == "cancelled"
    assert {r.status for r in flexport.sandbox.returns.values()} == {"CANCELLED"}
    # Each change of the return's status a part made is an event naming that part and its
    # own provider return; the return's creation names none.
    feed = await read_json(await gateway.get("/v1/events?limit=500", headers=auth()))
    about = [e for e in feed["items"] if e["data"].get("return_id") == created["id"]]
    seen = [(e["type"], e["data"]["status"], e["data"].get("part")) for e in about]
    # registered when the later of the two parts (sent side by side) was: either one
    assert seen[1] in {("return.status_changed", "registered", n) for n in (1, 2)}
    assert seen[:1] + seen[2:] == [
        ("return.created", "accepted", None),
        ("return.status_changed", "in_progress", 1),
        ("return.cancelled", "cancelled", 2),
    ]
    assert about[-1]["data"]["provider_return_id"] == second


async def test_a_return_of_a_split_order_asking_more_than_its_part_shipped_is_an_overreach(
    gateway: TestClient[Any, Any], flexport: FlexportHandle
) -> None:
    order = await _split(gateway, flexport, "SR-4", ship={1, 2})
    body = {"order_id": order["id"], "lines": [{"sku": "TSHIRT-M", "quantity": 3}]}

    status, problem = await _return(gateway, body, "r-4")

    assert status == 422, problem
    assert [e["loc"] for e in problem["errors"]] == ["lines[0].quantity"]
    assert not flexport.sandbox.returns
