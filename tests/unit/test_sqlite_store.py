"""The SQLite store: idempotency outcomes, natural key, leases, phases, history."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.model.orders import Phase, Status
from gateway.store import BeginOutcome, LeaseLost, NewOrder, OrderExists, OrderFilter, Transition
from gateway.store.sqlite import SqliteStore, migrations, statements

NOW = 1_800_000_000.0


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = await SqliteStore.open(f"sqlite:///{tmp_path}/s.db")
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


async def test_begin_new_then_in_flight_then_replay(store: SqliteStore) -> None:
    first = await store.begin_idempotent("c", "k", "fp", now=NOW, lock_s=30, ttl_s=60)
    again = await store.begin_idempotent("c", "k", "fp", now=NOW + 1, lock_s=30, ttl_s=60)
    await store.finish_idempotent("c", "k", status=201, body=b'{"id":1}')
    replay = await store.begin_idempotent("c", "k", "fp", now=NOW + 2, lock_s=30, ttl_s=60)
    assert first.outcome is BeginOutcome.NEW
    assert again.outcome is BeginOutcome.IN_FLIGHT
    assert (replay.outcome, replay.status, replay.body) == (BeginOutcome.REPLAY, 201, b'{"id":1}')


async def test_begin_with_another_body_is_a_mismatch(store: SqliteStore) -> None:
    await store.begin_idempotent("c", "k", "fp1", now=NOW, lock_s=30, ttl_s=60)
    other = await store.begin_idempotent("c", "k", "fp2", now=NOW, lock_s=30, ttl_s=60)
    assert other.outcome is BeginOutcome.MISMATCH


async def test_keys_are_scoped_per_client(store: SqliteStore) -> None:
    await store.begin_idempotent("a", "k", "fp", now=NOW, lock_s=30, ttl_s=60)
    other = await store.begin_idempotent("b", "k", "fp", now=NOW, lock_s=30, ttl_s=60)
    assert other.outcome is BeginOutcome.NEW


async def test_expired_record_is_forgotten_and_purged(store: SqliteStore) -> None:
    await store.begin_idempotent("c", "k", "fp1", now=NOW, lock_s=30, ttl_s=60)
    await store.finish_idempotent("c", "k", status=201, body=b"{}")
    assert await store.purge_idempotency(now=NOW + 30) == 0
    later = await store.begin_idempotent("c", "k", "fp2", now=NOW + 61, lock_s=30, ttl_s=60)
    assert later.outcome is BeginOutcome.NEW
    await store.finish_idempotent("c", "k", status=201, body=b"{}")
    assert await store.purge_idempotency(now=NOW + 200) == 1


async def test_dead_holder_with_a_stored_order_resumes(store: SqliteStore) -> None:
    await store.begin_idempotent("c", "k", "fp", now=NOW, lock_s=30, ttl_s=600)
    await store.insert_order(
        new(), now=NOW, idempotency=("c", "k"), lease_owner="L1", lease_until=NOW + 30
    )
    resumed = await store.begin_idempotent("c", "k", "fp", now=NOW + 31, lock_s=30, ttl_s=600)
    assert (resumed.outcome, resumed.order_id) == (BeginOutcome.RESUME, "ord_1")


async def test_dead_holder_without_order_lets_the_key_be_taken_over(store: SqliteStore) -> None:
    await store.begin_idempotent("c", "k", "fp", now=NOW, lock_s=30, ttl_s=600)
    again = await store.begin_idempotent("c", "k", "fp", now=NOW + 31, lock_s=30, ttl_s=600)
    assert again.outcome is BeginOutcome.NEW


async def test_abandon_frees_a_running_key(store: SqliteStore) -> None:
    await store.begin_idempotent("c", "k", "fp", now=NOW, lock_s=30, ttl_s=60)
    await store.abandon_idempotent("c", "k")
    assert (
        await store.begin_idempotent("c", "k", "x", now=NOW, lock_s=30, ttl_s=60)
    ).outcome is BeginOutcome.NEW


async def test_external_id_is_unique_per_client(store: SqliteStore) -> None:
    await store.insert_order(new(), now=NOW, idempotency=None, lease_owner=None, lease_until=None)
    with pytest.raises(OrderExists) as info:
        await store.insert_order(
            new("ord_2"), now=NOW, idempotency=None, lease_owner=None, lease_until=None
        )
    assert info.value.order_id == "ord_1"
    await store.insert_order(
        new("ord_3", client="other"), now=NOW, idempotency=None, lease_owner=None, lease_until=None
    )


async def test_a_live_lease_cannot_be_claimed_by_another_token(store: SqliteStore) -> None:
    await store.insert_order(
        new(), now=NOW, idempotency=None, lease_owner="A", lease_until=NOW + 30
    )
    assert await store.claim("ord_1", owner="B", now=NOW + 1, lease_until=NOW + 31) is None
    assert await store.claim_due(owner="B", now=NOW + 1, lease_until=NOW + 31, limit=10) == []
    taken = await store.claim_due(owner="B", now=NOW + 30, lease_until=NOW + 60, limit=10)
    assert [r.id for r in taken] == ["ord_1"]


async def test_advance_with_a_lost_lease_raises(store: SqliteStore) -> None:
    await store.insert_order(
        new(), now=NOW, idempotency=None, lease_owner="A", lease_until=NOW + 30
    )
    with pytest.raises(LeaseLost):
        await store.advance("ord_1", owner="B", step=Transition(phase=Phase.CREATING))


async def test_phases_status_and_history(store: SqliteStore) -> None:
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


async def test_due_orders_wait_for_their_backoff(store: SqliteStore) -> None:
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


async def test_list_is_newest_first_with_keyset_cursor(store: SqliteStore) -> None:
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


async def test_migrations_are_numbered_and_applied_once(tmp_path: Path) -> None:
    assert [v for v, _n, _s in migrations()] == sorted({v for v, _n, _s in migrations()})
    url = f"sqlite:///{tmp_path}/m.db"
    first = await SqliteStore.open(url)
    await first.close()
    second = await SqliteStore.open(url)  # a second start must not re-apply anything
    await second.ping()
    await second.close()


def test_statement_splitter_keeps_semicolons_in_comments() -> None:
    script = "-- a; b\nCREATE TABLE t (x INT); -- c;\nCREATE INDEX i ON t (x);\n"
    assert len(statements(script)) == 2
