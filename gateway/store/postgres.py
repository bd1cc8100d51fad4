"""The scale-out store: PostgreSQL through an asyncpg connection pool.

Several gateway replicas share one database, so every rule that must hold across them is
enforced by the database itself, never by a read-then-write in Python:

- the natural key (client, external_id) and idempotency records are unique constraints
  (the natural key over orders not superseded; superseding updates the rejected order's row
  in the inserting transaction, so of two racing corrections one finds it taken);
  a key is taken with `INSERT … ON CONFLICT DO NOTHING`, and a record that exists is read
  `FOR UPDATE`, so two replicas racing for one key get one `NEW` and one `IN_FLIGHT`;
- a return is settled against the order's earlier returns with the order row locked
  `FOR UPDATE`, so two replicas never both take back the same units;
- due orders, returns, deliveries and polls are claimed with `FOR UPDATE SKIP LOCKED` inside
  the statement that leases them, so N replicas polling at once never take one row twice;
- steps that append history lock their order (or return) row first, so history numbers
  never collide; a subscriber's cursor row is locked while its events fan out;
- events are numbered under a transaction-scoped advisory lock, so the feed's `seq` order is
  commit order: a reader past N never later finds an event below N that committed late.

The queries are the SQL store's (`sql.py`); this module is the dialect and the runner.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg
import structlog

from gateway.clock import Clock
from gateway.errors import StoreUnavailable
from gateway.store import schema
from gateway.store.dialect import Lock, Migration, Tx
from gateway.store.postgres_pool import UNAVAILABLE, connect_pool
from gateway.store.sql import SqlStore

log = structlog.get_logger(__name__)

# pg_advisory_xact_lock(int4, int4): a fixed class id per lock and the schema's name hashed, so
# gateways on other schemas of the same database do not wait on us.
_LOCKS: dict[Lock, int] = {"migrations": 0x6777_6D67, "outbox": 0x6777_6576}  # "gwmg", "gwev"


class PostgresDialect:
    name = "postgresql"
    unique_violation: type[Exception] = asyncpg.UniqueViolationError
    timestamp_type = "TIMESTAMPTZ"

    def violates(self, exc: Exception, constraint: str) -> bool:
        return getattr(exc, "constraint_name", None) == constraint

    def for_update(self, of: str = "", *, skip_locked: bool = False) -> str:
        return " FOR UPDATE" + (f" OF {of}" if of else "") + (" SKIP LOCKED" if skip_locked else "")

    def any_of(self, column: str, values: Sequence[Any], sql_type: str) -> tuple[str, list[Any]]:
        return f"{column} = ANY(?::{sql_type}[])", [list(values)]

    def to_db(self, at: datetime) -> datetime:
        return at

    def from_db(self, value: datetime) -> datetime:
        return value

    async def lock(self, tx: Tx, what: Lock) -> None:
        await tx.execute(
            "SELECT pg_advisory_xact_lock(?::int4, hashtext(current_schema()))", (_LOCKS[what],)
        )

    def migrations(self) -> list[Migration]:
        return schema.read_migrations("migrations/postgres")

    def script(self, sql: str) -> list[str]:
        return [sql]  # the simple protocol runs a whole script


POSTGRES = PostgresDialect()


@functools.lru_cache(maxsize=1024)
def numbered(sql: str) -> str:
    """`?` placeholders as PostgreSQL's `$1, $2, …` (the store's SQL has no other `?`)."""
    first, *rest = sql.split("?")
    return first + "".join(f"${n}{piece}" for n, piece in enumerate(rest, 1))


def _count(status: str) -> int:
    """The row count of a command tag (`UPDATE 3`, `INSERT 0 1`); 0 for one without."""
    last = status.rpartition(" ")[2]
    return int(last) if last.isdigit() else 0


class PgTx:
    """Statements on one connection (in a transaction, or each its own)."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        if not args:  # a script, maybe: the simple protocol
            return _count(await self._conn.execute(sql))
        return _count(await self._conn.execute(numbered(sql), *args))

    async def execute_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self._conn.executemany(numbered(sql), rows)

    async def insert(self, sql: str, args: Sequence[Any], *, key: str) -> int:
        return int(await self._conn.fetchval(numbered(f"{sql} RETURNING {key}"), *args))

    async def fetch_one(self, sql: str, args: Sequence[Any] = ()) -> Any:
        return await self._conn.fetchrow(numbered(sql), *args)

    async def fetch_all(self, sql: str, args: Sequence[Any] = ()) -> Any:
        return await self._conn.fetch(numbered(sql), *args)


