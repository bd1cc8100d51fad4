"""What the console reads of the store, on every backend (see `store_url`): one order's events
(its own and its returns') however long the tenant's feed, their deliveries, and the order
lists selected and counted in SQL rather than filtered from a page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from gateway.model.events import DeliveryState, NewEvent
from gateway.model.orders import OPEN_PHASES, Phase, Status
from gateway.store import NewOrder, OrderFilter, Store, open_store
from gateway.store.outbox import append_event
from tests.unit.test_returns_store import ORDER_BODY, insert
from tests.unit.test_returns_store import new as new_return

NOW = 1_800_000_000.0


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    s = await open_store(store_url)
    yield s
    await s.close()


async def feed_of(
    store: Store, count: int, *, client: str = "c", subject: str = "other", each: bool = True
) -> None:
    """`count` events in one transaction (a busy tenant's feed): of subjects `subject-<n>`
    that name `subject` in their data (or, not `each`, of `subject` itself)."""
    async with store._db.transaction() as tx:  # type: ignore[attr-defined]
        for i in range(count):
            about = f"{subject}-{i}" if each else subject
            event = NewEvent(client, "order.updated", about, {"order_id": subject, "n": i})
            await append_event(tx, store._db.dialect, event, now=NOW)  # type: ignore[attr-defined]


async def stored(
    store: Store,
    order_id: str,
    *,
    at: float = NOW,
    phase: Phase = Phase.DONE,
    client: str = "c",
    hold: str | None = None,
) -> None:
    status = Status.ON_HOLD if hold is not None else Status.SUBMITTED
    new = NewOrder(order_id, client, f"E-{order_id}", "p", "w", "r", 0, ORDER_BODY, status, phase)
    if hold is not None:
        new = NewOrder(
            order_id, client, f"E-{order_id}", "", "", "", 0, ORDER_BODY, status, Phase.HELD,
            hold_reason=hold, hold_since=at,
        )  # fmt: skip
    await store.insert_order(new, now=at, idempotency=None, lease_owner=None, lease_until=None)


async def test_an_orders_events_show_past_a_thousand_older_ones(store: Store) -> None:
    await feed_of(store, 1100)
    await stored(store, "ord_c")  # its order.submitted
    await feed_of(store, 5, subject="later")
    await feed_of(store, 3, client="d", subject="ord_c", each=False)  # another tenant's
    events = await store.events_about("c", "ord_c", limit=200)
    assert [(e.subject, e.type) for e in events] == [("ord_c", "order.submitted")]


async def test_the_newest_events_oldest_first_and_the_returns_events_too(store: Store) -> None:
    await stored(store, "ord_c")
    await insert(store, new_return("ret_1"))  # its return.accepted: subject ret_1
    await feed_of(store, 4, subject="ord_c")  # subjects ord_c-0 …: about it, not it
    await feed_of(store, 3, subject="ord_c", each=False)
    every = await store.events_about("c", "ord_c", limit=200)
    assert [e.subject for e in every] == ["ord_c", "ret_1", "ord_c", "ord_c", "ord_c"]
    assert [e.seq for e in every] == sorted(e.seq for e in every)
    newest = await store.events_about("c", "ord_c", limit=2)
    assert [e.data["n"] for e in newest] == [1, 2]
    assert await store.events_about("d", "ord_c", limit=200) == []


async def test_deliveries_of_the_events_named_to_the_subscribers_named(store: Store) -> None:
    await feed_of(store, 1100)
    await stored(store, "ord_c")
    for subscriber in ("a", "b"):
        assert await store.fan_out(subscriber, "c", ["*"], now=NOW, limit=5000) == 1101
    [event] = await store.events_about("c", "ord_c", limit=10)
    found = await store.deliveries_of(["a", "b", "z"], [event.seq])
    assert [(d.subscriber, d.event.id, d.state) for d in found] == [
        ("a", event.id, DeliveryState.PENDING),
        ("b", event.id, DeliveryState.PENDING),
    ]
    assert await store.deliveries_of(["b"], [event.seq, event.seq - 1]) != []
    assert await store.deliveries_of([], [event.seq]) == []
    assert await store.deliveries_of(["a"], []) == []


async def test_count_of_deliveries_in_a_state_stops_where_asked(store: Store) -> None:
    await feed_of(store, 5)
    await store.fan_out("a", "c", ["*"], now=NOW, limit=100)
    for d in await store.claim_deliveries("a", now=NOW, lease_until=NOW + 30, limit=3):
        await store.finish_delivery("a", d.event.seq, now=NOW, ok=False, status=500)
    dead = DeliveryState.DEAD
    assert await store.count_deliveries(["a", "b"], state=dead, at_most=100) == 3
    assert await store.count_deliveries(["a"], state=DeliveryState.PENDING, at_most=100) == 2
    assert await store.count_deliveries(["a"], state=dead, at_most=2) == 2
    assert await store.count_deliveries([], state=dead, at_most=100) == 0


async def test_stuck_and_held_are_selected_in_sql_below_the_newest_page(store: Store) -> None:
    await stored(store, "ord_00stuck", at=NOW - 7200, phase=Phase.CREATING)
    await stored(store, "ord_01held", at=NOW - 7000, hold="fraud-check")
    await stored(store, "ord_02young", at=NOW - 60, phase=Phase.PENDING)
    for i in range(5):
        await stored(store, f"ord_1{i}", at=NOW - 50 + i)  # done: neither
    await stored(store, "ord_9other", at=NOW - 7200, phase=Phase.PENDING, client="d")
    cutoff = datetime.fromtimestamp(NOW - 1800, UTC)
    stuck = OrderFilter(phases=OPEN_PHASES, created_before=cutoff, limit=2)
    assert [r.id for r in await store.list_orders("c", stuck)] == ["ord_00stuck"]
    assert await store.count_orders("c", stuck, at_most=100) == 1
    held = OrderFilter(phases=frozenset({Phase.HELD}), limit=2)
    assert [r.id for r in await store.list_orders("c", held)] == ["ord_01held"]
    assert await store.count_orders("c", held, at_most=100) == 1
    open_now = OrderFilter(phases=OPEN_PHASES, limit=1)
    assert [r.id for r in await store.list_orders("c", open_now)] == ["ord_02young"]
    assert await store.count_orders("c", open_now, at_most=100) == 2
    assert await store.count_orders("c", OrderFilter(), at_most=100) == 8
    assert await store.count_orders("c", OrderFilter(), at_most=3) == 3
    nothing = OrderFilter(phases=frozenset())
    assert await store.list_orders("c", nothing) == []
    assert await store.count_orders("c", nothing, at_most=100) == 0
