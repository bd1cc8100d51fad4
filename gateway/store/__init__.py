"""Durable state: the `Store` protocol and how to open one from a URL.

Implementations: `sqlite.SqliteStore` (embedded default) and `postgres.PostgresStore` (several
replicas on one database). Every method is one transaction, so "each step is committed before
the next provider call" holds by construction.
"""

from __future__ import annotations

from gateway.errors import StoreUnavailable
from gateway.store.base import Store
from gateway.store.records import (
    Begin,
    BeginOutcome,
    DeliveryRow,
    HistoryEntry,
    NewOrder,
    NewReturn,
    OrderFilter,
    OrderRow,
    ProviderFacts,
    QueueStats,
    ReturnFilter,
    ReturnHistoryEntry,
    ReturnRow,
    ReturnStep,
    StoredEvent,
    Transition,
)

__all__ = [
    "Begin",
    "BeginOutcome",
    "DeliveryRow",
    "HistoryEntry",
    "NewOrder",
    "NewReturn",
    "OrderFilter",
    "OrderRow",
    "ProviderFacts",
    "QueueStats",
    "ReturnFilter",
    "ReturnHistoryEntry",
    "ReturnRow",
    "ReturnStep",
    "Store",
    "StoredEvent",
    "Transition",
    "open_store",
]


async def open_store(
    url: str,
    *,
    pool_size: int = 10,
    migrate: bool = True,
    password: str | None = None,
    connect_wait_s: float = 0.0,
) -> Store:
    """Open the store a `[store] url` names, applying pending migrations.

    PostgreSQL migrates under an advisory lock (replicas starting together do not race); with
    `migrate=False` it refuses a database that is behind instead. SQLite, a single process's
    file, always migrates. PostgreSQL that is not reachable yet is retried for up to
    `connect_wait_s` (0: one attempt).
    """
    if url.startswith("sqlite:"):
        from gateway.store.sqlite import SqliteStore  # noqa: PLC0415 (optional backends)

        return await SqliteStore.open(url)
    if url.startswith(("postgresql:", "postgres:")):
        try:
            from gateway.store.postgres import PostgresStore  # noqa: PLC0415 (optional)
        except ImportError as exc:
            raise StoreUnavailable(
                "a PostgreSQL store needs asyncpg: pip install 'order-routing-gateway[postgres]'"
            ) from exc

        return await PostgresStore.open(
            url,
            pool_size=pool_size,
            migrate=migrate,
            password=password,
            connect_wait_s=connect_wait_s,
        )
    raise NotImplementedError(f"no store backend for {url.split(':', 1)[0]!r}")
