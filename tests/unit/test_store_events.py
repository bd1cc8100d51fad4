"""The store after submission, on every backend (see `store_url`): status news through the
state machine, the outbox in the same transaction, polling order, per-order delivery heads."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.model.events import DeliveryState, NewEvent
from gateway.model.lifecycle import FINAL, RANK, Outcome
from gateway.model.orders import Phase, Status
from gateway.store import ProviderFacts, Store, Transition, open_store
from tests.unit.test_store import NOW, new


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    s = await open_store(store_url)
    yield s
    await s.close()


async def submitted(store: Store, order_id: str, *, client: str = "c") -> None:
    await store.insert_order(
        new(order_id, f"E-{order_id}", client),
        now=NOW,
        idempotency=None,
        lease_owner="me",
        lease_until=NOW + 30,
    )
    await store.advance(
        order_id,
        owner="me",
        step=Transition(
            phase=Phase.DONE, status=Status.SUBMITTED, provider_order_id=f"p-{order_id}"
        ),
    )


async def test_accept_and_submit_write_their_events_with_the_change(store: Store) -> None:
    await submitted(store, "ord_1")
    events = await store.events_after("c", after=0, limit=10)
    assert [(e.type, e.subject, e.data["status"]) for e in events] == [
        ("order.accepted", "ord_1", "accepted"),
        ("order.submitted", "ord_1", "submitted"),
    ]
    assert events[1].data["provider_order_id"] == "p-ord_1"
    assert events[0].id.startswith("evt_")


async def test_a_submission_step_keeps_facts_and_the_event_carries_them(
    store: Store,
) -> None:
    await store.insert_order(
        new("ord_1", "E-1"), now=NOW, idempotency=None, lease_owner="me", lease_until=NOW + 30
    )
    await store.advance(
        "ord_1",
        owner="me",
        step=Transition(
            phase=Phase.DONE,
            status=Status.SUBMITTED,
            provider_order_id="p-1",
            facts=ProviderFacts("confirmed", "JJ9", "https://t/JJ9"),
        ),
    )
    row = await store.get_order("ord_1")
    assert row is not None
    assert (row.provider_status, row.tracking_code) == ("confirmed", "JJ9")
    [_accepted, submitted_event] = await store.events_after("c", after=0, limit=10)
    assert submitted_event.data["tracking_code"] == "JJ9"


async def test_regression_is_recorded_once_as_ignored_and_makes_no_event(
    store: Store,
) -> None:
    await submitted(store, "ord_1")
    shipped = await store.apply_status(
        "ord_1", Status.SHIPPED, source="webhook", actor="logitrail", now=NOW + 1
    )
    stale = [
        await store.apply_status(
            "ord_1", Status.IN_PROGRESS, source="poll", actor="logitrail", now=NOW + t
        )
        for t in (2, 3, 4)
    ]

    assert shipped is Outcome.APPLIED
    assert stale == [Outcome.IGNORED] * 3
    history = await store.history("ord_1")
    assert [(h.status, h.outcome) for h in history][-2:] == [
        (Status.SHIPPED, Outcome.APPLIED),
        (Status.IN_PROGRESS, Outcome.IGNORED),
    ]
    row = await store.get_order("ord_1")
    assert row is not None
    assert row.status is Status.SHIPPED
    types = [e.type for e in await store.events_after("c", after=0, limit=10)]
    assert types == ["order.accepted", "order.submitted", "order.status_changed"]


async def test_facts_are_kept_whatever_the_verdict(store: Store) -> None:
    await submitted(store, "ord_1")
    await store.apply_status(
        "ord_1",
        Status.SUBMITTED,
        source="poll",
        actor="logitrail",
        facts=ProviderFacts("confirmed", "JJ1", "https://t/JJ1", ("s-1",)),
        now=NOW + 1,
    )
    await store.apply_status(
        "ord_1",
        Status.SHIPPED,
        source="webhook",
        actor="logitrail",
        facts=ProviderFacts(shipment_ids=("s-1", "s-2")),
        now=NOW + 2,
    )
    row = await store.get_order("ord_1")
    assert row is not None
    assert (row.provider_status, row.tracking_code, row.tracking_url) == (
        "confirmed",
        "JJ1",
        "https://t/JJ1",
    )
    assert row.shipment_ids == ("s-1", "s-2")
    assert row.synced_at == NOW + 2


async def test_poll_takes_the_oldest_open_submitted_orders_once(store: Store) -> None:
    for oid in ("ord_1", "ord_2", "ord_3", "ord_4"):
        await submitted(store, oid)
    await store.apply_status(
        "ord_1", Status.IN_PROGRESS, source="webhook", actor="logitrail", now=NOW + 50
    )
    await store.apply_status(
        "ord_2", Status.IN_PROGRESS, source="webhook", actor="logitrail", now=NOW + 10
    )
    await store.apply_status(
        "ord_3", Status.DELIVERED, source="webhook", actor="logitrail", now=NOW + 5
    )
    await store.insert_order(
        new("ord_5", "E-5"), now=NOW, idempotency=None, lease_owner=None, lease_until=None
    )  # still queued: nothing to ask the provider about

    first = await store.claim_for_poll("p", now=NOW + 100, older_than=NOW + 60, limit=2)
    second = await store.claim_for_poll("p", now=NOW + 100, older_than=NOW + 60, limit=10)

    assert [r.id for r in first] == ["ord_4", "ord_2"]  # never synced, then the oldest sync
    assert [r.id for r in second] == ["ord_1"]
    assert await store.claim_for_poll("other", now=NOW, older_than=NOW + 60, limit=9) == []


async def test_cancel_queued_only_while_nobody_holds_it(store: Store) -> None:
    await store.insert_order(
        new("ord_q", "E-q"), now=NOW, idempotency=None, lease_owner=None, lease_until=None
    )
    await store.insert_order(
        new("ord_l", "E-l"), now=NOW, idempotency=None, lease_owner="w", lease_until=NOW + 30
    )
    done = await store.cancel_queued("ord_q", by=("api", "shop"), now=NOW + 1)
    held = await store.cancel_queued("ord_l", by=("api", "shop"), now=NOW + 1)

    assert done is not None
    assert (done.status, done.phase) == (Status.CANCELLED, Phase.CANCELLED)
    assert held is None
    due = await store.claim_due(owner="x", now=NOW + 999, lease_until=NOW + 1000, limit=10)
    assert [r.id for r in due] == ["ord_l"]


async def test_only_the_oldest_pending_delivery_of_an_order_is_sent(store: Store) -> None:
    await submitted(store, "ord_1")
    await submitted(store, "ord_2")
    await store.append_event(NewEvent("c", "return.created", "ret_1", {}), now=NOW)
    await store.append_event(NewEvent("other", "order.accepted", "ord_9", {}), now=NOW)

    made = await store.fan_out("oms", "c", ["order.*"], now=NOW, limit=100)
    heads = await store.claim_deliveries("oms", now=NOW, lease_until=NOW + 60, limit=10)
    leased = await store.claim_deliveries("oms", now=NOW, lease_until=NOW + 60, limit=10)

    assert made == 4  # the return event does not match, the other tenant's is not ours
    assert [(d.event.subject, d.event.type) for d in heads] == [
        ("ord_1", "order.accepted"),
        ("ord_2", "order.accepted"),
    ]
    assert leased == []
    first = heads[0]
    await store.finish_delivery(
        "oms", first.event.seq, now=NOW, ok=False, status=500, retry_at=NOW + 5
    )
    await store.finish_delivery("oms", heads[1].event.seq, now=NOW, ok=True, status=200)
    nxt = await store.claim_deliveries("oms", now=NOW + 1, lease_until=NOW + 60, limit=10)
    assert [(d.event.subject, d.event.type) for d in nxt] == [("ord_2", "order.submitted")]
    retry = await store.claim_deliveries("oms", now=NOW + 5, lease_until=NOW + 60, limit=10)
    assert [(d.event.subject, d.attempts) for d in retry] == [("ord_1", 1)]

    await store.finish_delivery("oms", first.event.seq, now=NOW + 6, ok=False, status=0)
    dead = await store.list_deliveries(["oms"], state=DeliveryState.DEAD, after=0, limit=10)
    assert [d.event.id for d in dead] == [first.event.id]
    assert await store.fan_out("oms", "c", ["order.*"], now=NOW, limit=100) == 0  # cursor moved
    assert await store.retry_delivery("oms", first.event.id, now=NOW + 7) is DeliveryState.DEAD
    again = await store.retry_delivery("oms", first.event.id, now=NOW + 7)
    assert again is DeliveryState.PENDING  # retried already: not dead
    done = await store.retry_delivery("oms", heads[1].event.id, now=NOW + 7)
    assert done is DeliveryState.DELIVERED
    # No such event, or none for this subscriber: no delivery to retry at all.
    assert await store.retry_delivery("oms", "evt_nobody", now=NOW + 7) is None
    assert await store.retry_delivery("erp", first.event.id, now=NOW + 7) is None


NEWS = sorted(set(Status) - {Status.ACCEPTED})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.sampled_from(NEWS), st.sampled_from(["webhook", "poll"])), max_size=12)
)
def test_any_news_through_the_store_leaves_a_monotone_applied_history(
    tmp_path_factory: pytest.TempPathFactory, news: list[tuple[Status, str]]
) -> None:
    """The property of `test_lifecycle`, end to end through the store: the applied history
    never goes back along the main line, nothing follows a final status, and the feed holds
    exactly one event per applied change."""

    async def run() -> None:
        path = tmp_path_factory.mktemp("prop")
        store = await open_store(f"sqlite:///{path}/s.db")
        try:
            await submitted(store, "ord_1")
            for i, (status, source) in enumerate(news):
                await store.apply_status(
                    "ord_1", status, source=source, actor="logitrail", now=NOW + i
                )
            history = await store.history("ord_1")
            applied = [h.status for h in history if h.outcome is Outcome.APPLIED]
            ranks = [RANK[s] for s in applied if s in RANK]
            assert ranks == sorted(ranks)
            finals = [i for i, s in enumerate(applied) if s in FINAL]
            assert not finals or finals[0] == len(applied) - 1
            row = await store.get_order("ord_1")
            assert row is not None
            assert row.status is applied[-1]
            events = await store.events_after("c", after=0, limit=100)
            assert [e.data["status"] for e in events] == [s.value for s in applied]
        finally:
            await store.close()

    asyncio.run(run())


async def test_old_events_are_purged_only_once_every_subscriber_is_done(store: Store) -> None:
    await submitted(store, "ord_1")  # accepted, submitted
    await store.fan_out("oms", "c", ["order.*"], now=NOW, limit=1)  # oms has seen only #1
    [first] = await store.claim_deliveries("oms", now=NOW, lease_until=NOW + 1, limit=10)
    await store.finish_delivery("oms", first.event.seq, now=NOW, ok=True, status=200)
    later = NOW + 10 * 86400

    purged = await store.purge_events(["oms"], before=later)

    assert purged == 1  # the delivered one; the other is past the cursor of oms
    assert [e.type for e in await store.events_after("c", after=0, limit=9)] == ["order.submitted"]
    await store.fan_out("oms", "c", ["order.*"], now=NOW, limit=9)
    [second] = await store.claim_deliveries("oms", now=NOW, lease_until=NOW + 1, limit=10)
    await store.finish_delivery("oms", second.event.seq, now=NOW, ok=False, status=500)  # dead
    assert await store.purge_events(["oms"], before=later) == 0  # a dead letter keeps its event
    assert await store.purge_events(["oms"], before=NOW - 1) == 0  # nothing that old
