"""Holds before routing, their release (by a caller, by time, exactly once across replicas and
restarts), and ship-by deadlines (`order.late` once), on both stores."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.api.keys import STORE
from gateway.model.orders import Status
from gateway.sandbox.logitrail import Fault
from gateway.store import open_store
from gateway.store.holds import Route
from tests.conftest import (
    FLEXPORT_RULES,
    SandboxHandle,
    auth,
    b2b_order,
    eventually,
    order,
    order_calls,
    read_json,
    ref,
)
from tests.unit.fakes import SkipAheadClock

Gateway = TestClient[Any, Any]

FRAUD_RULE = {"name": "fraud-check", "when": {"tags_any": ["risky"]}}
RULES = [{"name": "big", "when": {"lines": {"min": 100}}}, FRAUD_RULE]


@pytest.fixture
def gateway_store_url(store_url: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return store_url


def at(clock: SkipAheadClock, ahead_s: float) -> str:
    return datetime.fromtimestamp(clock.time() + ahead_s, UTC).isoformat().replace("+00:00", "Z")


async def submit(gateway: Gateway, body: dict[str, Any], status: int = 201) -> Any:
    resp = await gateway.post("/v1/orders", json=body, headers=auth(key=f"k-{body['external_id']}"))
    assert resp.status == status, await resp.text()
    return await read_json(resp)


async def view(gateway: Gateway, order_id: str) -> Any:
    return await read_json(await gateway.get(f"/v1/orders/{order_id}", headers=auth()))


async def submitted(gateway: Gateway, order_id: str) -> Any:
    """The order once a background round has sent it (a round may still be running when the
    clock's advance returns: it waits on the database, not the clock)."""

    async def check() -> Any:
        seen = await view(gateway, order_id)
        return seen if seen["status"] == "submitted" else None

    return await eventually(check)


async def events(gateway: Gateway, order_id: str) -> list[dict[str, Any]]:
    feed = await read_json(await gateway.get("/v1/events?limit=200", headers=auth()))
    return [e for e in feed["items"] if e["data"]["order_id"] == order_id]


def types(found: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in found]


async def test_a_hold_rule_stores_the_order_on_hold_and_sends_it_nowhere(
    make_gateway: Callable[..., Any], logitrail: SandboxHandle
) -> None:
    gateway = await make_gateway(holds=RULES)
    held = await submit(gateway, order("H-1", tags=["risky"]), status=202)
    assert held["status"] == "on_hold"
    assert held["hold"]["reason"] == "fraud-check"
    assert held["hold"]["until"] is None
    assert (held["provider"], held["warehouse"], held["route"]) == (None, None, None)
    assert held["submission"]["phase"] == "held"
    assert order_calls(logitrail) == []
    seen = await view(gateway, held["id"])
    assert [(h["status"], h["source"]) for h in seen["history"]] == [
        ("accepted", "api"),
        ("on_hold", "api"),
    ]
    found = await events(gateway, held["id"])
    assert types(found) == ["order.accepted", "order.held"]
    assert found[1]["data"]["actor"] == "storefront-fi"
    assert found[1]["data"]["provider"] is None
    assert "fraud-check" in found[1]["data"]["detail"]
    # Not matching any hold rule: routed and sent as ever.
    plain = await submit(gateway, order("H-2"))
    assert plain["status"] == "submitted"
    assert plain["hold"] is None


async def test_a_release_routes_and_sends_the_order_once(
    make_gateway: Callable[..., Any], logitrail: SandboxHandle
) -> None:
    gateway = await make_gateway(holds=RULES)
    held = await submit(gateway, order("R-1", tags=["risky"]), status=202)
    resp = await gateway.post(f"/v1/orders/{held['id']}/release", headers=auth())
    assert resp.status == 201, await resp.text()
    released = await read_json(resp)
    assert released["status"] == "submitted"
    assert (released["provider"], released["route"]["rule"]) == ("logitrail", "nordics")
    assert released["hold"] is None
    assert order_calls(logitrail).count("create") == 1
    again = await gateway.post(f"/v1/orders/{held['id']}/release", headers=auth())
    assert again.status == 409
    problem = await read_json(again)
    assert problem["code"] == "not-held"
    assert order_calls(logitrail).count("create") == 1
    kinds = types(await events(gateway, held["id"]))
    assert kinds[:3] == ["order.accepted", "order.held", "order.released"]
    assert "order.submitted" in kinds


async def test_an_order_at_its_provider_cannot_be_held(make_gateway: Callable[..., Any]) -> None:
    gateway = await make_gateway(holds=RULES)
    sent = await submit(gateway, order("N-1"))
    resp = await gateway.post(
        f"/v1/orders/{sent['id']}/hold", json={"reason": "check address"}, headers=auth()
    )
    assert resp.status == 409
    problem = await read_json(resp)
    assert problem["code"] == "not-holdable"
    assert "logitrail" in problem["detail"]
    other = await gateway.post(
        f"/v1/orders/{sent['id']}/hold", json={"reason": "x"}, headers=auth("storefront-se")
    )
    assert other.status == 404


async def test_a_caller_changes_a_hold_and_another_tenant_cannot_release_it(
    make_gateway: Callable[..., Any], clock: SkipAheadClock
) -> None:
    gateway = await make_gateway(holds=RULES)
    held = await submit(gateway, order("C-1", tags=["risky"]), status=202)
    until = at(clock, 3600)
    resp = await gateway.post(
        f"/v1/orders/{held['id']}/hold",
        json={"reason": "wait for stock", "until": until},
        headers=auth(),
    )
    assert resp.status == 200, await resp.text()
    changed = await read_json(resp)
    assert changed["hold"]["reason"] == "wait for stock"
    assert changed["hold"]["until"].startswith(until[:19])
    foreign = await gateway.post(f"/v1/orders/{held['id']}/release", headers=auth("storefront-se"))
    assert foreign.status == 404
    assert (await view(gateway, held["id"]))["status"] == "on_hold"


async def test_hold_until_releases_a_pre_order_by_itself(
    make_gateway: Callable[..., Any], logitrail: SandboxHandle, clock: SkipAheadClock
) -> None:
    gateway = await make_gateway()
    held = await submit(gateway, order("P-1", hold_until=at(clock, 2)), status=202)
    assert held["hold"]["reason"] == "hold_until"
    await clock.advance(1)
    assert order_calls(logitrail) == []
    await clock.advance(2)
    seen = await submitted(gateway, held["id"])
    release = [h for h in seen["history"] if h["source"] == "release"]
    assert len(release) == 1
    assert release[0]["status"] == "accepted"
    assert order_calls(logitrail).count("create") == 1


async def test_a_held_order_can_be_cancelled_in_the_gateway(
    make_gateway: Callable[..., Any], logitrail: SandboxHandle
) -> None:
    gateway = await make_gateway(holds=RULES)
    held = await submit(gateway, order("X-1", tags=["risky"]), status=202)
    resp = await gateway.post(f"/v1/orders/{held['id']}/cancel", headers=auth())
    assert resp.status == 200, await resp.text()
    cancelled = await read_json(resp)
    assert cancelled["status"] == "cancelled"
    assert cancelled["hold"] is None
    assert order_calls(logitrail) == []


async def test_two_replicas_release_a_hold_exactly_once(
    make_gateway: Callable[..., Any],
    logitrail: SandboxHandle,
    clock: SkipAheadClock,
    store_url: str,
) -> None:
    if store_url.startswith("sqlite"):
        pytest.skip("one process per SQLite file: replicas share PostgreSQL")
    first = await make_gateway(server__replicas=2)
    second = await make_gateway(server__replicas=2)
    held = await submit(first, order("T-1", hold_until=at(clock, 2)), status=202)
    await clock.advance(4)
    seen = await submitted(second, held["id"])
    assert [h["source"] for h in seen["history"]].count("release") == 1
    assert types(await events(first, held["id"])).count("order.released") == 1
    assert order_calls(logitrail).count("create") == 1


async def test_two_replicas_announce_a_late_order_exactly_once(
    make_gateway: Callable[..., Any], clock: SkipAheadClock, store_url: str
) -> None:
    if store_url.startswith("sqlite"):
        pytest.skip("one process per SQLite file: replicas share PostgreSQL")
    first = await make_gateway(server__replicas=2)
    second = await make_gateway(server__replicas=2)
    sent = [await submit(first, order(f"TL-{i}", ship_by=at(clock, 2))) for i in range(5)]
    await clock.advance(4)

    async def all_flagged() -> Any:
        feed = [types(await events(second, o["id"])) for o in sent]
        return all("order.late" in kinds for kinds in feed) and feed

    for kinds in await eventually(all_flagged):
        assert kinds.count("order.late") == 1


async def test_a_release_survives_a_restart_on_either_side_of_its_claim(
    make_gateway: Callable[..., Any],
    logitrail: SandboxHandle,
    clock: SkipAheadClock,
    gateway_store_url: str,
) -> None:
    """Before the claim, the next start releases the order; after it (claimed, nothing sent
    yet), the next start's submitter sends it: once either way."""
    gateway = await make_gateway()
    before = await submit(gateway, order("S-1", hold_until=at(clock, 2)), status=202)
    after = await submit(gateway, order("S-2", hold_until=at(clock, 2)), status=202)
    await gateway.close()  # the process is gone before either hold runs out
    await clock.advance(3)
    store = await open_store(gateway_store_url)
    try:
        claimed = await store.release_hold(
            after["id"],
            Route("logitrail", "FI-VANTAA", "nordics", 0),
            lease_owner="dead-process",
            lease_until=clock.time() + 1,
            source="release",
            actor="submitter",
            detail="hold ran out",
            now=clock.time(),
        )
        assert claimed is not None
    finally:
        await store.close()
    restarted = await make_gateway()
    await clock.advance(5)
    for held in (before, after):
        seen = await submitted(restarted, held["id"])
        assert [h["source"] for h in seen["history"]].count("release") == 1
    assert order_calls(logitrail).count("create") == 2


async def test_an_order_not_shipped_by_its_ship_by_is_late_once(
    make_gateway: Callable[..., Any], clock: SkipAheadClock
) -> None:
    gateway = await make_gateway()
    late = await submit(gateway, order("L-1", ship_by=at(clock, 2)))
    on_time = await submit(gateway, order("L-2", ship_by=at(clock, 3600)))
    await clock.advance(3)

    async def flagged() -> Any:
        return "order.late" in types(await events(gateway, late["id"]))

    await eventually(flagged)
    await clock.advance(2)
    found = types(await events(gateway, late["id"]))
    assert found.count("order.late") == 1
    assert "order.late" not in types(await events(gateway, on_time["id"]))
    listed = await read_json(await gateway.get("/v1/orders?late=true", headers=auth()))
    assert [o["id"] for o in listed["items"]] == [late["id"]]
    assert listed["items"][0]["late_at"] is not None
    not_late = await read_json(await gateway.get("/v1/orders?late=false", headers=auth()))
    assert late["id"] not in [o["id"] for o in not_late["items"]]

    async def counted() -> Any:
        metrics = await (await gateway.get("/metrics")).text()
        return 'gateway_orders_late{provider="logitrail"} 1.0' in metrics

    await eventually(counted)
    store = gateway.app[STORE]
    assert await store.mark_late(now=clock.time() + 10, limit=10) == []


async def test_an_order_that_ships_after_its_ship_by_is_late_once_though_no_check_saw_it(
    make_gateway: Callable[..., Any], clock: SkipAheadClock
) -> None:
    gateway = await make_gateway()
    sent = await submit(gateway, order("L-3", ship_by=at(clock, 2)))
    store = gateway.app[STORE]
    # The provider's news that it shipped arrives after the deadline, before any late check.
    shipped_at = clock.time() + 5
    for status in (Status.SHIPPED, Status.DELIVERED):
        await store.apply_status(
            sent["id"], status, source="webhook", actor="logitrail", now=shipped_at
        )
    assert types(await events(gateway, sent["id"])).count("order.late") == 1
    assert await store.mark_late(now=shipped_at + 10, limit=10) == []
    listed = await read_json(await gateway.get("/v1/orders?late=true", headers=auth()))
    assert listed["items"] == []  # late, but no longer waiting to ship


async def test_explain_shows_the_hold_rule_that_matched_and_why_others_did_not(
    make_gateway: Callable[..., Any],
) -> None:
    gateway = await make_gateway(holds=RULES)
    resp = await gateway.post(
        "/v1/routing/explain", json=order("E-1", tags=["risky"]), headers=auth()
    )
    assert resp.status == 200, await resp.text()
    explained = await read_json(resp)
    assert explained["hold"] == {"reason": "fraud-check", "until": None}
    assert [(r["rule"], r["matched"]) for r in explained["holds"]] == [
        ("big", False),
        ("fraud-check", True),
    ]
    assert "below min 100" in explained["holds"][0]["conditions"][0]["detail"]
    assert explained["decision"]["rule"] == "nordics"


async def test_a_b2b_ship_by_too_soon_for_flexport_is_refused_before_any_call(
    make_gateway: Callable[..., Any], flexport: Any, clock: SkipAheadClock
) -> None:
    gateway = await make_gateway(routing__rules=FLEXPORT_RULES)
    soon = b2b_order("WH-S1", ship_by=at(clock, 3600))
    resp = await gateway.post("/v1/orders", json=soon, headers=auth(key="k-ws1"))
    assert resp.status == 422, await resp.text()
    problem = await read_json(resp)
    assert problem["code"] == "provider-rules"
    assert [e["loc"] for e in problem["errors"]] == ["ship_by"]
    assert "three business days" in problem["errors"][0]["msg"]
    assert order_calls(flexport) == []
    later = await submit(gateway, b2b_order("WH-S2", ship_by=at(clock, 14 * 86400)))
    [create] = [r for r in flexport.sandbox.requests if r.op == "b2b_create"]
    assert create.body["shipBy"] == later["order"]["ship_by"][:19] + "Z"


async def test_routing_tests_the_hours_left_until_ship_by(
    make_gateway: Callable[..., Any], clock: SkipAheadClock
) -> None:
    urgent = {
        "name": "urgent",
        "when": {"ship_by_within_h": {"max": 24}},
        "candidates": [{"provider": "logentic", "warehouse": "MTL"}],
    }
    gateway = await make_gateway(routing__rules=[urgent, *FLEXPORT_RULES])
    for ahead, rule in ((3600, "urgent"), (3 * 86400, "nordics")):
        body = order(f"U-{ahead}", ship_by=at(clock, ahead))
        resp = await gateway.post("/v1/routing/explain", json=body, headers=auth())
        explained = await read_json(resp)
        assert explained["decision"]["rule"] == rule, explained
    [condition] = explained["trace"][0]["conditions"]
    assert condition["condition"] == "ship_by_within_h"
    assert "above max 24" in condition["detail"]


async def test_a_caller_holds_an_order_queued_for_its_provider(
    make_gateway: Callable[..., Any], logitrail: SandboxHandle, clock: SkipAheadClock
) -> None:
    gateway = await make_gateway(
        providers__logitrail__circuit={"failure_threshold": 1, "cool_down_s": 1},
        server__request_budget_s=0.5,
        submission__backoff_base_s=0.05,
        submission__backoff_max_s=0.5,
    )
    logitrail.sandbox.inject(Fault(op="*", status=503, count=None))  # provider down
    await gateway.post("/v1/orders", json=order("QH-1"), headers=auth(key="k-QH-1"))  # opens it
    queued = await submit(gateway, order("QH-2"), status=202)
    assert queued["status"] == "accepted"

    async def hold() -> Any:
        # While the submitter holds the order's lease a hold is refused for now: retry.
        resp = await gateway.post(
            f"/v1/orders/{queued['id']}/hold", json={"reason": "address check"}, headers=auth()
        )
        return await read_json(resp) if resp.status == 200 else None

    held = await eventually(hold)
    assert held["status"] == "on_hold"
    assert held["hold"]["reason"] == "address check"
    logitrail.sandbox.clear_faults()
    await clock.advance(3)  # past the circuit's cool-down and any backoff
    await eventually(lambda: _at_provider(logitrail, "QH-1"))  # the queue moved on…
    assert not await _at_provider(logitrail, "QH-2")  # …without the held order
    resp = await gateway.post(f"/v1/orders/{queued['id']}/release", headers=auth())
    assert resp.status == 201, await resp.text()
    assert (await read_json(resp))["status"] == "submitted"
    assert len(await _at_provider(logitrail, "QH-2")) == 1
    history = (await view(gateway, queued["id"]))["history"]
    assert [h["status"] for h in history if h["source"] == "api"][:2] == ["accepted", "on_hold"]


async def _at_provider(logitrail: SandboxHandle, external_id: str) -> list[Any]:
    return list(logitrail.sandbox.orders_by_merchant_order(ref(external_id)))
