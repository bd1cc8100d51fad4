"""The console on a busy tenant, on both stores: an order's page shows its events and their
deliveries however many older events the feed holds, and the lists find (and count) stuck
and held orders below the newest page of orders. The volume goes in through the store
directly, not through thousands of HTTP calls."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from gateway.api.keys import STORE
from gateway.console import pages
from gateway.model.events import DeliveryState, NewEvent
from gateway.model.ids import ulid
from gateway.model.orders import Phase, Status
from gateway.store import NewOrder, Store
from gateway.store.outbox import append_event
from tests.conftest import eventually, order
from tests.integration.test_console import ALL_KEY, Gateway, sign_in, start, submit
from tests.integration.test_events_out import Receiver, receiver, subscriber
from tests.unit.fakes import SkipAheadClock

__all__ = ["receiver"]


@pytest.fixture
def gateway_store_url(store_url: str) -> str:
    return store_url


def store_of(gateway: Gateway) -> Store:
    store: Store = gateway.server.app[STORE]
    return store


async def busy_feed(store: Store, count: int, *, now: float) -> None:
    """`count` events of other orders of the tenant, in one transaction."""
    async with store._db.transaction() as tx:  # type: ignore[attr-defined]
        for i in range(count):
            event = NewEvent("storefront-fi", "order.updated", f"ord_other{i}", {"n": i})
            await append_event(tx, store._db.dialect, event, now=now)  # type: ignore[attr-defined]


async def test_an_order_page_shows_its_events_past_a_thousand_older_ones(
    make_gateway: Callable[..., Any], receiver: Receiver, clock: SkipAheadClock
) -> None:
    gateway = await start(
        make_gateway,
        subscribers=[subscriber(receiver.url, events=["order.*"])],
        events__dispatch_interval_s=3600,  # the test fans out itself
    )
    store = store_of(gateway)
    await busy_feed(store, 1100, now=clock.time())
    await store.fan_out("oms", "storefront-fi", ["*"], now=clock.time(), limit=5000)
    body = await submit(gateway, order("BUSY-1"))
    await store.fan_out("oms", "storefront-fi", ["*"], now=clock.time(), limit=5000)
    mine = await store.events_about("storefront-fi", body["id"], limit=10)
    assert [e.type for e in mine][:2] == ["order.accepted", "order.submitted"]
    await sign_in(gateway, ALL_KEY)
    page = await (await gateway.get(f"/console/orders/{body['id']}")).text()
    section = page[page.index('id="events"') : page.index('id="exchanges"')]
    for event in mine:
        row = section[section.index(event.id) :].split("</tr>", 1)[0]
        assert "oms: " in row, row  # its delivery
    assert "ord_other" not in section


def stored(order_id: str, at: float, *, phase: Phase, hold: str | None = None) -> NewOrder:
    if hold is not None:
        return NewOrder(
            order_id, "storefront-fi", f"E-{order_id}", "", "", "", 0, "{}",
            Status.ON_HOLD, Phase.HELD, hold_reason=hold, hold_since=at,
        )  # fmt: skip
    return NewOrder(
        order_id, "storefront-fi", f"E-{order_id}", "logitrail", "w", "r", 0, "{}",
        Status.SUBMITTED if phase is Phase.DONE else Status.ACCEPTED, phase,
    )  # fmt: skip


async def put(store: Store, new: NewOrder, at: float, *, leased: bool = False) -> str:
    # Leased to a worker that is not there: no submitter here takes a stuck one.
    owner, until = ("gone", at + 86400) if leased else (None, None)
    await store.insert_order(new, now=at, idempotency=None, lease_owner=owner, lease_until=until)
    return new.id


def listed(page: str, key: str) -> tuple[str, list[str]]:
    """A list's count as shown, and the order ids in its rows."""
    section = page[page.index(f'<section id="{key}">') :].split("</section>", 1)[0]
    count = re.search(r'<span class="count">([^<]+)</span>', section)
    assert count is not None
    return count.group(1), re.findall(r'<a href="/console/orders/([^"]+)"', section)


async def test_stuck_and_held_below_the_newest_two_hundred_orders_are_listed_and_counted(
    make_gateway: Callable[..., Any], clock: SkipAheadClock
) -> None:
    gateway = await start(make_gateway)
    store = store_of(gateway)
    now = clock.time()
    old = now - 7200
    stuck = await put(
        store, stored("ord_" + ulid(old), old, phase=Phase.CREATING), old, leased=True
    )
    held = await put(
        store, stored("ord_" + ulid(old + 1), old + 1, phase=Phase.HELD, hold="x"), old + 1
    )
    for i in range(210):
        at = now - 600 + i
        await put(store, stored("ord_" + ulid(at), at, phase=Phase.DONE), at)
    young = now - 60  # open, but not for 30 min yet
    await put(store, stored("ord_" + ulid(young), young, phase=Phase.CREATING), young, leased=True)
    await sign_in(gateway, ALL_KEY)
    page = await (await gateway.get("/console/lists?older_than_min=30")).text()
    assert listed(page, "stuck") == ("1", [stuck])
    assert listed(page, "held") == ("1", [held])
    longest = await gateway.get("/console/lists?older_than_min=100000")  # the bound: 69 days
    assert longest.status == 200
    assert listed(await longest.text(), "stuck") == ("0", [])
    assert (await gateway.get("/console/lists?older_than_min=100001")).status == 400


async def test_a_list_counts_every_order_it_holds_not_the_rows_it_shows(
    make_gateway: Callable[..., Any], clock: SkipAheadClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages, "LIST_LIMIT", 2)
    gateway = await start(make_gateway)
    store = store_of(gateway)
    now = clock.time()
    ids = [
        await put(store, stored("ord_" + ulid(at), at, phase=Phase.HELD, hold="x"), at)
        for at in (now - 30, now - 20, now - 10)
    ]
    await sign_in(gateway, ALL_KEY)
    page = await (await gateway.get("/console/lists")).text()
    assert listed(page, "held") == ("3", ids[:0:-1])  # the newest two
    assert "the newest 2 shown" in page
    monkeypatch.setattr(pages, "COUNTED_UP_TO", 3)
    page = await (await gateway.get("/console/lists")).text()
    assert listed(page, "held")[0] == "3+"


async def test_the_dead_letters_count_every_one_not_the_rows_shown(
    make_gateway: Callable[..., Any],
    receiver: Receiver,
    clock: SkipAheadClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pages, "LIST_LIMIT", 2)
    gateway = await start(
        make_gateway,
        subscribers=[subscriber(receiver.url, max_attempts=1, events=["order.updated"])],
        events__dispatch_interval_s=0.02,
    )
    store = store_of(gateway)
    await busy_feed(store, 3, now=clock.time())  # the receiver answers 503: each dies at once

    async def all_dead() -> bool:
        return await store.count_deliveries(["oms"], state=DeliveryState.DEAD, at_most=9) == 3

    await eventually(all_dead)
    await sign_in(gateway, ALL_KEY)
    page = await (await gateway.get("/console/lists")).text()
    section = page[page.index('<section id="dead">') :].split("</section>", 1)[0]
    assert '<span class="count">3</span>' in section
    assert "the oldest 2 shown" in section
    assert section.count("<tr><td>oms</td>") == 2
