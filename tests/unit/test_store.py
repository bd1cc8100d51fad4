"""The store contract, run against every backend (SQLite and PostgreSQL; see `store_url`):
idempotency outcomes, natural key, leases, phases, history, webhook events — and what several
processes on one database must never do (two leases on one order, two owners of one key).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import orjson
import pytest

from gateway.errors import LeaseLost, OrderExists, StoreUnavailable
from gateway.model.lifecycle import Outcome
from gateway.model.orders import Phase, Status
from gateway.store import (
    BeginOutcome,
    NewOrder,
    OrderFilter,
    Store,
    StoredEvent,
    Transition,
    open_store,
)
from gateway.store.postgres import open_postgres
from gateway.store.postgres_pool import connect_pool
from tests.services import PostgresDatabase

NOW = 1_800_000_000.0


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    s = await open_store(store_url)
    yield s
    await s.close()


@pytest.fixture
async def second(store: Store, store_url: str) -> AsyncIterator[Store]:
    """Another process's view of the same database (its own connection or pool)."""
    s = await open_store(store_url)
    yield s
    await s.close()


def new(order_id: str = "ord_1", external_id: str = "E-1", client: str = "c") -> NewOrder:
    return NewOrder(
        id=order_id,
        client_id=client,
        external_id=external_id,
        provider="p",
        warehouse="w",
        route_rule="r",
        route_candidate=0,
        body="{}",
    )


async def test_a_claim_and_its_answer_are_seen_by_another_process_at_once(
    store: Store, second: Store
) -> None:
    """Neither is waited on to be durable (a crash repairs their loss), yet no other process
    ever misses one: it sees it, or waits for it."""
    args = {"now": NOW, "lock_s": 30.0, "ttl_s": 3600.0}
    assert (await store.begin_idempotent("c", "k", "f", **args)).outcome is BeginOutcome.NEW
    assert (await second.begin_idempotent("c", "k", "f", **args)).outcome is BeginOutcome.IN_FLIGHT
    await store.finish_idempotent("c", "k", status=201, body=b'{"id": "ord_1"}')
    replay = await second.begin_idempotent("c", "k", "f", **args)
    assert (replay.outcome, replay.status, replay.body) == (
        BeginOutcome.REPLAY,
        201,
        b'{"id": "ord_1"}',
    )


async def test_postgres_skips_the_wal_flush_only_where_asked(postgres_db: PostgresDatabase) -> None:
    store = await open_postgres(await postgres_db.new_schema_url())
    try:
        async with store._db.transaction(durable=False) as db:
            assert (await db.fetch_one("SHOW synchronous_commit"))[0] == "off"
        async with store._db.transaction() as db:
            assert (await db.fetch_one("SHOW synchronous_commit"))[0] == "on"
    finally:
        await store.close()


async def test_postgres_not_durable_transactions_commit_or_roll_back_whole(
    postgres_db: PostgresDatabase,
) -> None:
    store = await open_postgres(await postgres_db.new_schema_url(), pool_size=1)
    try:
        async with store._db.transaction() as db:
            await db.execute("CREATE TABLE kept (x int)")
        async with store._db.transaction(durable=False) as db:
            await db.execute("INSERT INTO kept VALUES (?)", (1,))
        with pytest.raises(RuntimeError):
            await _insert_then(store, 2, raise_=RuntimeError("the caller fails"))
        with pytest.raises(asyncpg.DuplicateTableError):  # a failed statement: the same
            await _insert_then(store, 3, sql="CREATE TABLE kept (x int)")
        async with store._db.transaction() as db:  # the pool's one connection, usable
            assert (await db.fetch_one("SHOW synchronous_commit"))[0] == "on"
            assert [r[0] for r in await db.fetch_all("SELECT x FROM kept")] == [1]
    finally:
        await store.close()


async def _insert_then(
    store: Any, x: int, *, raise_: Exception | None = None, sql: str | None = None
) -> None:
    async with store._db.transaction(durable=False) as db:
        await db.execute("INSERT INTO kept VALUES (?)", (x,))
        if sql is not None:
            await db.execute(sql)
        if raise_ is not None:
            raise raise_


