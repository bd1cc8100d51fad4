"""Durable state: the `Store` protocol (and the narrower ones it is the union of) and how to
open one from a URL.

One implementation, `sql.SqlStore`, runs on SQLite (`sqlite.py`, the embedded default) or
PostgreSQL (`postgres.py`, several replicas on one database). Every method is one
transaction, so "each step is committed before the next provider call" holds by construction.
"""

from __future__ import annotations

from gateway.clock import Clock
from gateway.errors import StoreUnavailable
from gateway.store.base import EventFeed, Retention, ReturnStore, Store
from gateway.store.deliveries import Dispatch
from gateway.store.idempotency import Begin, BeginOutcome, IdempotencyRecords, KeyClaim
from gateway.store.inbound import WebhookIntake
from gateway.store.order_changes import OrderChanges
from gateway.store.order_reads import OrderReads
from gateway.store.orders import Health, OrderIntake, Polling, Submissions
from gateway.store.parts import PartStore
from gateway.store.records import (
    DeliveryRow,
    HistoryEntry,
    NewOrder,
    NewPart,
    NewReturn,
    NewReturnPart,
    OrderFilter,
    OrderRow,
    PartRow,
    PartStep,
    ProviderFacts,
    QueueStats,
    ReturnFilter,
    ReturnHistoryEntry,
    ReturnPartRow,
    ReturnRow,
    ReturnStep,
    StoredEvent,
    Transition,
)
from gateway.store.return_parts import ReturnPartStore, return_part_id

__all__ = [
    "Begin",
    "BeginOutcome",
    "DeliveryRow",
    "Dispatch",
    "EventFeed",
    "Health",
    "HistoryEntry",
    "IdempotencyRecords",
    "KeyClaim",
    "NewOrder",
    "NewPart",
    "NewReturn",
    "NewReturnPart",
    "OrderChanges",
    "OrderFilter",
    "OrderIntake",
    "OrderReads",
    "OrderRow",
    "PartRow",
    "PartStep",
    "PartStore",
    "Polling",
    "ProviderFacts",
    "QueueStats",
    "Retention",
    "ReturnFilter",
    "ReturnHistoryEntry",
    "ReturnPartRow",
    "ReturnPartStore",
    "ReturnRow",
    "ReturnStep",
    "ReturnStore",
    "Store",
    "StoredEvent",
    "Submissions",
    "Transition",
    "WebhookIntake",
    "open_store",
    "return_part_id",
]


async def open_store(
    url: str,
    *,
    pool_size: int = 10,
    migrate: bool = True,
    password: str | None = None,
    connect_wait_s: float = 0.0,
    read_only: bool = False,
    clock: Clock | None = None,
) -> Store:
    """Open the store a `[store] url` names, applying pending migrations.

    PostgreSQL migrates under an advisory lock (replicas starting together do not race); with
    `migrate=False` it refuses a database that is behind instead. SQLite, a single process's
    file, always migrates. PostgreSQL that is not reachable yet is retried for up to
    `connect_wait_s` (0: one attempt), timed by `clock` (by default the system's).

    `read_only` (a routing replay's store): nothing migrated, a store that is behind refused;
    SQLite opens the file read-only (a missing one is refused), PostgreSQL's sessions are
    `default_transaction_read_only`.
    """
    if url.startswith("sqlite:"):
        from gateway.store.sqlite import open_sqlite, open_sqlite_read_only  # noqa: PLC0415

        return await (open_sqlite_read_only(url) if read_only else open_sqlite(url))
    if url.startswith(("postgresql:", "postgres:")):
        try:
            from gateway.store.postgres import open_postgres  # noqa: PLC0415 (optional)
        except ImportError as exc:
            raise StoreUnavailable(
                "a PostgreSQL store needs asyncpg: pip install 'order-routing-gateway[postgres]'"
            ) from exc

        if read_only:  # a query parameter other than libpq's is a server setting
            url += ("&" if "?" in url else "?") + "default_transaction_read_only=on"
        return await open_postgres(
            url,
            pool_size=pool_size,
            migrate=migrate and not read_only,
            password=password,
            connect_wait_s=connect_wait_s,
            clock=clock,
        )
    raise NotImplementedError(f"no store backend for {url.split(':', 1)[0]!r}")
