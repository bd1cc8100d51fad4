"""Inbound provider webhook events (migration 002), mixed into `SqliteStore`: stored once per
(provider, event id) before the gateway answers, applied later."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import orjson

from gateway.model.orders import Status
from gateway.store.group_commit import Statements
from gateway.store.records import StoredEvent


class SqliteInbound:
    _tx: Callable[[], AbstractAsyncContextManager[Statements]]
    _read: Callable[..., Any]

    async def record_event(self, event: StoredEvent, *, now: float) -> bool:
        async with self._tx() as db:
            cur = await db.execute(
                "INSERT INTO webhook_events (provider, event_id, topic, provider_order_id,"
                " status, raw_status, received_at, tracking_code, tracking_url, shipment_ids)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (provider, event_id) DO NOTHING",
                (
                    event.provider,
                    event.event_id,
                    event.topic,
                    event.provider_order_id,
                    event.status,
                    event.raw_status,
                    now,
                    event.tracking_code,
                    event.tracking_url,
                    orjson.dumps(list(event.shipment_ids)).decode(),
                ),
            )
            return cur.rowcount == 1

    async def unapplied_events(self, *, limit: int, max_attempts: int) -> Sequence[StoredEvent]:
        rows = await self._read(
            "SELECT * FROM webhook_events WHERE applied_at IS NULL AND attempts < ?"
            " ORDER BY received_at LIMIT ?",
            (max_attempts, limit),
        )
        return [
            StoredEvent(
                r["provider"],
                r["event_id"],
                r["topic"],
                r["provider_order_id"],
                Status(r["status"]) if r["status"] else None,
                r["raw_status"],
                r["attempts"],
                r["tracking_code"],
                r["tracking_url"],
                tuple(orjson.loads(r["shipment_ids"])) if r["shipment_ids"] else (),
            )
            for r in rows
        ]

    async def finish_event(
        self, provider: str, event_id: str, *, now: float, error: str | None = None
    ) -> None:
        async with self._tx() as db:
            if error is None:
                await db.execute(
                    "UPDATE webhook_events SET applied_at = ?, last_error = NULL"
                    " WHERE provider = ? AND event_id = ?",
                    (now, provider, event_id),
                )
            else:
                await db.execute(
                    "UPDATE webhook_events SET attempts = attempts + 1, last_error = ?"
                    " WHERE provider = ? AND event_id = ?",
                    (error, provider, event_id),
                )

    async def purge_webhook_events(
        self, *, before: float, max_attempts: int, batch: int = 1000
    ) -> int:
        purged = 0
        while True:
            # Statements run on the event loop (group_commit.py): small batches keep it free.
            async with self._tx() as db:
                cur = await db.execute(
                    "DELETE FROM webhook_events WHERE rowid IN (SELECT rowid FROM webhook_events"
                    " WHERE received_at < ? AND (applied_at IS NOT NULL OR attempts >= ?)"
                    " LIMIT ?)",
                    (before, max_attempts, batch),
                )
            purged += cur.rowcount
            if cur.rowcount < batch:
                return purged
