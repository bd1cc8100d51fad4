"""A client's change of a split order (`PATCH /v1/orders/{id}`): every part that will still
ship takes it, only when each allows it — on both stores, through the Logentic sandbox's
per-warehouse stock."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from gateway.api.keys import STORE
from gateway.model.orders import Phase
from gateway.sandbox.logentic import Fault
from gateway.store import NewOrder, NewPart
from tests.conftest import LogenticHandle, auth, ca_order, eventually, read_json, ref
from tests.integration.test_history import events_of
from tests.integration.test_split_orders import LINES, SPLIT_RULES, _held, _stock_apart, _submit
from tests.unit.fakes import SkipAheadClock


@pytest.fixture
def gateway_store_url(store_url: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return store_url


async def _view(gateway: TestClient[Any, Any], order_id: str) -> Any:
    return await read_json(await gateway.get(f"/v1/orders/{order_id}", headers=auth()))


def _moved(created: dict[str, Any]) -> dict[str, Any]:
    """A change of a split order's address (every part ships to it)."""
    return {"address": {**created["order"]["address"], "line1": "1 Yonge Street"}}


async def test_a_change_of_a_split_order_goes_to_every_part_at_its_provider(
    make_gateway: Callable[..., Any], logentic: LogenticHandle
) -> None:
    _stock_apart(logentic)
    gateway = await make_gateway(routing__rules=SPLIT_RULES)
    _status, created = await _submit(gateway, ca_order("SPLIT-4", lines=LINES))
    order_id = created["id"]

    resp = await gateway.patch(f"/v1/orders/{order_id}", json=_moved(created), headers=auth())

    changed = await read_json(resp)
    assert resp.status == 200, changed
    assert changed["order"]["address"]["line1"] == "1 Yonge Street"
    assert changed["order"]["lines"] == created["order"]["lines"]
    assert logentic.sandbox.count("update") == 2
    for part, quantity in ((1, 2), (2, 1)):
        [held] = _held(logentic, "SPLIT-4", part)
        assert held.place["address1"] == "1 Yonge Street"
        # Each provider order keeps its own lines: the change is the part as changed.
        assert [i["quantity"] for i in held.stored_items] == [quantity]
    assert changed["parts"] == created["parts"]
    last = changed["history"][-1]
    assert (last["status"], last["outcome"]) == ("submitted", "unchanged")
    assert last["detail"] == "changed by the client: address (parts 1, 2)"
    updated = [e for e in await events_of(gateway, order_id) if e["type"] == "order.updated"]
    assert [e["data"]["changed"] for e in updated] == [["address"]]


async def test_a_change_of_a_split_order_with_a_shipped_part_is_refused_before_any_call(
    make_gateway: Callable[..., Any], logentic: LogenticHandle
) -> None:
    _stock_apart(logentic)
    gateway = await make_gateway(routing__rules=SPLIT_RULES)
    _status, created = await _submit(gateway, ca_order("SPLIT-5", lines=LINES))
    await logentic.sandbox.advance(int(created["parts"][1]["provider_order_id"]), "IN_TRANSIT")
    refreshed = await gateway.post(f"/v1/orders/{created['id']}/refresh", headers=auth())
    assert [p["status"] for p in (await read_json(refreshed))["parts"]] == [
        "submitted",
        "shipped",
    ]

    resp = await gateway.patch(f"/v1/orders/{created['id']}", json=_moved(created), headers=auth())

    assert resp.status == 409, await resp.text()
    problem = await read_json(resp)
    assert problem["code"] == "not-changeable"
    assert problem["detail"] == "part 2 (logentic TOR): the part is shipped already"
    assert logentic.sandbox.count("update") == 0
    [first] = _held(logentic, "SPLIT-5", 1)
    assert first.place["address1"] == created["order"]["address"]["line1"]
    seen = await _view(gateway, created["id"])
    assert seen["order"] == created["order"]
    assert "changed by the client" not in str(seen["history"])


async def test_a_part_whose_provider_refuses_the_change_is_named_and_the_others_keep_it(
    make_gateway: Callable[..., Any], logentic: LogenticHandle
) -> None:
    _stock_apart(logentic)
    gateway = await make_gateway(routing__rules=SPLIT_RULES)
    _status, created = await _submit(gateway, ca_order("SPLIT-6", lines=LINES))
    # Picking started at Montreal: the gateway allows the change, Logentic no longer does.
    await logentic.sandbox.advance(int(created["parts"][0]["provider_order_id"]), "PICKED")

    resp = await gateway.patch(f"/v1/orders/{created['id']}", json=_moved(created), headers=auth())

    assert resp.status == 409, await resp.text()
    problem = await read_json(resp)
    assert problem["code"] == "not-changeable"
    assert problem["detail"].startswith("part 1 (logentic MTL): ")
    assert problem["detail"].endswith("; the change was made to parts 2")
    [first] = _held(logentic, "SPLIT-6", 1)
    [second] = _held(logentic, "SPLIT-6", 2)
    assert first.place["address1"] == created["order"]["address"]["line1"]
    assert second.place["address1"] == "1 Yonge Street"
    seen = await _view(gateway, created["id"])
    assert seen["order"]["address"]["line1"] == "1 Yonge Street"
    assert seen["history"][-1]["detail"] == "changed by the client: address (parts 2)"
    # The refusal's cause was read back: the part is in progress at Montreal.
    assert [p["status"] for p in seen["parts"]] == ["in_progress", "submitted"]


