"""PostgreSQL migrations: `migrations/postgres/NNN_name.sql`, applied under an advisory lock.

The PostgreSQL files carry the same numbers as the SQLite ones beside them (the store test
suite checks that), so a version means the same tables on either backend. All pending files
are applied in one transaction that first takes a transaction-scoped advisory lock: two
replicas starting at once queue on the lock, and the second finds everything applied. DDL is
transactional in PostgreSQL, so a failing migration leaves nothing half done.
"""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from typing import Any

import structlog

from gateway.store.migration_checks import PRECHECKS, blocking

log = structlog.get_logger(__name__)

# pg_advisory_xact_lock(int4, int4): a fixed class id for "gateway schema migrations" and the
# schema's name hashed, so gateways on other schemas of the same database do not wait on us.
_LOCK_CLASS = 0x6777_6D67  # "gwmg"
_LOCK = "SELECT pg_advisory_xact_lock($1::int4, hashtext(current_schema()))"
_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations "
    "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
)


def migrations() -> list[tuple[int, str, str]]:
    """Numbered `NNN_name.sql` files in `gateway/store/migrations/postgres`, in order."""
    found = []
    folder = resources.files("gateway.store").joinpath("migrations").joinpath("postgres")
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:3].isdigit():
            found.append((int(name[:3]), name[4:-4], entry.read_text(encoding="utf-8")))
    return sorted(found)


async def migrate(conn: Any) -> list[int]:
    """Apply every pending migration on `conn` (an asyncpg connection); return the versions."""
    applied: list[int] = []
    async with conn.transaction():
        await conn.execute(_LOCK, _LOCK_CLASS)
        await conn.execute(_TABLE)
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, name, sql in migrations():
            if version in done:
                continue
            blocking(version, [(c, await conn.fetch(c.query)) for c in PRECHECKS.get(version, ())])
            await conn.execute(sql)  # no arguments: the simple protocol runs a whole script
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                version,
                name,
                datetime.now(UTC),
            )
            applied.append(version)
            log.info("store.migrated", backend="postgresql", version=version, name=name)
    return applied


async def pending(conn: Any) -> list[int]:
    """Versions not applied yet (all of them on an empty database)."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    done = (
        {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        if exists
        else set()
    )
    return [v for v, _n, _s in migrations() if v not in done]
