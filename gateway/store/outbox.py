"""The outbox: each tenant's feed of events (migration 003), written in the transaction of
the change it announces; their delivery to subscribers is `deliveries.py`.

Events are numbered in the order they become visible, so a feed reader past `seq` N never
later finds an event below N: SQLite has one writer and a group commit makes a batch visible
at once; PostgreSQL numbers them under the outbox lock, held until the transaction commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

import orjson

from gateway.model.events import EventRow, NewEvent
from gateway.model.ids import ulid
from gateway.store.dialect import Dialect, Queries, Tx
from gateway.store.rows import EVENT_COLUMNS, event_row

_E_COLUMNS = ", ".join(f"e.{c}" for c in EVENT_COLUMNS.split(", "))
EVENTS_ABOUT = (
    f"SELECT {_E_COLUMNS} FROM events e WHERE e.client_id = ? AND e.subject = ?"
    f" UNION ALL SELECT {_E_COLUMNS} FROM returns r CROSS JOIN events e"
    " WHERE r.order_id = ? AND r.client_id = ? AND e.client_id = r.client_id"
    " AND e.subject = r.id ORDER BY seq DESC LIMIT ?"
)
"""An order's newest events, its own and its returns' (whose subject is the return): each
half reads the index by (tenant, subject) (migration 013) — the returns first (SQLite's CROSS
JOIN keeps that order), never the tenant's whole feed in `seq` order."""


async def append_event(tx: Tx, d: Dialect, event: NewEvent, *, now: float) -> EventRow:
    """Append `event` to its tenant's feed inside the caller's transaction."""
    at = datetime.fromtimestamp(now, UTC)
    await d.lock(tx, "outbox")
    event_id = "evt_" + ulid(now)
    seq = await tx.insert(
        "INSERT INTO events (id, client_id, type, subject, data, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (
            event_id,
            event.client_id,
            event.type,
            event.subject,
            orjson.dumps(event.data).decode(),
            d.to_db(at),
        ),
        key="seq",
    )
    return EventRow(seq, event_id, event.client_id, event.type, event.subject, event.data, at)


class Outbox(Queries, Protocol):
    async def append_event(self, event: NewEvent, *, now: float) -> EventRow:
        """Append to a tenant's feed in a transaction of its own (changes made by other store
        methods append theirs inside their own transaction)."""
        async with self._db.transaction() as tx:
            return await append_event(tx, self._db.dialect, event, now=now)

    async def events_after(self, client_id: str, *, after: int, limit: int) -> Sequence[EventRow]:
        rows = await self._db.reads.fetch_all(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE client_id = ? AND seq > ?"
            " ORDER BY seq LIMIT ?",
            (client_id, after, limit),
        )
        return [event_row(r, self._db.dialect) for r in rows]

    async def events_about(
        self, client_id: str, order_id: str, *, limit: int
    ) -> Sequence[EventRow]:
        """The newest `limit` events of the tenant's order and of its returns, oldest first."""
        rows = await self._db.reads.fetch_all(
            EVENTS_ABOUT, (client_id, order_id, order_id, client_id, limit)
        )
        return [event_row(r, self._db.dialect) for r in reversed(rows)]
