"""Durable state: the `Store` protocol and how to open one from a URL.

Implementations: `sqlite.SqliteStore` (embedded default). Every method is one transaction, so
"each step is committed before the next provider call" holds by construction.
"""

from __future__ import annotations

from gateway.store.base import (
    Begin,
    BeginOutcome,
    DeliveryRow,
    DeliveryState,
    HistoryEntry,
    LeaseLost,
    NewOrder,
    OrderExists,
    OrderFilter,
    OrderRow,
    ProviderFacts,
    Store,
    StoredEvent,
    StoreUnavailable,
    Transition,
)

__all__ = [
    "Begin",
    "BeginOutcome",
    "DeliveryRow",
    "DeliveryState",
    "HistoryEntry",
    "LeaseLost",
    "NewOrder",
    "OrderExists",
    "OrderFilter",
    "OrderRow",
    "ProviderFacts",
    "Store",
    "StoreUnavailable",
    "StoredEvent",
    "Transition",
    "open_store",
]


async def open_store(url: str) -> Store:
    """Open (and migrate) the store a `[store] url` names."""
    if url.startswith("sqlite:"):
        from gateway.store.sqlite import SqliteStore  # noqa: PLC0415 (optional backends)

        return await SqliteStore.open(url)
    raise NotImplementedError(f"no store backend for {url.split(':', 1)[0]!r} yet")