_BEGIN_NOT_DURABLE = "BEGIN; SET LOCAL synchronous_commit = off"


class PostgresRunner:
    """Owns the pool; turns "the database is gone" into `StoreUnavailable`, whatever asyncpg
    called it."""

    dialect = POSTGRES

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self.reads = self.latest = self

    @asynccontextmanager
    async def _acquire(self) -> AsyncIterator[Any]:
        try:
            async with self._pool.acquire() as conn:
                yield conn
        except UNAVAILABLE as exc:
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc

    @asynccontextmanager
    async def transaction(self, *, durable: bool = True) -> AsyncIterator[PgTx]:
        async with self._acquire() as conn:
            if durable:
                async with conn.transaction():
                    yield PgTx(conn)
                return
            # The COMMIT does not wait for the WAL flush: visible to every session at once,
            # durable moments later. Only where recovery repairs its loss (an order's `done`:
            # the order stays `creating`, reconciled by lookup). BEGIN and the setting go
            # as one script (the simple protocol): a round trip less than asyncpg's BEGIN
            # followed by the SET, twice per order (an idempotency key's claim and answer).
            await conn.execute(_BEGIN_NOT_DURABLE)
            try:
                yield PgTx(conn)
            except BaseException:
                # The pool's reset rolls back what this cannot (a connection gone, a second
                # cancellation): the caller's error is the one raised.
                with contextlib.suppress(Exception):
                    await conn.execute("ROLLBACK")
                raise
            await conn.execute("COMMIT")

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[PgTx]:
        async with self._acquire() as conn:
            yield PgTx(conn)

    async def fetch_one(self, sql: str, args: Sequence[Any] = ()) -> Any:
        async with self.autocommit() as tx:
            return await tx.fetch_one(sql, args)

    async def fetch_all(self, sql: str, args: Sequence[Any] = ()) -> Any:
        async with self.autocommit() as tx:
            return await tx.fetch_all(sql, args)

    async def close(self) -> None:
        await self._pool.close()


async def open_postgres(
    url: str,
    *,
    pool_size: int = 10,
    migrate: bool = True,
    password: str | None = None,
    connect_wait_s: float = 0.0,
    clock: Clock | None = None,
) -> SqlStore:
    """Connect, waiting up to `connect_wait_s` for a database that is not reachable yet;
    apply pending migrations (under the advisory lock) unless `migrate` is False, in which
    case a database that is behind is refused with what to run."""
    pool = await connect_pool(
        url, max_size=pool_size, password=password, wait_s=connect_wait_s, clock=clock
    )
    runner = PostgresRunner(pool)
    try:
        if migrate:
            async with runner.transaction() as tx:
                await schema.migrate(tx, POSTGRES)
        elif missing := await pending(runner):
            raise StoreUnavailable(
                f"database schema is behind (migrations {missing} pending):"
                " run `gateway migrate --config FILE`"
            )
    except BaseException:
        await pool.close()
        raise
    log.info("store.opened", backend="postgresql", pool_size=pool_size)
    return SqlStore(runner)


async def migrate(conn: Any) -> list[int]:
    """`gateway migrate`: apply every pending migration on `conn` (an asyncpg connection)."""
    async with conn.transaction():
        return await schema.migrate(PgTx(conn), POSTGRES)


async def pending(runner: PostgresRunner) -> list[int]:
    """Versions not applied yet (all of them on an empty database)."""
    exists = await runner.fetch_one("SELECT to_regclass('schema_migrations') IS NOT NULL")
    done: set[int] = set()
    if exists is not None and exists[0]:
        done = {r[0] for r in await runner.fetch_all("SELECT version FROM schema_migrations")}
    return [v for v, _n, _s in POSTGRES.migrations() if v not in done]
