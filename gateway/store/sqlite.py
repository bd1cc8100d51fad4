"""The embedded store: SQLite in WAL mode, `synchronous=FULL` so a committed order survives
power loss, not only a process crash.

Writes go through `GroupCommitWriter` (one writer, transactions sharing their COMMIT; see its
module for why and what was measured); reads through a second, read-only aiosqlite
connection, so they only ever see committed data and wait behind no write but one nobody
waited for (`GroupCommitWriter.settled`: it commits first, so a caller answered after it reads
it back). One writer
also means no row locks: no other process writes between a read and the write it decides.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote, urlsplit

import aiosqlite
import structlog

from gateway.errors import StoreUnavailable
from gateway.store import schema
from gateway.store.dialect import Lock, Migration, Tx
from gateway.store.group_commit import COUNTS, PRAGMAS, GroupCommitWriter
from gateway.store.sql import SqlStore

log = structlog.get_logger(__name__)


class SqliteDialect:
    name = "sqlite"
    unique_violation: type[Exception] = sqlite3.IntegrityError
    timestamp_type = "TEXT"
    """ISO 8601 text, UTC, to the microsecond: sorts as the instants do."""

    def violates(self, exc: Exception, constraint: str) -> bool:
        return True

    def for_update(self, of: str = "", *, skip_locked: bool = False) -> str:
        return ""

    def any_of(self, column: str, values: Sequence[Any], sql_type: str) -> tuple[str, list[Any]]:
        return f"{column} IN ({', '.join('?' for _ in values)})", list(values)

    def to_db(self, at: datetime) -> str:
        return at.astimezone(UTC).isoformat(timespec="microseconds")

    def from_db(self, value: str) -> datetime:
        return datetime.fromisoformat(value)

    async def lock(self, tx: Tx, what: Lock) -> None:
        pass

    def migrations(self) -> list[Migration]:
        return schema.read_migrations("migrations")

    def script(self, sql: str) -> list[str]:
        return statements(sql)


SQLITE = SqliteDialect()


class _Reader:
    """Reads through aiosqlite's thread: they see only committed data — after the writes
    nobody waited for, which commit first (`GroupCommitWriter.settled`) — and a long list
    query does not block the event loop."""

    def __init__(self, db: aiosqlite.Connection, writer: GroupCommitWriter | None = None) -> None:
        self._db = db
        self._writer = writer

    async def fetch_all(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        COUNTS.reads += 1
        if self._writer is not None:
            await self._writer.settled()
        try:
            return list(await self._db.execute_fetchall(sql, args))
        except (sqlite3.Error, ValueError) as exc:  # ValueError: connection closed
            raise StoreUnavailable(str(exc)) from exc

    async def fetch_one(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = await self.fetch_all(sql, args)
        return rows[0] if rows else None


class SqliteRunner:
    dialect = SQLITE

    def __init__(self, writer: GroupCommitWriter, reader: aiosqlite.Connection) -> None:
        self._writer = writer
        self._reader = reader
        self.reads = _Reader(reader, writer)
        # Through the writer: asked on every submit (a reader-thread hop cost ~10% of its
        # CPU), and it must see an order that the open batch holds but has not committed yet.
        self.latest = writer
        self._closed = False

    def transaction(self, *, durable: bool = True) -> AbstractAsyncContextManager[Tx]:
        return self._writer.transaction(wait=durable)

    def autocommit(self) -> AbstractAsyncContextManager[Tx]:
        return self._writer.transaction()

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._writer.close()
            await self._reader.close()


async def open_sqlite(url: str) -> SqlStore:
    path, writer = open_writer(url)
    try:
        await migrate(writer)  # before the reader opens: it must see the tables
        reader = await aiosqlite.connect(path, isolation_level=None)
        reader.row_factory = sqlite3.Row
        for pragma in (*PRAGMAS, "query_only=ON"):
            await reader.execute(f"PRAGMA {pragma}")
    except BaseException:
        await writer.close()
        raise
    log.info("store.opened", backend="sqlite", path=str(path))
    return SqlStore(SqliteRunner(writer, reader))


class ReadOnlyRunner:
    """Reads only, on a connection SQLite opened read-only (`mode=ro`): no statement of it
    can write, and it takes no transaction (a replay's store)."""

    dialect = SQLITE

    def __init__(self, reader: aiosqlite.Connection) -> None:
        self._reader = reader
        self.reads = self.latest = _Reader(reader)

    def transaction(self, *, durable: bool = True) -> NoReturn:
        raise StoreUnavailable("the store was opened read-only")

    def autocommit(self) -> NoReturn:
        raise StoreUnavailable("the store was opened read-only")

    async def close(self) -> None:
        await self._reader.close()


async def open_sqlite_read_only(url: str) -> SqlStore:
    """The file a `sqlite:///` URL names, opened so nothing can write to it and nothing is
    migrated: a missing file, or one whose schema is behind this code, is `StoreUnavailable`."""
    path, uri = read_only_uri(url)
    try:
        reader = await aiosqlite.connect(uri, uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"cannot open SQLite database {path}: {exc}") from exc
    runner = ReadOnlyRunner(reader)
    try:
        reader.row_factory = sqlite3.Row
        await reader.execute("PRAGMA query_only=ON")
        listed = await runner.reads.fetch_one(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        )
        done: set[int] = set()
        if listed is not None:
            done = {
                r[0] for r in await runner.reads.fetch_all("SELECT version FROM schema_migrations")
            }
        if missing := [v for v, _n, _s in SQLITE.migrations() if v not in done]:
            raise StoreUnavailable(
                f"SQLite database {path}: schema is behind (migrations {missing} pending):"
                " run `gateway migrate --config FILE`"
            )
    except BaseException:
        await reader.close()
        raise
    log.info("store.opened", backend="sqlite", path=str(path), read_only=True)
    return SqlStore(runner)


def read_only_uri(url: str) -> tuple[Path, str]:
    """The file a `sqlite:///` URL names (it must exist) and its read-only `file:` URI."""
    path = Path(urlsplit(url).path[1:])
    if not path.is_file():
        raise StoreUnavailable(f"SQLite database {path} does not exist")
    return path, f"file:{quote(str(path.resolve()))}?mode=ro"


def open_writer(url: str) -> tuple[Path, GroupCommitWriter]:
    """The file a `sqlite:///` URL names and its writer (the directory made if need be)."""
    path = Path(urlsplit(url).path[1:])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path, GroupCommitWriter(path)
    except (OSError, sqlite3.Error) as exc:
        # A read-only filesystem or a missing volume: say which file, not a traceback.
        raise StoreUnavailable(f"cannot open SQLite database {path}: {exc}") from exc


async def migrate(writer: GroupCommitWriter) -> list[int]:
    async with writer.transaction() as tx:
        return await schema.migrate(tx, SQLITE)


async def migrate_file(url: str) -> list[int]:
    """`gateway migrate` on SQLite: apply what is pending, return the versions applied."""
    _path, writer = open_writer(url)
    try:
        return await migrate(writer)
    finally:
        await writer.close()


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