async def test_a_connection_left_in_a_transaction_comes_back_from_the_pool_rolled_back(
    postgres_db: PostgresDatabase,
) -> None:
    pool = await connect_pool(await postgres_db.new_schema_url(), max_size=1)
    try:
        async with pool.acquire() as conn:
            await conn.execute("BEGIN")
            await conn.execute("CREATE TABLE left_behind (x int)")
        async with pool.acquire() as conn:  # the same, only connection
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT to_regclass('left_behind')") is None
    finally:
        await pool.close()


async def test_begin_new_then_in_flight_then_replay(store: Store) -> None:
    first = await store.begin_idempotent("c", "k", "fp", now=NOW, lock_s=30, ttl_s=60)
    again = await store.begin_idempotent("c", "k", "fp", now=NOW + 1, lock_s=30, ttl_s=60)
    await store.finish_idempotent("c", "k", status=201, body=b'{"id":1}')
    replay = await store.begin_idempotent("c", "k", "fp", now=NOW + 2, lock_s=30, ttl_s=60)
    assert first.outcome is BeginOutcome.NEW
    assert again.outcome is BeginOutcome.IN_FLIGHT
    assert (replay.outcome, replay.status, replay.body) == (BeginOutcome.REPLAY, 201, b'{"id":1}')


async def test_begin_with_another_body_is_a_mismatch(store: Store) -> None:
    await store.begin_idempotent("c", "k", "fp1", now=NOW, lock_s=30, ttl_s=60)
    other = await store.begin_idempotent("c", "k", "fp2", now=NOW, lock_s=30, ttl_s=60)
    assert other.outcome is BeginOutcome.MISMATCH


async def test_keys_are_scoped_per_client(store: Store) -> None:
    await store.begin_idempotent("a", "k", "fp", now=NOW, lock_s=30, ttl_s=60)
    other = await store.begin_idempotent("b", "k", "fp", now=NOW, lock_s=30, ttl_s=60)
    assert other.outcome is BeginOutcome.NEW


async def test_expired_record_is_forgotten_and_purged(store: Store) -> None:
    await store.begin_idempotent("c", "k", "fp1", now=NOW, lock_s=30, ttl_s=60)
    await store.finish_idempotent("c", "k", status=201, body=b"{}")
    assert await store.purge_idempotency(now=NOW + 30) == 0
    later = await store.begin_idempotent("c", "k", "fp2", now=NOW + 61, lock_s=30, ttl_s=60)
    assert later.outcome is BeginOutcome.NEW
    await store.finish_idempotent("c", "k", status=201, body=b"{}")
    assert await store.purge_idempotency(now=NOW + 200) == 1


async def test_dead_holder_with_a_stored_order_resumes(store: Store) -> None:
    await store.begin_idempotent("c", "k", "fp", now=NOW, lock_s=30, ttl_s=600)
    await store.insert_order(
        new(), now=NOW, idempotency=("c", "k"), lease_owner="L1", lease_until=NOW + 30
    )
    resumed = await store.begin_idempotent("c", "k", "fp", now=NOW + 31, lock_s=30, ttl_s=600)
    assert (resumed.outcome, resumed.order_id) == (BeginOutcome.RESUME, "ord_1")


async def test_dead_holder_without_order_lets_the_key_be_taken_over(store: Store) -> None:
    await store.begin_idempotent("c", "k", "fp", now=NOW, lock_s=30, ttl_s=600)
    again = await store.begin_idempotent("c", "k", "fp", now=NOW + 31, lock_s=30, ttl_s=600)
    assert again.outcome is BeginOutcome.NEW


async def test_abandon_frees_a_running_key(store: Store) -> None:
    await store.begin_idempotent("c", "k", "fp", now=NOW, lock_s=30, ttl_s=60)
    await store.abandon_idempotent("c", "k")
    assert (
        await store.begin_idempotent("c", "k", "x", now=NOW, lock_s=30, ttl_s=60)
    ).outcome is BeginOutcome.NEW


