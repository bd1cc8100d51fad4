"""Split fulfilment: an order no warehouse holds whole is submitted part by part, each part
its own provider order (its lines, its warehouse, its reference), exactly once — on both
stores, through the Logentic sandbox's per-warehouse stock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.sandbox.logentic import Fault
from tests.conftest import LogenticHandle, auth, ca_order, eventually, read_json, ref
from tests.integration.test_exchanges import exchanges
from tests.integration.test_idempotency_after_store import failing, post

SPLIT_RULES: list[dict[str, Any]] = [
    {
        "name": "north-america",
        "when": {"country": ["CA", "US"]},
        "stock_aware": True,
        "split": True,
        "candidates": [
            {"provider": "logentic", "warehouse": "MTL"},
            {"provider": "logentic", "warehouse": "TOR"},
        ],
    }
]
MTL, TOR = 1, 2
LINES = [
    {"sku": "TSHIRT-M", "quantity": 2, "unit_price": "24.90"},
    {"sku": "MUG", "quantity": 1, "unit_price": "9.90"},
]


@pytest.fixture
def gateway_store_url(store_url: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return store_url


def _stock_apart(logentic: LogenticHandle) -> None:
    """T-shirts only in Montreal, mugs only in Toronto: no warehouse holds the order."""
    logentic.sandbox.set_stock("TSHIRT-M", TOR, 0)
    logentic.sandbox.set_stock("MUG", MTL, 0)


def _part_ref(external_id: str, part: int) -> str:
    return ref(external_id) if part == 1 else f"storefront-fi#{part}/{external_id}"


def _held(logentic: LogenticHandle, external_id: str, part: int) -> list[Any]:
    return logentic.sandbox.orders_by_external_name(_part_ref(external_id, part))


async def _submit(gateway: TestClient[Any, Any], body: dict[str, Any]) -> tuple[int, Any]:
    resp = await gateway.post("/v1/orders", json=body, headers=auth(key=f"k-{body['external_id']}"))
    return resp.status, await read_json(resp)


async def test_a_split_order_is_two_provider_orders_each_with_its_lines_and_reference(
    make_gateway: Callable[..., Any], logentic: LogenticHandle
) -> None:
    _stock_apart(logentic)
    gateway = await make_gateway(routing__rules=SPLIT_RULES)
    body = ca_order("SPLIT-1", lines=LINES)

    status, created = await _submit(gateway, body)

    assert status == 201, created
    assert created["status"] == "submitted"
    assert created["submission"]["phase"] == "parts"
    first, second = created["parts"]
    assert (first["part"], first["warehouse"], first["status"]) == (1, "MTL", "submitted")
    assert (second["part"], second["warehouse"], second["status"]) == (2, "TOR", "submitted")
    assert first["lines"] == [{"sku": "TSHIRT-M", "quantity": 2}]
    assert second["lines"] == [{"sku": "MUG", "quantity": 1}]
    assert first["submission"]["phase"] == second["submission"]["phase"] == "done"
    # Top level: the first part's.
    assert (created["provider"], created["warehouse"]) == ("logentic", "MTL")
    assert created["provider_order_id"] == first["provider_order_id"]

    [at_mtl] = _held(logentic, "SPLIT-1", 1)
    [at_tor] = _held(logentic, "SPLIT-1", 2)
    assert (at_mtl.warehouse_id, at_tor.warehouse_id) == (MTL, TOR)
    assert (str(at_mtl.id), str(at_tor.id)) == (
        first["provider_order_id"],
        second["provider_order_id"],
    )
    assert [i["quantity"] for i in at_mtl.stored_items] == [2]
    assert [i["quantity"] for i in at_tor.stored_items] == [1]
    assert len(logentic.sandbox.orders) == 2

    # The replay, the read and the list answer the whole order, with its parts.
    replay = await gateway.post("/v1/orders", json=body, headers=auth(key="k-SPLIT-1"))
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert (await read_json(replay))["parts"] == created["parts"]
    seen = await read_json(await gateway.get(f"/v1/orders/{created['id']}", headers=auth()))
    assert seen["parts"] == created["parts"]
    assert [h["status"] for h in seen["history"]] == ["accepted", "submitted"]
    listed = await read_json(await gateway.get("/v1/orders", headers=auth()))
    assert [o["parts"] for o in listed["items"]] == [created["parts"]]

    # Each part's provider calls are the order's exchanges, marked with the part.
    path = f"/v1/orders/{created['id']}/exchanges"
    calls = await exchanges(gateway, path, at_least=2)
    creates = sorted((c["part"], c["operation"]) for c in calls if c["operation"] == "create")
    assert creates == [(1, "create"), (2, "create")]
    assert {c["part"] for c in calls} == {1, 2}


@pytest.mark.parametrize("lost", [True, False], ids=["answer-lost", "refused"])
@pytest.mark.parametrize("status", [500, 429])
async def test_a_5xx_or_429_for_one_part_still_leaves_each_part_at_its_provider_once(
    make_gateway: Callable[..., Any], logentic: LogenticHandle, status: int, lost: bool
) -> None:
    _stock_apart(logentic)
    gateway = await make_gateway(
        routing__rules=SPLIT_RULES,
        server__request_budget_s=0.5,
        providers__logentic__retry={"max_attempts": 1, "budget_s": 5},
    )
    # The first create is answered with the error: not performed, or (`lost`) performed with
    # its answer replaced, so that only a lookup by the part's reference can tell it went.
    fault = logentic.sandbox.inject(Fault(op="create", status=status, after=lost, retry_after="0"))

    _status, created = await _submit(gateway, ca_order("SPLIT-2", lines=LINES))

    async def settled() -> Any:
        view = await read_json(await gateway.get(f"/v1/orders/{created['id']}", headers=auth()))
        return view if view["status"] == "submitted" else None

    view = await eventually(settled)
    assert [p["submission"]["phase"] for p in view["parts"]] == ["done", "done"]
    assert len(_held(logentic, "SPLIT-2", 1)) == 1
    assert len(_held(logentic, "SPLIT-2", 2)) == 1
    assert len(logentic.sandbox.orders) == 2
    # The lost answer was had, and no part was created twice: its retry looked it up first.
    assert fault.remaining == 0
    assert logentic.sandbox.count("create") == (2 if lost else 3)


async def test_a_rejected_part_makes_the_order_an_exception_and_the_other_part_goes(
    make_gateway: Callable[..., Any], logentic: LogenticHandle
) -> None:
    _stock_apart(logentic)
    gateway = await make_gateway(routing__rules=SPLIT_RULES)
    logentic.sandbox.inject(Fault(op="create", status=422))

    status, created = await _submit(gateway, ca_order("SPLIT-3", lines=LINES))

    assert status == 201, created
    assert created["status"] == "exception"
    statuses = sorted(p["status"] for p in created["parts"])
    assert statuses == ["rejected", "submitted"]
    assert len(logentic.sandbox.orders) == 1


async def test_an_order_one_warehouse_holds_is_not_split(
    make_gateway: Callable[..., Any], logentic: LogenticHandle
) -> None:
    gateway = await make_gateway(routing__rules=SPLIT_RULES)

    status, created = await _submit(gateway, ca_order("WHOLE-1", lines=LINES))

    assert status == 201, created
    assert created["submission"]["phase"] == "done"
    [part] = created["parts"]
    assert part["submission"] == created["submission"]
    [held] = logentic.sandbox.orders_by_external_name(ref("WHOLE-1"))
    assert held.warehouse_id == MTL


async def test_cancel_of_a_split_order_cancels_every_part_at_its_provider(
    make_gateway: Callable[..., Any], logentic: LogenticHandle
) -> None:
    _stock_apart(logentic)
    gateway = await make_gateway(routing__rules=SPLIT_RULES)
    _status, created = await _submit(gateway, ca_order("SPLIT-7", lines=LINES))

    resp = await gateway.post(f"/v1/orders/{created['id']}/cancel", headers=auth())

    assert resp.status == 200, await resp.text()
    view = await read_json(resp)
    assert view["status"] == "cancelled"
    assert [p["status"] for p in view["parts"]] == ["cancelled", "cancelled"]
    for part in (1, 2):
        [held] = _held(logentic, "SPLIT-7", part)
        assert held.status == "CANCELLED"
    assert (view["history"][-1]["source"], view["history"][-1]["actor"]) == (
        "api",
        "storefront-fi",
    )
    again = await gateway.post(f"/v1/orders/{created['id']}/cancel", headers=auth())
    assert again.status == 200  # cancelling twice is not an error


async def test_cancel_of_a_split_order_cancels_what_it_can_and_names_the_rest(
    make_gateway: Callable[..., Any], logentic: LogenticHandle
) -> None:
    _stock_apart(logentic)
    gateway = await make_gateway(routing__rules=SPLIT_RULES)
    _status, created = await _submit(gateway, ca_order("SPLIT-8", lines=LINES))
    await logentic.sandbox.advance(int(created["parts"][1]["provider_order_id"]), "IN_TRANSIT")

    resp = await gateway.post(f"/v1/orders/{created['id']}/cancel", headers=auth())

    assert resp.status == 409, await resp.text()
    problem = await read_json(resp)
    assert problem["code"] == "not-cancellable"
    assert problem["detail"].startswith("part 2 (logentic TOR): ")
    assert "part 1" not in problem["detail"]
    [first] = _held(logentic, "SPLIT-8", 1)
    [second] = _held(logentic, "SPLIT-8", 2)
    assert (first.status, second.status) == ("CANCELLED", "IN_TRANSIT")
    view = await _view(gateway, created["id"])
    assert view["parts"][0]["status"] == "cancelled"
    assert view["status"] != "cancelled"


async def _view(gateway: TestClient[Any, Any], order_id: str) -> Any:
    return await read_json(await gateway.get(f"/v1/orders/{order_id}", headers=auth()))


async def test_webhooks_move_each_part_and_the_order_follows_the_least_advanced(
    make_gateway: Callable[..., Any], logentic: LogenticHandle
) -> None:
    _stock_apart(logentic)
    gateway = await make_gateway(routing__rules=SPLIT_RULES)
    _status, created = await _submit(gateway, ca_order("SPLIT-5", lines=LINES))
    first, second = (int(p["provider_order_id"]) for p in created["parts"])

    await logentic.sandbox.advance(second, "IN_TRANSIT")
    await logentic.sandbox.drain_webhooks()

    async def part_shipped() -> Any:
        view = await _view(gateway, created["id"])
        return view if view["parts"][1]["status"] == "shipped" else None

    view = await eventually(part_shipped)
    assert view["status"] == "submitted"  # part 1 is not shipped yet
    assert view["parts"][0]["status"] == "submitted"

    await logentic.sandbox.advance(first, "IN_TRANSIT")
    await logentic.sandbox.drain_webhooks()

    async def order_shipped() -> Any:
        view = await _view(gateway, created["id"])
        return view if view["status"] == "shipped" else None

    view = await eventually(order_shipped)
    last = view["history"][-1]
    assert (last["status"], last["source"]) == ("shipped", "webhook")
    assert last["detail"].startswith("part 1: ")
    feed = await read_json(await gateway.get("/v1/events", headers=auth()))
    moved = [
        e["data"]
        for e in feed["items"]
        if e["data"]["order_id"] == created["id"] and e["data"]["status"] == "shipped"
    ]
    assert [(d["part"], d["provider_order_id"]) for d in moved] == [(1, str(first))]


async def test_the_poller_reads_each_part_and_delivered_needs_every_part(
    make_gateway: Callable[..., Any], logentic: LogenticHandle
) -> None:
    _stock_apart(logentic)
    gateway = await make_gateway(
        routing__rules=SPLIT_RULES, providers__logentic__status_poll_interval_s=0.1
    )
    _status, created = await _submit(gateway, ca_order("SPLIT-6", lines=LINES))
    logentic.sandbox.webhook_url = None  # every webhook from now on is lost
    first, second = (int(p["provider_order_id"]) for p in created["parts"])

    await logentic.sandbox.advance(first, "COMPLETED")

    async def part_delivered() -> Any:
        view = await _view(gateway, created["id"])
        return view if view["parts"][0]["status"] == "delivered" else None

    view = await eventually(part_delivered)
    assert view["status"] == "submitted"  # delivered only when every part is
    assert view["provider_status"] == "COMPLETED"  # the first part's

    await logentic.sandbox.advance(second, "COMPLETED")

    async def delivered() -> Any:
        view = await _view(gateway, created["id"])
        return view if view["status"] == "delivered" else None

    view = await eventually(delivered)
    assert [p["status"] for p in view["parts"]] == ["delivered", "delivered"]
    assert (view["history"][-1]["source"], view["history"][-1]["detail"]) == (
        "poll",
        "part 2: poll (COMPLETED)",
    )


async def test_refresh_reads_every_part_at_its_provider_and_hold_is_refused(
    make_gateway: Callable[..., Any], logentic: LogenticHandle
) -> None:
    _stock_apart(logentic)
    gateway = await make_gateway(routing__rules=SPLIT_RULES)
    _status, created = await _submit(gateway, ca_order("SPLIT-9", lines=LINES))
    logentic.sandbox.webhook_url = None  # only the refresh can tell
    for part in created["parts"]:
        await logentic.sandbox.advance(int(part["provider_order_id"]), "IN_TRANSIT")

    resp = await gateway.post(f"/v1/orders/{created['id']}/refresh", headers=auth())

    assert resp.status == 200, await resp.text()
    view = await read_json(resp)
    assert [p["status"] for p in view["parts"]] == ["shipped", "shipped"]
    assert view["status"] == "shipped"
    assert view["provider_status"] == "IN_TRANSIT"
    last = view["history"][-1]
    assert (last["source"], last["actor"]) == ("api", "storefront-fi")
    assert last["detail"] == "part 2: refreshed by the client (IN_TRANSIT)"

    hold = await gateway.post(
        f"/v1/orders/{created['id']}/hold", json={"reason": "check"}, headers=auth()
    )
    assert hold.status == 409
    assert (await read_json(hold))["code"] == "not-holdable"


HOLD = [{"name": "fraud-check", "when": {"tags_any": ["risky"]}}]


async def test_a_held_order_released_by_the_client_is_split_then(
    make_gateway: Callable[..., Any], logentic: LogenticHandle
) -> None:
    _stock_apart(logentic)
    gateway = await make_gateway(routing__rules=SPLIT_RULES, holds=HOLD)
    status, held = await _submit(gateway, ca_order("SPLIT-10", lines=LINES, tags=["risky"]))
    assert status == 202, held
    assert (held["status"], held["parts"]) == ("on_hold", [])

    resp = await gateway.post(f"/v1/orders/{held['id']}/release", headers=auth())

    assert resp.status == 201, await resp.text()
    view = await read_json(resp)
    assert view["status"] == "submitted"
    assert [(p["warehouse"], p["status"]) for p in view["parts"]] == [
        ("MTL", "submitted"),
        ("TOR", "submitted"),
    ]
    assert (len(_held(logentic, "SPLIT-10", 1)), len(_held(logentic, "SPLIT-10", 2))) == (1, 1)
    seen = await _view(gateway, held["id"])
    assert "to logentic/MTL + logentic/TOR by north-america" in seen["history"][-2]["detail"]


async def test_a_pre_order_released_by_time_is_split_and_sent_by_the_background(
    make_gateway: Callable[..., Any], logentic: LogenticHandle, clock: Any
) -> None:
    _stock_apart(logentic)
    gateway = await make_gateway(routing__rules=SPLIT_RULES)
    until = datetime.fromtimestamp(clock.time() + 60, UTC).isoformat()
    status, held = await _submit(gateway, ca_order("SPLIT-11", lines=LINES, hold_until=until))
    assert status == 202, held

    await clock.advance(61)

    async def submitted() -> Any:
        view = await _view(gateway, held["id"])
        return view if view["status"] == "submitted" else None

    view = await eventually(submitted)
    assert [p["submission"]["phase"] for p in view["parts"]] == ["done", "done"]
    assert (len(_held(logentic, "SPLIT-11", 1)), len(_held(logentic, "SPLIT-11", 2))) == (1, 1)


@pytest.mark.parametrize("failure", ["error", "cancel"])
async def test_a_split_order_stored_by_a_request_that_failed_answers_the_retry_whole(
    make_gateway: Callable[..., Any], logentic: LogenticHandle, failure: str, clock: Any
) -> None:
    _stock_apart(logentic)
    made, wrap = failing("insert_order", failure)
    gateway = await make_gateway(routing__rules=SPLIT_RULES, wrap_store=wrap)
    body = ca_order("SPLIT-12", lines=LINES)

    first, _ = await post(gateway, "/v1/orders", body, "k-SPLIT-12")
    status, again = await post(gateway, "/v1/orders", body, "k-SPLIT-12")

    assert made[0].failed  # the request died after storing the order and its parts
    assert first == (503 if failure == "error" else 0)
    assert status in (201, 202), again
    assert [p["part"] for p in again["parts"]] == [1, 2]
    await clock.advance(4)  # the dead request's lease on its parts runs out

    async def submitted() -> Any:
        view = await _view(gateway, again["id"])
        return view if view["status"] == "submitted" else None

    await eventually(submitted)
    assert (len(_held(logentic, "SPLIT-12", 1)), len(_held(logentic, "SPLIT-12", 2))) == (1, 1)
    assert len(logentic.sandbox.orders) == 2
