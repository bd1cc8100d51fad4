"""The parts of split orders in the store, on every backend: stored with their order, leased
and advanced like an order's submission, and the order's status derived from theirs —
forward-only, recorded once, announced with the part."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest

from gateway.errors import LeaseLost, ProviderOrderTaken
from gateway.model.history import Source
from gateway.model.orders import Phase, Status
from gateway.store import NewPart, PartStep, Store, open_store
from tests.unit.test_store import NOW, new

PARTS = (
    NewPart(1, "p", "w1", 0, ((0, "A", 2),), "c/E-1"),
    NewPart(2, "p", "w2", 1, ((1, "B", 1),), "c#2/E-1"),
)
DONE = PartStep(phase=Phase.DONE, status=Status.SUBMITTED, release=True)


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    s = await open_store(store_url)
    yield s
    await s.close()


async def _split(store: Store, order_id: str = "ord_1", lease: str | None = "L1") -> None:
    order = dataclasses.replace(new(order_id, f"E-{order_id}"), phase=Phase.PARTS)
    await store.insert_order(
        order,
        now=NOW,
        idempotency=None,
        lease_owner=lease,
        lease_until=None if lease is None else NOW + 30,
        parts=PARTS
        if order_id == "ord_1"
        else tuple(dataclasses.replace(p, reference=f"{p.reference}-{order_id}") for p in PARTS),
    )


async def _status(store: Store) -> Status:
    order = await store.get_order("ord_1")
    assert order is not None
    return order.status


async def test_parts_are_stored_with_the_order_and_take_its_lease(store: Store) -> None:
    await _split(store)
    order = await store.get_order("ord_1")
    assert order is not None
    assert order.phase is Phase.PARTS
    # The order itself is driven by nobody: no submitter claims it.
    assert await store.claim("ord_1", owner="X", now=NOW + 60, lease_until=NOW + 90) is None
    one, two = await store.parts_of("ord_1")
    assert (one.id, one.part, one.warehouse, one.lines, one.reference) == (
        "ord_1#1",
        1,
        "w1",
        ((0, "A", 2),),
        "c/E-1",
    )
    assert (two.id, two.phase, two.status) == ("ord_1#2", Phase.PENDING, Status.ACCEPTED)
    # Leased to the request that stored them: nobody else claims them until it runs out.
    assert await store.claim_part("ord_1#1", owner="X", now=NOW, lease_until=NOW + 30) is None
    due = await store.claim_due_parts(owner="X", now=NOW + 31, lease_until=NOW + 60, limit=10)
    assert sorted(p.id for p in due) == ["ord_1#1", "ord_1#2"]
    assert await store.parts_of("ord_missing") == []


async def test_a_step_needs_the_parts_lease(store: Store) -> None:
    await _split(store)
    with pytest.raises(LeaseLost):
        await store.advance_part("ord_1#1", owner="someone-else", step=DONE)
    before = await store.get_order("ord_1")
    moved = await store.advance_part("ord_1#1", owner="L1", step=DONE)
    assert (moved.phase, moved.status) == (Phase.DONE, Status.SUBMITTED)
    after = await store.get_order("ord_1")
    assert before is not None
    assert after is not None
    assert after.updated_at != before.updated_at  # stamped anew: `updated_since` sees it


async def test_the_order_is_submitted_once_every_part_is_and_says_by_which_part(
    store: Store,
) -> None:
    await _split(store)
    await store.advance_part("ord_1#1", owner="L1", step=DONE)
    assert await _status(store) is Status.ACCEPTED  # part 2 is not there yet
    await store.advance_part("ord_1#2", owner="L1", step=DONE)
    assert await _status(store) is Status.SUBMITTED
    history = await store.history("ord_1")
    assert [(h.status, h.detail) for h in history] == [
        (Status.ACCEPTED, None),
        (Status.SUBMITTED, "part 2"),
    ]
    events = await store.events_after("c", after=0, limit=10)
    [moved] = [e for e in events if e.data["status"] == "submitted"]
    assert moved.data["part"] == 2


async def test_news_of_a_part_is_forward_only_and_rejected_everywhere_is_rejected(
    store: Store,
) -> None:
    await _split(store)
    for part in ("ord_1#1", "ord_1#2"):
        await store.advance_part(part, owner="L1", step=DONE)
    news = PartStep(status=Status.SHIPPED, source=Source.WEBHOOK, actor="p", synced_at=NOW)
    shipped = await store.advance_part("ord_1#1", owner=None, step=news)
    assert (shipped.status, shipped.synced_at) == (Status.SHIPPED, NOW)
    back = dataclasses.replace(news, status=Status.IN_PROGRESS)
    assert (await store.advance_part("ord_1#1", owner=None, step=back)).status is Status.SHIPPED
    lost = dataclasses.replace(news, status=Status.EXCEPTION)
    await store.advance_part("ord_1#2", owner=None, step=lost)
    assert await _status(store) is Status.EXCEPTION


async def test_one_provider_order_belongs_to_one_part(store: Store) -> None:
    await _split(store)
    await _split(store, "ord_2", lease="L2")
    taken = dataclasses.replace(DONE, provider_order_id="P-1")
    await store.advance_part("ord_1#1", owner="L1", step=taken)
    with pytest.raises(ProviderOrderTaken) as info:
        await store.advance_part("ord_2#1", owner="L2", step=taken)
    assert (info.value.provider, info.value.holder) == ("p", "ord_1")
    found = await store.find_part_by_provider_id("p", "P-1")
    assert found is not None
    assert found.id == "ord_1#1"


async def test_a_part_is_cancelled_unsent_only_while_nobody_leases_it(store: Store) -> None:
    await _split(store)
    cancel = PartStep(phase=Phase.CANCELLED, status=Status.CANCELLED, source=Source.API, actor="c")
    with pytest.raises(LeaseLost):  # the request that stored it may be sending it now
        await store.advance_part("ord_1#1", owner=None, step=cancel, unsent_at=NOW)
    for part in ("ord_1#1", "ord_1#2"):
        gone = await store.advance_part(part, owner=None, step=cancel, unsent_at=NOW + 31)
        assert (gone.phase, gone.status) == (Phase.CANCELLED, Status.CANCELLED)
    assert await _status(store) is Status.CANCELLED


async def test_submitted_parts_not_final_are_polled_least_recently_synced_first(
    store: Store,
) -> None:
    await _split(store)
    for part in ("ord_1#1", "ord_1#2"):
        step = dataclasses.replace(DONE, provider_order_id=f"P-{part}")
        await store.advance_part(part, owner="L1", step=step)
    done = PartStep(status=Status.DELIVERED, source=Source.POLL, actor="p")
    await store.advance_part("ord_1#2", owner=None, step=done)
    due = await store.claim_parts_for_poll("p", now=NOW, older_than=NOW, limit=10)
    assert [p.id for p in due] == ["ord_1#1"]
    assert await store.claim_parts_for_poll("p", now=NOW, older_than=NOW - 1, limit=10) == []


async def test_a_parts_tracking_is_kept_until_news_brings_another(store: Store) -> None:
    await _split(store)
    await store.advance_part("ord_1#2", owner="L1", step=DONE)
    news = PartStep(
        status=Status.SHIPPED,
        source=Source.WEBHOOK,
        actor="p",
        tracking_code="1Z1",
        tracking_url="https://track.example/1Z1",
    )
    shipped = await store.advance_part("ord_1#2", owner=None, step=news)
    assert (shipped.tracking_code, shipped.tracking_url) == ("1Z1", "https://track.example/1Z1")
    quiet = PartStep(status=Status.SHIPPED, source=Source.POLL, actor="p", synced_at=NOW)
    await store.advance_part("ord_1#2", owner=None, step=quiet)  # says nothing of tracking
    first, second = await store.parts_of("ord_1")
    assert (first.tracking_code, first.tracking_url) == (None, None)
    assert (second.tracking_code, second.tracking_url) == ("1Z1", "https://track.example/1Z1")


async def test_the_queue_counts_each_open_part_at_its_provider_not_the_split_order(
    store: Store,
) -> None:
    await _split(store)
    apart = tuple(dataclasses.replace(p, provider="q", reference=f"{p.reference}-q") for p in PARTS)
    order = dataclasses.replace(new("ord_2", "E-2"), phase=Phase.PARTS)
    await store.insert_order(
        order, now=NOW, idempotency=None, lease_owner=None, lease_until=None, parts=apart[1:]
    )
    pending = new("ord_3", "E-3")  # an unsplit order, queued at p
    await store.insert_order(pending, now=NOW, idempotency=None, lease_owner=None, lease_until=None)
    stats = await store.queue_stats(now=NOW)
    assert {name: q.depth for name, q in stats.items()} == {"p": 3, "q": 1}
    await store.advance_part("ord_1#1", owner="L1", step=DONE)
    stats = await store.queue_stats(now=NOW)
    assert {name: q.depth for name, q in stats.items()} == {"p": 2, "q": 1}
