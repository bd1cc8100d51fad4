"""Migrations: the same numbered versions on every backend, applied once, under a lock."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from pathlib import Path

import asyncpg
import pytest

from gateway.errors import MigrationBlocked, StoreUnavailable
from gateway.model.orders import Phase
from gateway.store import NewOrder, Transition, open_store
from gateway.store.outbox import EVENTS_ABOUT
from gateway.store.postgres import POSTGRES
from gateway.store.sqlite import SQLITE, statements
from tests.services import PostgresDatabase


def test_every_backend_has_the_same_migration_versions() -> None:
    sqlite = [(v, n) for v, n, _s in SQLITE.migrations()]
    postgres = [(v, n) for v, n, _s in POSTGRES.migrations()]
    assert sqlite == postgres, "a migration exists for one dialect only: write the other"
    assert [v for v, _n in sqlite] == sorted({v for v, _n in sqlite})


def test_statement_splitter_keeps_semicolons_in_comments() -> None:
    script = "-- a; b\nCREATE TABLE t (x INT); -- c;\nCREATE INDEX i ON t (x);\n"
    assert len(statements(script)) == 2


async def test_replicas_starting_together_apply_each_migration_once(
    postgres_db: PostgresDatabase,
) -> None:
    url = await postgres_db.new_schema_url()
    stores = await asyncio.gather(*(open_store(url) for _ in range(4)))
    for s in stores:
        await s.close()
    conn = await asyncpg.connect(url)
    try:
        versions = [r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")]
    finally:
        await conn.close()
    assert sorted(versions) == [v for v, _n, _s in POSTGRES.migrations()]


async def test_without_migrate_on_start_a_database_that_is_behind_is_refused(
    postgres_db: PostgresDatabase,
) -> None:
    url = await postgres_db.new_schema_url()
    with pytest.raises(StoreUnavailable, match="gateway migrate"):
        await open_store(url, migrate=False)
    migrated = await open_store(url)
    await migrated.close()
    ready = await open_store(url, migrate=False)
    await ready.ping()
    await ready.close()


async def gateway_cli(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={"PATH": os.environ.get("PATH", ""), "GATEWAY_LOG_FORMAT": "json"},
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return int(proc.returncode or 0), out.decode()


async def test_gateway_migrate_applies_pending_migrations_then_reports_up_to_date(
    postgres_db: PostgresDatabase, tmp_path: Path
) -> None:
    url = await postgres_db.new_schema_url()
    config = tmp_path / "gateway.toml"
    config.write_text(f'[store]\nurl = "{url}"\nmigrate_on_start = false\n')
    # serve refuses a database that is behind when it is not to migrate by itself
    code, out = await gateway_cli("serve", "--config", str(config), "--port", "0")
    assert code != 0
    assert "gateway migrate" in out
    code, out = await gateway_cli("migrate", "--config", str(config))
    versions = [v for v, _n, _s in POSTGRES.migrations()]
    assert (code, out.splitlines()[-1]) == (0, f"migrated: applied {versions}")
    code, out = await gateway_cli("migrate", "--config", str(config))
    assert (code, out.splitlines()[-1]) == (0, "migrated: already up to date")


async def test_gateway_migrate_waits_for_the_database_then_says_why_it_cannot(
    tmp_path: Path, unused_tcp_port: int
) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'[store]\nurl = "postgresql://127.0.0.1:{unused_tcp_port}/none"\nconnect_wait_s = 0.3\n'
    )
    code, out = await gateway_cli("migrate", "--config", str(config))
    assert code == 1
    assert '"event":"store.connect.retry"' in out
    assert out.splitlines()[-1].startswith(
        f"gateway: cannot migrate: PostgreSQL at 127.0.0.1:{unused_tcp_port}/none still"
        " unreachable after "
    )


# migration 006: one gateway order per provider order -------------------------------------

_DUPLICATE_ROWS = [
    ("ord_A", "shop", "E-1", "logitrail", "abc"),
    ("ord_B", "other", "E-1", "logitrail", "abc"),
    ("ord_C", "shop", "E-2", "logitrail", "def"),
]


def _insert(placeholders: list[str]) -> str:
    return (
        "INSERT INTO orders (id, client_id, external_id, provider, warehouse, route_rule,"
        " route_candidate, provider_order_id, status, phase, body, next_attempt_at,"
        " created_at, updated_at) VALUES"
        f" ({placeholders[0]}, {placeholders[1]}, {placeholders[2]}, {placeholders[3]}, 'w',"
        f" 'r', 0, {placeholders[4]}, 'submitted', 'done', '{{}}', 0, CURRENT_TIMESTAMP,"
        " CURRENT_TIMESTAMP)"
    )


async def test_sqlite_migration_refuses_while_two_orders_hold_one_provider_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path}/g.db"
    every = SQLITE.migrations()
    monkeypatch.setattr(SQLITE, "migrations", lambda: [m for m in every if m[0] < 6])
    store = await open_store(url)  # at version 5
    await store.close()
    with sqlite3.connect(tmp_path / "g.db") as db:
        db.executemany(_insert(["?"] * 5), _DUPLICATE_ROWS)
    monkeypatch.setattr(SQLITE, "migrations", lambda: every)

    with pytest.raises(MigrationBlocked) as info:
        await open_store(url)
    assert "logitrail abc held by 2 rows (ord_A … ord_B)" in str(info.value)
    assert "def" not in str(info.value)
    with sqlite3.connect(tmp_path / "g.db") as db:
        assert db.execute("SELECT MAX(version) FROM schema_migrations").fetchone() == (5,)
        db.execute("UPDATE orders SET provider_order_id = NULL WHERE id = 'ord_B'")
    store = await open_store(url)  # settled: it applies
    await store.close()


async def test_postgres_migration_refuses_while_two_orders_hold_one_provider_order(
    postgres_db: PostgresDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = await postgres_db.new_schema_url()
    every = POSTGRES.migrations()
    monkeypatch.setattr(POSTGRES, "migrations", lambda: [m for m in every if m[0] < 6])
    store = await open_store(url)
    await store.close()
    conn = await asyncpg.connect(url)
    try:
        await conn.executemany(_insert([f"${i}" for i in range(1, 6)]), _DUPLICATE_ROWS)
        monkeypatch.setattr(POSTGRES, "migrations", lambda: every)

        with pytest.raises(MigrationBlocked) as info:
            await open_store(url)
        assert "logitrail abc held by 2 rows (ord_A … ord_B)" in str(info.value)
        assert await conn.fetchval("SELECT MAX(version) FROM schema_migrations") == 5
        await conn.execute("UPDATE orders SET provider_order_id = NULL WHERE id = 'ord_B'")
    finally:
        await conn.close()
    store = await open_store(url)
    await store.close()


# migration 009: what a provider keeps with its order id ------------------------------------


async def test_migration_009_keeps_provider_data_and_leaves_older_orders_without(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    every = {d: d.migrations() for d in (SQLITE, POSTGRES)}
    for d, migrations in every.items():
        monkeypatch.setattr(d, "migrations", lambda m=migrations: [x for x in m if x[0] < 9])
    before = await open_store(store_url)  # at version 8, an order already at its provider
    try:
        async with before._db.autocommit() as tx:
            await tx.execute(_insert(["?"] * 5), ("ord_A", "shop", "E-1", "flexport", "100042"))
    finally:
        await before.close()
    for d, migrations in every.items():
        monkeypatch.setattr(d, "migrations", lambda m=migrations: m)

    store = await open_store(store_url)
    try:
        old = await store.get_order("ord_A")
        assert old is not None
        assert (old.provider_order_id, old.provider_data) == ("100042", {})
        column = await store._db.reads.fetch_one("SELECT provider_data FROM orders")
        assert column is not None
        assert column[0] is None  # NULL: stored before; the provider does without
        new = NewOrder("ord_B", "shop", "E-2", "flexport", "w", "r", 0, "{}")
        await store.insert_order(new, now=1.0, idempotency=None, lease_owner="A", lease_until=9.0)
        kind = {"kind": "b2b"}
        step = Transition(phase=Phase.DONE, provider_order_id="100043", provider_data=kind)
        assert (await store.advance("ord_B", owner="A", step=step)).provider_data == kind
        assert (await store.get_order("ord_B")).provider_data == kind
    finally:
        await store.close()


# migration 013: an order's events read by subject ------------------------------------------


async def test_migration_013_indexes_the_events_of_a_feed_by_subject(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    every = {d: d.migrations() for d in (SQLITE, POSTGRES)}
    for d, migrations in every.items():
        monkeypatch.setattr(d, "migrations", lambda m=migrations: [x for x in m if x[0] < 13])
    before = await open_store(store_url)  # at version 11, a feed already written
    try:
        order = NewOrder("ord_A", "shop", "E-1", "logitrail", "w", "r", 0, "{}")
        await before.insert_order(
            order, now=1.0, idempotency=None, lease_owner=None, lease_until=None
        )
        assert 13 not in {v for v, _n, _s in before._db.dialect.migrations()}
    finally:
        await before.close()
    for d, migrations in every.items():
        monkeypatch.setattr(d, "migrations", lambda m=migrations: m)

    store = await open_store(store_url)
    try:
        [event] = await store.events_about("shop", "ord_A", limit=10)
        assert (event.subject, event.type) == ("ord_A", "order.accepted")
        reads = store._db.reads
        if store._db.dialect.name == "sqlite":
            args = ("shop", "ord_A", "ord_A", "shop", 10)
            plan = [r[3] for r in await reads.fetch_all(f"EXPLAIN QUERY PLAN {EVENTS_ABOUT}", args)]
            # each half by (tenant, subject), neither over the tenant's feed in seq order
            reads_events = [step for step in plan if step.startswith(("SEARCH e", "SCAN e"))]
            assert (
                reads_events
                == ["SEARCH e USING INDEX events_by_subject (client_id=? AND subject=?)"] * 2
            ), plan
        else:
            found = await reads.fetch_all(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema()"
                " AND indexname = 'events_by_subject'"
            )
            assert ["(client_id, subject, seq)" in r[0] for r in found] == [True]
        # the stuck and held lists: a tenant's orders by phase and age
        phase_index = (
            "SELECT sql FROM sqlite_master WHERE name = 'orders_by_phase'"
            if store._db.dialect.name == "sqlite"
            else "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema()"
            " AND indexname = 'orders_by_phase'"
        )
        found = await reads.fetch_all(phase_index)
        assert ["(client_id, phase, created_at)" in r[0] for r in found] == [True]
    finally:
        await store.close()
