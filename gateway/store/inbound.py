"""Inbound provider webhook events (migration 002): stored once per (provider, event id)
before the gateway answers, applied later, purged once finished."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import orjson

from gateway.store.dialect import Queries
from gateway.store.records import StoredEvent
from gateway.store.rows import STORED_EVENT_COLUMNS, insert_sql, names, stored_event

_COLUMNS = [name for name in names(StoredEvent) if name != "attempts"]
"""What is stored of an event as it arrives: it has no attempt yet."""
_INSERT = insert_sql("webhook_events", [*_COLUMNS, "received_at"])


class WebhookIntake(Queries, Protocol):
    """Inbound provider webhook events: stored once, applied later."""

    async def record_event(self, event: StoredEvent, *, now: float) -> bool:
        """Store an event once; False when (provider, event_id) was stored before."""
        values = {name: getattr(event, name) for name in _COLUMNS}
        values["shipment_ids"] = orjson.dumps(list(event.shipment_ids)).decode()
        async with self._db.autocommit() as tx:
            stored = await tx.execute(
                f"{_INSERT} ON CONFLICT (provider, event_id) DO NOTHING",
                (*values.values(), now),
            )
        return stored == 1

    async def unapplied_events(self, *, limit: int, max_attempts: int) -> Sequence[StoredEvent]:
        """The oldest `limit` events still to apply: not applied, fewer than `max_attempts`
        failed attempts (given-up ones must never crowd out newer ones)."""
        rows = await self._db.reads.fetch_all(
            f"SELECT {STORED_EVENT_COLUMNS} FROM webhook_events"
            " WHERE applied_at IS NULL AND attempts < ?"
            " ORDER BY received_at LIMIT ?",
            (max_attempts, limit),
        )
        return [stored_event(r, self._d) for r in rows]

    async def finish_event(
        self, provider: str, event_id: str, *, now: float, error: str | None = None
    ) -> None:
        """Mark an event applied, or count a failed attempt with its error."""
        async with self._db.autocommit() as tx:
            if error is None:
                await tx.execute(
                    "UPDATE webhook_events SET applied_at = ?, last_error = NULL"
                    " WHERE provider = ? AND event_id = ?",
                    (now, provider, event_id),
                )
            else:
                await tx.execute(
                    "UPDATE webhook_events SET attempts = attempts + 1, last_error = ?"
                    " WHERE provider = ? AND event_id = ?",
                    (error, provider, event_id),
                )


class WebhookRetention(Queries, Protocol):
    """The webhook inbox's part of the maintenance sweep."""

    async def purge_webhook_events(
        self, *, before: float, max_attempts: int, batch: int = 1000
    ) -> int:
        """Delete events received before `before` that are finished: applied, or given up
        after `max_attempts` failed attempts; how many. One still waiting to be applied stays
        whatever its age. At most `batch` rows go per transaction, so a large backlog never
        holds the writer long."""
        return await self._purge(
            "DELETE FROM webhook_events WHERE (provider, event_id) IN"
            " (SELECT provider, event_id FROM webhook_events WHERE received_at < ?"
            " AND (applied_at IS NOT NULL OR attempts >= ?) LIMIT ?)",
            (before, max_attempts),
            batch=batch,
        )
