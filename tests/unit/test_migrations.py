"""Migrations: the same numbered versions on every backend, applied once, under a lock."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from gateway.store import StoreUnavailable, open_store, postgres_schema
from gateway.store.sqlite import migrations as sqlite_migrations
from gateway.store.sqlite import statements
from tests.services import PostgresDatabase


def test_every_backend_has_the_same_migration_versions() -> None:
    sqlite = [(v, n) for v, n, _s in sqlite_migrations()]
    postgres = [(v, n) for v, n, _s in postgres_schema.migrations()]
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
    assert sorted(versions) == [v for v, _n, _s in postgres_schema.migrations()]


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
