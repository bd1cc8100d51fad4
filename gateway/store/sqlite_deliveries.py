"""SQLite: events on their way to `[[subscribers]]` (migration 003), and outbox retention.

A subscriber's cursor moves over its tenant's events as they become deliveries (`fan_out`);
only the oldest pending delivery of each subject is ever due (`claim_deliveries`), so one
order's events go out in order. `SqliteStore` inherits these methods.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from gateway.model.events import DeliveryState, matches
from gateway.store.group_commit import Statements
from gateway.store.records import DeliveryRow
from gateway.store.sqlite_events import event_of, stamp_of


def _delivery(r: sqlite3.Row) -> DeliveryRow:
    return DeliveryRow(
        subscriber=r["subscriber"],
        event=event_of(r),
        state=DeliveryState(r["state"]),
        attempts=r["attempts"],
        next_attempt_at=r["next_attempt_at"],
        last_status=r["last_status"],
        last_error=r["last_error"],
        delivered_at=r["delivered_at"],
    )


_DELIVERY_SELECT = (
    "SELECT d.subscriber, d.state, d.attempts, d.next_attempt_at, d.last_status, d.last_error,"
    " d.delivered_at, e.seq, e.id, e.client_id, e.type, e.subject, e.data, e.created_at"
    " FROM deliveries d JOIN events e ON e.seq = d.seq"
)


class SqliteDeliveries:
    _tx: Callable[[], AbstractAsyncContextManager[Statements]]
    _read: Callable[..., Any]

    async def fan_out(
        self, subscriber: str, client_id: str, patterns: Sequence[str], *, now: float, limit: int
    ) -> int:
        async with self._tx() as db:
            cursor = list(
                await db.execute_fetchall(
                    "SELECT last_seq FROM subscriber_cursors WHERE subscriber = ?", (subscriber,)
                )
            )
            last = cursor[0][0] if cursor else 0
            rows = list(
                await db.execute_fetchall(
                    "SELECT seq, type, subject FROM events WHERE client_id = ? AND seq > ?"
                    " ORDER BY seq LIMIT ?",
                    (client_id, last, limit),
                )
            )
            if not rows:
                return 0
            made = 0
            for r in rows:
                if matches(r["type"], patterns):
                    await db.execute(
                        "INSERT INTO deliveries (subscriber, seq, subject, state, next_attempt_at)"
                        " VALUES (?, ?, ?, 'pending', ?) ON CONFLICT DO NOTHING",
                        (subscriber, r["seq"], r["subject"], now),
                    )
                    made += 1
            await db.execute(
                "INSERT INTO subscriber_cursors (subscriber, last_seq) VALUES (?, ?)"
                " ON CONFLICT (subscriber) DO UPDATE SET last_seq = excluded.last_seq",
                (subscriber, rows[-1]["seq"]),
            )
            return made

    async def claim_deliveries(
        self, subscriber: str, *, now: float, lease_until: float, limit: int
    ) -> Sequence[DeliveryRow]:
        async with self._tx() as db:
            # Only the oldest pending delivery of each subject: events of one order go in order.
            rows = list(
                await db.execute_fetchall(
                    f"{_DELIVERY_SELECT} WHERE d.subscriber = ? AND d.state = 'pending'"
                    " AND d.seq = (SELECT MIN(h.seq) FROM deliveries h WHERE h.subscriber ="
                    " d.subscriber AND h.subject = d.subject AND h.state = 'pending')"
                    " AND d.next_attempt_at <= ? AND (d.lease_until IS NULL OR d.lease_until <= ?)"
                    " ORDER BY d.seq LIMIT ?",
                    (subscriber, now, now, limit),
                )
            )
            for r in rows:
                await db.execute(
                    "UPDATE deliveries SET lease_until = ? WHERE subscriber = ? AND seq = ?",
                    (lease_until, subscriber, r["seq"]),
                )
        return [_delivery(r) for r in rows]

    async def finish_delivery(
        self,
        subscriber: str,
        seq: int,
        *,
        now: float,
        ok: bool,
        status: int | None,
        error: str | None = None,
        retry_at: float | None = None,
    ) -> None:
        if ok:
            state, next_at = DeliveryState.DELIVERED, now
        elif retry_at is not None:
            state, next_at = DeliveryState.PENDING, retry_at
        else:
            state, next_at = DeliveryState.DEAD, now
        async with self._tx() as db:
            await db.execute(
                "UPDATE deliveries SET state = ?, attempts = attempts + 1, next_attempt_at = ?,"
                " lease_until = NULL, last_status = ?, last_error = ?, delivered_at = ?"
                " WHERE subscriber = ? AND seq = ?",
                (state, next_at, status, error, now if ok else None, subscriber, seq),
            )

    async def list_deliveries(
        self, subscribers: Sequence[str], *, state: DeliveryState | None, after: int, limit: int
    ) -> Sequence[DeliveryRow]:
        if not subscribers:
            return []
        marks = ", ".join("?" for _ in subscribers)
        where = f"d.subscriber IN ({marks}) AND d.seq > ?"
        args: list[Any] = [*subscribers, after]
        if state is not None:
            where += " AND d.state = ?"
            args.append(state)
        rows = await self._read(
            f"{_DELIVERY_SELECT} WHERE {where} ORDER BY d.seq, d.subscriber LIMIT ?",
            (*args, limit),
        )
        return [_delivery(r) for r in rows]

    async def retry_delivery(
        self, subscriber: str, event_id: str, *, now: float
    ) -> DeliveryState | None:
        async with self._tx() as db:
            rows = list(
                await db.execute_fetchall(
                    "SELECT d.seq, d.state FROM deliveries d JOIN events e ON e.seq = d.seq"
                    " WHERE d.subscriber = ? AND e.id = ?",
                    (subscriber, event_id),
                )
            )
            if not rows:
                return None
            seq, state = rows[0]
            if state == DeliveryState.DEAD:
                await db.execute(
                    "UPDATE deliveries SET state = 'pending', next_attempt_at = ?, attempts = 0"
                    " WHERE subscriber = ? AND seq = ?",
                    (now, subscriber, seq),
                )
            return DeliveryState(state)

    async def purge_events(self, subscribers: Sequence[str], *, before: float) -> int:
        """Forget events older than `before` that every subscriber is done with: delivered
        deliveries go, dead ones (and so their events) stay until retried or purged by hand."""
        cutoff = stamp_of(before)
        async with self._tx() as db:
            floor = 2**62
            if subscribers:
                marks = ", ".join("?" for _ in subscribers)
                rows = list(
                    await db.execute_fetchall(
                        f"SELECT subscriber, last_seq FROM subscriber_cursors"
                        f" WHERE subscriber IN ({marks})",
                        tuple(subscribers),
                    )
                )
                seen = {r[0]: r[1] for r in rows}
                floor = min(seen.get(s, 0) for s in subscribers)
            await db.execute(
                "DELETE FROM deliveries WHERE state = 'delivered' AND seq IN"
                " (SELECT seq FROM events WHERE created_at < ? AND seq <= ?)",
                (cutoff, floor),
            )
            cur = await db.execute(
                "DELETE FROM events WHERE created_at < ? AND seq <= ?"
                " AND seq NOT IN (SELECT seq FROM deliveries)",
                (cutoff, floor),
            )
            return cur.rowcount
