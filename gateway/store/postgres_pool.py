"""The PostgreSQL pool and its error mapping, shared by the `PostgresStore` modules."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from gateway.store.base import StoreUnavailable

# What "the database is not there" looks like through asyncpg; anything else is a bug or a
# constraint and propagates as it is.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
)


CONNECT_TIMEOUT_S = 5.0
"""A database that does not answer a new connection within this is down (`/readyz` says so
instead of hanging)."""
COMMAND_TIMEOUT_S = 30.0
"""No statement of ours runs this long; one that does is stuck behind a lock or a dead server."""


async def connect_pool(url: str, *, max_size: int, password: str | None = None) -> asyncpg.Pool:
    """A pool on `url`; query parameters other than libpq's are server settings
    (`?search_path=tenant_a` puts the gateway's tables in that schema)."""
    try:
        pool = await asyncpg.create_pool(
            url,
            min_size=1,
            max_size=max_size,
            timeout=CONNECT_TIMEOUT_S,
            command_timeout=COMMAND_TIMEOUT_S,
            password=password,
        )
    except (*UNAVAILABLE, asyncpg.PostgresError) as exc:  # also: no such database, bad password
        raise StoreUnavailable(f"cannot connect to PostgreSQL: {exc}") from exc
    assert pool is not None
    return pool


class PostgresPool:
    """Owns the pool; `_conn()` and `_tx()` turn "the database is gone" into
    `StoreUnavailable`, whatever asyncpg called it."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[Any]:
        try:
            async with self._pool.acquire() as conn:
                yield conn
        except UNAVAILABLE as exc:
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[Any]:
        async with self._conn() as conn, conn.transaction():
            yield conn

    async def ping(self) -> None:
        async with self._conn() as conn:
            await conn.fetchval("SELECT 1")

    async def close(self) -> None:
        await self._pool.close()