async def test_abandon_keeps_a_key_whose_order_was_stored_for_the_retry_to_resume(
    store: Store,
) -> None:
    await store.begin_idempotent("c", "k", "fp", now=NOW, lock_s=30, ttl_s=600)
    await store.insert_order(
        new(), now=NOW, idempotency=("c", "k"), lease_owner="L1", lease_until=NOW + 30
    )
    await store.abandon_idempotent("c", "k")
    # At once, not when the failed request's lock would have run out.
    retry = await store.begin_idempotent("c", "k", "fp", now=NOW + 1, lock_s=30, ttl_s=600)
    assert (retry.outcome, retry.order_id) == (BeginOutcome.RESUME, "ord_1")


async def test_abandon_leaves_a_finished_key_alone(store: Store) -> None:
    await store.begin_idempotent("c", "k", "fp", now=NOW, lock_s=30, ttl_s=600)
    await store.finish_idempotent("c", "k", status=201, body=b"{}")
    await store.abandon_idempotent("c", "k")
    again = await store.begin_idempotent("c", "k", "fp", now=NOW + 1, lock_s=30, ttl_s=600)
    assert (again.outcome, again.status) == (BeginOutcome.REPLAY, 201)


async def test_external_id_is_unique_per_client(store: Store) -> None:
    await store.insert_order(new(), now=NOW, idempotency=None, lease_owner=None, lease_until=None)
    with pytest.raises(OrderExists) as info:
        await store.insert_order(
            new("ord_2"), now=NOW, idempotency=None, lease_owner=None, lease_until=None
        )
    assert info.value.order_id == "ord_1"
    await store.insert_order(
        new("ord_3", client="other"), now=NOW, idempotency=None, lease_owner=None, lease_until=None
    )


async def test_a_live_lease_cannot_be_claimed_by_another_token(store: Store) -> None:
    await store.insert_order(
        new(), now=NOW, idempotency=None, lease_owner="A", lease_until=NOW + 30
    )
    assert await store.claim("ord_1", owner="B", now=NOW + 1, lease_until=NOW + 31) is None
    assert await store.claim_due(owner="B", now=NOW + 1, lease_until=NOW + 31, limit=10) == []
    taken = await store.claim_due(owner="B", now=NOW + 30, lease_until=NOW + 60, limit=10)
    assert [r.id for r in taken] == ["ord_1"]


async def test_advance_with_a_lost_lease_raises(store: Store) -> None:
    await store.insert_order(
        new(), now=NOW, idempotency=None, lease_owner="A", lease_until=NOW + 30
    )
    with pytest.raises(LeaseLost):
        await store.advance("ord_1", owner="B", step=Transition(phase=Phase.CREATING))


async def test_phases_status_and_history(store: Store) -> None:
    await store.insert_order(
        new(), now=NOW, idempotency=None, lease_owner="A", lease_until=NOW + 30
    )
    await store.advance(
        "ord_1", owner="A", step=Transition(phase=Phase.CREATING, count_attempt=True)
    )
    await store.advance(
        "ord_1", owner="A", step=Transition(phase=Phase.CREATED, provider_order_id="X1")
    )
    row = await store.advance(
        "ord_1", owner="A", step=Transition(phase=Phase.DONE, status=Status.SUBMITTED, release=True)
    )
    assert (row.phase, row.status, row.provider_order_id, row.attempts) == (
        Phase.DONE,
        Status.SUBMITTED,
        "X1",
        1,
    )
    history = await store.history("ord_1")
    assert [(h.status, h.source) for h in history] == [
        (Status.ACCEPTED, "api"),
        (Status.SUBMITTED, "submitter"),
    ]
    assert await store.claim("ord_1", owner="B", now=NOW + 100, lease_until=NOW + 130) is None


