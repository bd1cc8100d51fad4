"""SQLite migrations: the numbered `NNN_name.sql` files in `gateway/store/migrations`, applied
in order, each once, recorded in `schema_migrations`."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import structlog

from gateway.errors import StoreUnavailable
from gateway.store.group_commit import GroupCommitWriter
from gateway.store.migration_checks import PRECHECKS, blocking

log = structlog.get_logger(__name__)


def open_writer(url: str) -> tuple[Path, GroupCommitWriter]:
    """The file a `sqlite:///` URL names and its writer (the directory made if need be)."""
    path = Path(urlsplit(url).path[1:])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path, GroupCommitWriter(path)
    except (OSError, sqlite3.Error) as exc:
        # A read-only filesystem or a missing volume: say which file, not a traceback.
        raise StoreUnavailable(f"cannot open SQLite database {path}: {exc}") from exc


async def migrate_file(url: str) -> list[int]:
    """`gateway migrate` on SQLite: apply what is pending, return the versions applied."""
    _path, writer = open_writer(url)
    try:
        return await migrate(writer)
    finally:
        await writer.close()


async def migrate(writer: GroupCommitWriter) -> list[int]:
    """Apply every pending migration in one transaction; return the versions applied."""
    applied: list[int] = []
    async with writer.transaction() as db:
        await db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        done = {r[0] for r in await db.execute_fetchall("SELECT version FROM schema_migrations")}
        for version, name, sql in migrations():
            if version in done:
                continue
            blocking(
                version,
                [(c, await db.execute_fetchall(c.query)) for c in PRECHECKS.get(version, ())],
            )
            for statement in statements(sql):
                await db.execute(statement)
            await db.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                (version, name, datetime.now(UTC).isoformat(timespec="microseconds")),
            )
            applied.append(version)
            log.info("store.migrated", backend="sqlite", version=version, name=name)
    return applied


def migrations() -> list[tuple[int, str, str]]:
    """Numbered `NNN_name.sql` files shipped in `gateway/store/migrations`, in order."""
    found = []
    for entry in resources.files("gateway.store").joinpath("migrations").iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:3].isdigit():
            found.append((int(name[:3]), name[4:-4], entry.read_text(encoding="utf-8")))
    return sorted(found)


def statements(sql: str) -> list[str]:
    """Split a script into statements the way SQLite does (comments may hold semicolons)."""
    out, buf = [], ""
    for line in sql.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                out.append(buf.strip())
            buf = ""
    if buf.strip() and not all(
        ln.strip().startswith("--") or not ln.strip() for ln in buf.splitlines()
    ):
        out.append(buf.strip())
    return out
