"""Migrations: each dialect's numbered `NNN_name.sql` files (`migrations/` for SQLite,
`migrations/postgres/` with the same numbers and names), applied in order, each once, recorded
in `schema_migrations`.

All pending files are applied in one transaction that first takes the migration lock: two
PostgreSQL replicas starting at once queue on it, and the second finds everything applied
(DDL is transactional there, so a failing migration leaves nothing half done).
"""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources

import structlog

from gateway.store.dialect import Dialect, Migration, Tx
from gateway.store.migration_checks import PRECHECKS, blocking

log = structlog.get_logger(__name__)


def read_migrations(folder: str) -> list[Migration]:
    """The numbered `NNN_name.sql` files in `gateway/store/<folder>`, in order."""
    found = []
    directory = resources.files("gateway.store")
    for part in folder.split("/"):
        directory = directory.joinpath(part)
    for entry in directory.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:3].isdigit():
            found.append((int(name[:3]), name[4:-4], entry.read_text(encoding="utf-8")))
    return sorted(found)


async def migrate(tx: Tx, d: Dialect) -> list[int]:
    """Apply every pending migration of `d` inside `tx`; return the versions applied."""
    await d.lock(tx, "migrations")
    await tx.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
        f" name TEXT NOT NULL, applied_at {d.timestamp_type} NOT NULL)"
    )
    done = {r[0] for r in await tx.fetch_all("SELECT version FROM schema_migrations")}
    applied: list[int] = []
    for version, name, sql in d.migrations():
        if version in done:
            continue
        blocking(version, [(c, await tx.fetch_all(c.query)) for c in PRECHECKS.get(version, ())])
        for statement in d.script(sql):
            await tx.execute(statement)  # no arguments: PostgreSQL runs a whole script
        await tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
            (version, name, d.to_db(datetime.now(UTC))),
        )
        applied.append(version)
        log.info("store.migrated", backend=d.name, version=version, name=name)
    return applied