async def test_what_the_provider_keeps_with_its_id_is_stored_with_it(
    store: Store, second: Store
) -> None:
    for order_id, external_id in (("ord_1", "E-1"), ("ord_2", "E-2")):
        await store.insert_order(
            new(order_id, external_id),
            now=NOW,
            idempotency=None,
            lease_owner="A",
            lease_until=NOW + 30,
        )
    assert (await store.get_order("ord_1")).provider_data == {}
    kept = {"kind": "b2b"}
    step = Transition(phase=Phase.CONFIRMING, provider_order_id="X1", provider_data=kept)
    assert (await store.advance("ord_1", owner="A", step=step)).provider_data == kept
    done = Transition(phase=Phase.DONE, status=Status.SUBMITTED, release=True)
    assert (await store.advance("ord_1", owner="A", step=done)).provider_data == kept  # kept
    nothing = Transition(phase=Phase.DONE, provider_order_id="X2", provider_data={})
    await store.advance("ord_2", owner="A", step=nothing)

    # Every process reads it back, by whichever way it finds the order.
    found = await second.find_by_provider_id("p", "X1")
    polled = await second.claim_for_poll("p", now=NOW + 100, older_than=NOW + 60, limit=5)
    assert found is not None
    assert found.provider_data == kept
    assert {r.id: r.provider_data for r in polled} == {"ord_1": kept, "ord_2": {}}
    # `{}` where the provider keeps nothing: NULL is an order stored before it was kept.
    raw = await store._db.reads.fetch_all("SELECT provider_data FROM orders ORDER BY id")
    assert [orjson.loads(r[0]) for r in raw] == [kept, {}]


async def test_due_orders_wait_for_their_backoff(store: Store) -> None:
    await store.insert_order(
        new(), now=NOW, idempotency=None, lease_owner="A", lease_until=NOW + 30
    )
    await store.advance(
        "ord_1",
        owner="A",
        step=Transition(phase=Phase.PENDING, next_attempt_at=NOW + 10, release=True),
    )
    assert await store.claim_due(owner="B", now=NOW + 5, lease_until=NOW + 35, limit=5) == []
    assert len(await store.claim_due(owner="B", now=NOW + 10, lease_until=NOW + 40, limit=5)) == 1


async def test_list_is_newest_first_with_keyset_cursor(store: Store) -> None:
    for i in range(5):
        await store.insert_order(
            new(f"ord_{i}", f"E-{i}"),
            now=NOW + i,
            idempotency=None,
            lease_owner=None,
            lease_until=None,
        )
    page = await store.list_orders("c", OrderFilter(limit=2))
    rest = await store.list_orders("c", OrderFilter(limit=10, before_id=page[-1].id))
    assert [r.id for r in page] == ["ord_4", "ord_3"]
    assert [r.id for r in rest] == ["ord_2", "ord_1", "ord_0"]
    assert await store.list_orders("other", OrderFilter()) == []


async def test_migrations_are_applied_once(store_url: str) -> None:
    first = await open_store(store_url)
    await first.close()
    second = await open_store(store_url)  # a second start must not re-apply anything
    await second.ping()
    await second.close()


async def test_a_closed_store_is_unavailable(store_url: str) -> None:
    s = await open_store(store_url)
    await s.close()
    with pytest.raises(StoreUnavailable):
        await s.ping()


async def test_webhook_events_are_stored_once_and_finished(store: Store) -> None:
    event = StoredEvent("p", "ev-1", "order.updated", "X1", Status.SHIPPED, "SHIPPED", 0)
    assert await store.record_event(event, now=NOW) is True
    assert await store.record_event(event, now=NOW + 1) is False
    await store.finish_event("p", "ev-1", now=NOW + 2, error="not yet")
    [pending] = await store.unapplied_events(limit=10, max_attempts=50)
    assert (pending.event_id, pending.status, pending.attempts) == ("ev-1", Status.SHIPPED, 1)
    await store.finish_event("p", "ev-1", now=NOW + 3)
    assert await store.unapplied_events(limit=10, max_attempts=50) == []


def inbound(event_id: str, provider: str = "p") -> StoredEvent:
    return StoredEvent(provider, event_id, "order.updated", "X1", Status.SHIPPED, "SHIPPED", 0)


async def receive(
    store: Store, event_id: str, *, at: float, failures: int = 0, applied: bool = False
) -> None:
    """An inbound event received `at`, with `failures` failed attempts, then maybe applied."""
    assert await store.record_event(inbound(event_id), now=at)
    for _ in range(failures):
        await store.finish_event("p", event_id, now=at, error="no order with this id (yet)")
    if applied:
        await store.finish_event("p", event_id, now=at)


