"""The store's half of superseding a rejected order, on every backend: only a rejected order
that is not superseded yet, linked both ways in the inserting transaction, once when several
processes race; and migration 007, which makes the natural key skip superseded orders, keeps
every row and link."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from gateway.errors import OrderExists
from gateway.model.orders import Phase, Status
from gateway.store import NewOrder, OrderFilter, Store, open_store
from gateway.store.postgres import POSTGRES
from gateway.store.sqlite import SQLITE
from tests.services import PostgresDatabase

NOW = 1_800_000_000.0
REJECTED = {"status": Status.REJECTED, "phase": Phase.FAILED}


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


def new(order_id: str, **changes: Any) -> NewOrder:
    return dataclasses.replace(NewOrder(order_id, "c", "E-1", "p", "w", "r", 0, "{}"), **changes)


async def insert(store: Store, order: NewOrder) -> str:
    try:
        row = await store.insert_order(
            order, now=NOW, idempotency=None, lease_owner=None, lease_until=None
        )
    except OrderExists as exc:
        return f"exists:{exc.order_id}"
    return f"new:{row.id}"


async def test_a_rejected_order_is_superseded_and_both_link(store: Store) -> None:
    await insert(store, new("ord_A", **REJECTED))

    assert await insert(store, new("ord_B", supersedes="ord_A")) == "new:ord_B"

    a, b = await store.get_order("ord_A"), await store.get_order("ord_B")
    assert a is not None
    assert b is not None
    assert (a.status, a.superseded_by, a.supersedes) == (Status.REJECTED, "ord_B", None)
    assert (b.supersedes, b.superseded_by) == ("ord_A", None)
    assert a.updated_at == b.created_at  # touched by the correction, in its transaction
    found = await store.find_by_external_id("c", "E-1")
    assert found is not None
    assert found.id == "ord_B"
    listed = await store.list_orders("c", OrderFilter(external_id="E-1"))
    assert [o.id for o in listed] == ["ord_B", "ord_A"]
    # The key is the successor's now: neither a plain insert nor a second correction gets it.
    assert await insert(store, new("ord_C")) == "exists:ord_B"
    assert await insert(store, new("ord_D", supersedes="ord_A")) == "exists:ord_B"


async def test_only_a_rejected_order_is_superseded(store: Store) -> None:
    await insert(store, new("ord_A"))
    await insert(store, new("ord_X", external_id="E-2", status=Status.CANCELLED))

    assert await insert(store, new("ord_B", supersedes="ord_A")) == "exists:ord_A"
    assert await insert(store, new("ord_Y", external_id="E-2", supersedes="ord_X")) == (
        "exists:ord_X"
    )
    a = await store.get_order("ord_A")
    assert a is not None
    assert a.superseded_by is None
    assert await store.get_order("ord_B") is None


async def test_corrections_raced_from_two_processes_store_one(store: Store, second: Store) -> None:
    await insert(store, new("ord_A", **REJECTED))

    results = await asyncio.gather(
        *(insert((store, second)[i % 2], new(f"ord_{i}", supersedes="ord_A")) for i in range(6))
    )

    winners = [r for r in results if r.startswith("new:")]
    assert len(winners) == 1, results
    winner = winners[0].removeprefix("new:")
    assert sorted(results) == sorted([f"exists:{winner}"] * 5 + [f"new:{winner}"])
    a = await store.get_order("ord_A")
    assert a is not None
    assert a.superseded_by == winner


# migration 007 -----------------------------------------------------------------------------

_AT_6 = [
    "INSERT INTO orders (id, client_id, external_id, provider, warehouse, route_rule,"
    " route_candidate, provider_order_id, status, phase, body, next_attempt_at, created_at,"
    " updated_at, provider_reference) VALUES ('ord_A', 'c', 'E-1', 'logitrail', 'w', 'r', 0,"
    " 'abc', 'rejected', 'failed', '{}', 0, '2026-01-01', '2026-01-01', 'c/E-1')",
    "INSERT INTO order_history (order_id, seq, status, source, at)"
    " VALUES ('ord_A', 1, 'accepted', 'api', '2026-01-01')",
    "INSERT INTO returns (id, client_id, order_id, provider, provider_order_id, type, status,"
    " phase, body, next_attempt_at, created_at, updated_at) VALUES ('ret_1', 'c', 'ord_A',"
    " 'logitrail', 'abc', 'customer_return', 'accepted', 'pending', '{}', 0, '2026-01-01',"
    " '2026-01-01')",
]
_DUPLICATE = _AT_6[0].replace("'ord_A'", "'ord_B'").replace("'abc'", "'def'")
_KEPT = "SELECT id, external_id, provider_order_id, provider_reference, superseded_by FROM orders"


async def test_sqlite_migration_007_keeps_every_row_and_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, path = f"sqlite:///{tmp_path}/g.db", tmp_path / "g.db"
    every = SQLITE.migrations()
    monkeypatch.setattr(SQLITE, "migrations", lambda: [m for m in every if m[0] < 7])
    await (await open_store(url)).close()
    with sqlite3.connect(path) as db:
        for statement in _AT_6:
            db.execute(statement)
    monkeypatch.setattr(SQLITE, "migrations", lambda: every)

    await (await open_store(url)).close()

    with sqlite3.connect(path) as db:
        db.execute("PRAGMA foreign_keys = ON")
        assert db.execute(_KEPT).fetchall() == [("ord_A", "E-1", "abc", "c/E-1", None)]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        assert db.execute("SELECT order_id FROM order_history").fetchall() == [("ord_A",)]
        assert db.execute("SELECT order_id FROM returns").fetchall() == [("ord_A",)]
        with pytest.raises(sqlite3.IntegrityError):
            db.execute(_DUPLICATE)  # the natural key still holds for live orders
        with pytest.raises(sqlite3.IntegrityError):
            db.execute(_AT_6[1].replace("'ord_A'", "'ord_none'"))  # foreign keys hold
        db.execute("UPDATE orders SET superseded_by = 'ord_B' WHERE id = 'ord_A'")
        db.execute(_DUPLICATE)  # but not over a superseded one
        indexes = {r[1] for r in db.execute("PRAGMA index_list(orders)")}
    assert {
        "orders_client_external_id",
        "orders_by_external_id",
        "orders_by_client",
        "orders_due",
        "orders_by_provider_id",
        "orders_to_poll",
        "orders_provider_order",
    } <= indexes


async def test_postgres_migration_007_keeps_every_row_and_link(
    postgres_db: PostgresDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = await postgres_db.new_schema_url()
    every = POSTGRES.migrations()
    monkeypatch.setattr(POSTGRES, "migrations", lambda: [m for m in every if m[0] < 7])
    await (await open_store(url)).close()
    conn = await asyncpg.connect(url)
    try:
        for statement in _AT_6:
            await conn.execute(statement.replace("'2026-01-01'", "'2026-01-01T00:00:00Z'"))
        monkeypatch.setattr(POSTGRES, "migrations", lambda: every)

        await (await open_store(url)).close()

        assert [tuple(r) for r in await conn.fetch(_KEPT)] == [
            ("ord_A", "E-1", "abc", "c/E-1", None)
        ]
        duplicate = _DUPLICATE.replace("'2026-01-01'", "'2026-01-01T00:00:00Z'")
        with pytest.raises(asyncpg.UniqueViolationError) as taken:
            await conn.execute(duplicate)
        assert taken.value.constraint_name == "orders_client_external_id"  # what the store reads
        await conn.execute("UPDATE orders SET superseded_by = 'ord_B' WHERE id = 'ord_A'")
        await conn.execute(duplicate)
    finally:
        await conn.close()