async def test_a_change_of_a_split_order_that_breaks_provider_rules_is_422_before_any_call(
    make_gateway: Callable[..., Any], logentic: LogenticHandle
) -> None:
    _stock_apart(logentic)
    gateway = await make_gateway(routing__rules=SPLIT_RULES)
    _status, created = await _submit(gateway, ca_order("SPLIT-9", lines=LINES))
    address = {**created["order"]["address"], "region": None}

    resp = await gateway.patch(
        f"/v1/orders/{created['id']}", json={"address": address}, headers=auth()
    )

    assert resp.status == 422, await resp.text()
    problem = await read_json(resp)
    assert problem["code"] == "provider-rules"
    assert [e["loc"] for e in problem["errors"]] == ["address.region"]
    assert logentic.sandbox.count("update") == 0
    assert (await _view(gateway, created["id"]))["order"] == created["order"]


async def test_the_lines_of_a_split_order_cannot_be_changed(
    make_gateway: Callable[..., Any], logentic: LogenticHandle
) -> None:
    _stock_apart(logentic)
    gateway = await make_gateway(routing__rules=SPLIT_RULES)
    _status, created = await _submit(gateway, ca_order("SPLIT-10", lines=LINES))

    resp = await gateway.patch(
        f"/v1/orders/{created['id']}", json={"lines": LINES[:1]}, headers=auth()
    )

    assert resp.status == 409, await resp.text()
    problem = await read_json(resp)
    assert (problem["code"], problem["action"]) == ("split-order-unsupported", "change")
    assert "its lines cannot be changed" in problem["detail"]
    assert logentic.sandbox.count("update") == 0
    assert (await _view(gateway, created["id"]))["order"] == created["order"]


async def test_a_part_being_sent_makes_the_change_409_naming_it_before_any_call(
    make_gateway: Callable[..., Any], logentic: LogenticHandle
) -> None:
    _stock_apart(logentic)
    gateway = await make_gateway(routing__rules=SPLIT_RULES, server__request_budget_s=0.5)
    # One part's create is held at Logentic: whether Logentic takes it (with the order as
    # it was) is not known yet.
    logentic.sandbox.inject(Fault(op="create", hold=True))
    _status, created = await _submit(gateway, ca_order("SPLIT-12", lines=LINES))
    [waiting] = [p for p in created["parts"] if p["submission"]["phase"] == "creating"]

    resp = await gateway.patch(f"/v1/orders/{created['id']}", json=_moved(created), headers=auth())

    assert resp.status == 409, await resp.text()
    problem = await read_json(resp)
    assert problem["code"] == "not-changeable"
    name = f"part {waiting['part']} (logentic {waiting['warehouse']})"
    assert problem["detail"] == f"{name}: the part is accepted (creating): try again shortly"
    assert logentic.sandbox.count("update") == 0
    assert (await _view(gateway, created["id"]))["order"] == created["order"]


async def test_parts_not_sent_yet_take_the_change_when_they_are_created(
    make_gateway: Callable[..., Any], logentic: LogenticHandle, clock: SkipAheadClock
) -> None:
    """A split order whose parts are queued in the gateway (a process that stored them died
    before sending any): the change is stored only, and each create carries it."""
    _stock_apart(logentic)
    # The part submitter looks for due parts at start-up and then only every minute.
    gateway = await make_gateway(routing__rules=SPLIT_RULES, submission__poll_interval_s=60)
    store = gateway.server.app[STORE]
    await clock.sleeping("part-submitter")  # its start-up round is over
    body = ca_order("SPLIT-13", lines=LINES)
    queued = await store.insert_order(
        NewOrder(
            id="ord_01SPLITQUEUEDSPLITQUEUED1",
            client_id="storefront-fi",
            external_id="SPLIT-13",
            provider="logentic",
            warehouse="MTL",
            route_rule="north-america",
            route_candidate=0,
            body=orjson.dumps(body).decode(),
            phase=Phase.PARTS,
            provider_reference=ref("SPLIT-13"),
        ),
        now=time.time(),
        idempotency=None,
        lease_owner=None,
        lease_until=None,
        parts=(
            NewPart(1, "logentic", "MTL", 0, ((0, "TSHIRT-M", 2),), ref("SPLIT-13")),
            NewPart(2, "logentic", "TOR", 1, ((1, "MUG", 1),), "storefront-fi#2/SPLIT-13"),
        ),
    )
    moved = {"address": {**body["address"], "line1": "1 Yonge Street"}}

    resp = await gateway.patch(f"/v1/orders/{queued.id}", json=moved, headers=auth())

    changed = await read_json(resp)
    assert resp.status == 200, changed
    assert changed["history"][-1]["detail"] == "changed by the client: address (parts 1, 2)"
    assert (logentic.sandbox.count("update"), logentic.sandbox.count("create")) == (0, 0)
    await clock.advance(60)  # the part submitter's next round sends both

    async def sent() -> Any:
        view = await _view(gateway, queued.id)
        return view if view["status"] == "submitted" else None

    await eventually(sent)
    for part in (1, 2):
        [held] = _held(logentic, "SPLIT-13", part)
        assert held.place["address1"] == "1 Yonge Street", part