async def test_finished_webhook_events_are_purged_by_age_waiting_ones_never(store: Store) -> None:
    old, tries = NOW - 3600, 3
    await receive(store, "old-applied", at=old, applied=True)
    await receive(store, "old-applied-late", at=old, failures=tries - 1, applied=True)
    await receive(store, "old-given-up", at=old, failures=tries)
    await receive(store, "old-waiting", at=old, failures=tries - 1)
    await receive(store, "old-untried", at=old)
    await receive(store, "new-applied", at=NOW, applied=True)
    await receive(store, "new-given-up", at=NOW, failures=tries)

    assert await store.purge_webhook_events(before=old, max_attempts=tries) == 0  # none older
    assert await store.purge_webhook_events(before=NOW - 1, max_attempts=tries) == 3
    assert await store.purge_webhook_events(before=NOW - 1, max_attempts=tries) == 0

    waiting = {e.event_id for e in await store.unapplied_events(limit=10, max_attempts=tries)}
    assert waiting == {"old-waiting", "old-untried"}
    # A redelivery of a purged event is new again; of a kept one, a duplicate.
    names = ["old-applied", "old-applied-late", "old-given-up", "old-waiting", "new-applied"]
    fresh = [n for n in names if await store.record_event(inbound(n), now=NOW)]
    assert fresh == ["old-applied", "old-applied-late", "old-given-up"]


async def test_given_up_webhook_events_never_crowd_out_newer_ones(store: Store) -> None:
    for i in range(3):
        await receive(store, f"given-up-{i}", at=NOW - 10 + i, failures=2)
    await receive(store, "newer", at=NOW)

    due = await store.unapplied_events(limit=2, max_attempts=2)

    assert [e.event_id for e in due] == ["newer"]


async def test_a_webhook_purge_larger_than_one_batch_takes_every_finished_event(
    store: Store,
) -> None:
    for i in range(5):
        await receive(store, f"ev-{i}", at=NOW, applied=True)
    await store.record_event(inbound("ev-0", provider="q"), now=NOW)
    await store.finish_event("q", "ev-0", now=NOW)
    await receive(store, "waiting", at=NOW)

    assert await store.purge_webhook_events(before=NOW + 1, max_attempts=50, batch=2) == 6
    assert [e.event_id for e in await store.unapplied_events(limit=10, max_attempts=50)] == [
        "waiting"
    ]
    assert await store.record_event(inbound("ev-4"), now=NOW + 2) is True


async def test_apply_status_only_moves_forward_and_is_found_by_provider_id(store: Store) -> None:
    await store.insert_order(new(), now=NOW, idempotency=None, lease_owner="A", lease_until=NOW)
    await store.advance(
        "ord_1", owner="A", step=Transition(phase=Phase.DONE, provider_order_id="X1")
    )
    found = await store.find_by_provider_id("p", "X1")
    assert found is not None
    assert found.id == "ord_1"
    shipped = await store.apply_status(
        "ord_1", Status.SHIPPED, source="webhook", actor="logitrail", now=NOW
    )
    late = await store.apply_status(
        "ord_1", Status.IN_PROGRESS, source="poll", actor="logitrail", now=NOW
    )
    assert (shipped, late) == (Outcome.APPLIED, Outcome.IGNORED)
    assert [(h.status, h.outcome) for h in await store.history("ord_1")] == [
        (Status.ACCEPTED, Outcome.APPLIED),
        (Status.SHIPPED, Outcome.APPLIED),
        (Status.IN_PROGRESS, Outcome.IGNORED),
    ]


async def test_list_filters_by_status_provider_and_updated_since(store: Store) -> None:
    await store.insert_order(new(), now=NOW, idempotency=None, lease_owner=None, lease_until=None)
    row = await store.get_order("ord_1")
    assert row is not None
    assert await store.list_orders("c", OrderFilter(status=Status.ACCEPTED, provider="p")) != []
    assert await store.list_orders("c", OrderFilter(status=Status.SHIPPED)) == []
    assert await store.list_orders("c", OrderFilter(updated_since=row.updated_at)) != []
    assert await store.list_orders("c", OrderFilter(external_id="nope")) == []
    assert await store.get_order("ord_1", client_id="other") is None


async def test_queue_stats_counts_open_orders_per_provider_and_the_oldest_age(
    store: Store,
) -> None:
    assert await store.queue_stats(now=NOW) == {}
    await store.insert_order(new(), now=NOW, idempotency=None, lease_owner=None, lease_until=None)
    await store.insert_order(
        new("ord_2", "E-2"), now=NOW + 2, idempotency=None, lease_owner="A", lease_until=NOW + 9
    )
    other = dataclasses.replace(new("ord_3", "E-3"), provider="q")
    await store.insert_order(
        other, now=NOW + 4, idempotency=None, lease_owner=None, lease_until=None
    )
    stats = await store.queue_stats(now=NOW + 5)
    assert set(stats) == {"p", "q"}
    assert stats["p"].depth == 2
    assert stats["p"].oldest_age_s == pytest.approx(5, abs=0.01)
    assert stats["q"].depth == 1
    assert stats["q"].oldest_age_s == pytest.approx(1, abs=0.01)
    # a finished submission leaves the queue
    await store.advance("ord_2", owner="A", step=Transition(phase=Phase.DONE, release=True))
    assert (await store.queue_stats(now=NOW + 5))["p"].depth == 1


async def test_the_stored_response_is_replayed_byte_for_byte(store: Store) -> None:
    body = bytes(range(256))
    await store.begin_idempotent("c", "k", "fp", now=NOW, lock_s=30, ttl_s=60)
    await store.finish_idempotent("c", "k", status=202, body=body)
    replay = await store.begin_idempotent("c", "k", "fp", now=NOW, lock_s=30, ttl_s=60)
    assert (replay.status, replay.body) == (202, body)


# Several processes on one database -------------------------------------------------------


async def test_processes_polling_at_once_never_lease_one_order_twice(
    store: Store, second: Store
) -> None:
    for i in range(60):
        await store.insert_order(
            new(f"ord_{i:03}", f"E-{i}"),
            now=NOW,
            idempotency=None,
            lease_owner=None,
            lease_until=None,
        )

    async def poll(s: Store, owner: str) -> list[str]:
        return [
            r.id for r in await s.claim_due(owner=owner, now=NOW, lease_until=NOW + 30, limit=7)
        ]

    batches = await asyncio.gather(*(poll((store, second)[i % 2], f"w{i}") for i in range(12)))
    claimed = [order_id for batch in batches for order_id in batch]
    assert len(claimed) == len(set(claimed))  # nobody leased an order somebody else holds
    assert len(claimed) == 60
    for batch, i in zip(batches, range(12), strict=True):
        for order_id in batch:
            with pytest.raises(LeaseLost):
                await store.advance(order_id, owner=f"w{i + 1}", step=Transition(Phase.CREATING))


async def test_one_key_raced_from_two_processes_has_one_owner(store: Store, second: Store) -> None:
    outcomes = await asyncio.gather(
        *(
            (store, second)[i % 2].begin_idempotent("c", "k", "fp", now=NOW, lock_s=30, ttl_s=60)
            for i in range(10)
        )
    )
    kinds = sorted(o.outcome for o in outcomes)
    assert kinds.count(BeginOutcome.NEW) == 1
    assert kinds.count(BeginOutcome.IN_FLIGHT) == 9


async def test_one_external_id_raced_from_two_processes_is_stored_once(
    store: Store, second: Store
) -> None:
    async def insert(i: int) -> str:
        try:
            row = await (store, second)[i % 2].insert_order(
                new(f"ord_{i}", "SAME"),
                now=NOW,
                idempotency=None,
                lease_owner=None,
                lease_until=None,
            )
        except OrderExists as exc:
            return f"exists:{exc.order_id}"
        return f"new:{row.id}"

    results = await asyncio.gather(*(insert(i) for i in range(8)))
    winners = [r for r in results if r.startswith("new:")]
    assert len(winners) == 1
    assert set(results) - set(winners) == {"exists:" + winners[0].removeprefix("new:")}
