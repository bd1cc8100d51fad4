"""PostgreSQL: events on their way to `[[subscribers]]` (migration 003), and outbox retention.
Part of `PostgresStore`; the SQLite twin is `sqlite_deliveries.py`.

A subscriber's cursor row is locked while its events become deliveries (`fan_out`), so two
replicas never fan out the same events; due deliveries are claimed `FOR UPDATE SKIP LOCKED`,
and only the oldest pending delivery of each subject is ever due, so one order's events go
out in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from gateway.model.events import DeliveryState, matches
from gateway.store.postgres_events import event_of
from gateway.store.postgres_pool import PostgresPool
from gateway.store.records import DeliveryRow


def _delivery(r: Any) -> DeliveryRow:
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


class PostgresDeliveries(PostgresPool):
    async def fan_out(
        self, subscriber: str, client_id: str, patterns: Sequence[str], *, now: float, limit: int
    ) -> int:
        async with self._tx() as db:
            await db.execute(
                "INSERT INTO subscriber_cursors (subscriber, last_seq) VALUES ($1, 0)"
                " ON CONFLICT (subscriber) DO NOTHING",
                subscriber,
            )
            last = await db.fetchval(
                "SELECT last_seq FROM subscriber_cursors WHERE subscriber = $1 FOR UPDATE",
                subscriber,
            )
            rows = await db.fetch(
                "SELECT seq, type, subject FROM events WHERE client_id = $1 AND seq > $2"
                " ORDER BY seq LIMIT $3",
                client_id,
                last,
                limit,
            )
            if not rows:
                return 0
            wanted = [r for r in rows if matches(r["type"], patterns)]
            if wanted:
                await db.executemany(
                    "INSERT INTO deliveries (subscriber, seq, subject, state, next_attempt_at)"
                    " VALUES ($1, $2, $3, 'pending', $4) ON CONFLICT DO NOTHING",
                    [(subscriber, r["seq"], r["subject"], now) for r in wanted],
                )
            await db.execute(
                "UPDATE subscriber_cursors SET last_seq = $2 WHERE subscriber = $1",
                subscriber,
                rows[-1]["seq"],
            )
            return len(wanted)

    async def claim_deliveries(
        self, subscriber: str, *, now: float, lease_until: float, limit: int
    ) -> Sequence[DeliveryRow]:
        async with self._tx() as db:
            # Only the oldest pending delivery of each subject: events of one order go in order.
            seqs = await db.fetch(
                "UPDATE deliveries SET lease_until = $3 WHERE subscriber = $1 AND seq IN ("
                " SELECT d.seq FROM deliveries d WHERE d.subscriber = $1 AND d.state = 'pending'"
                " AND d.seq = (SELECT MIN(h.seq) FROM deliveries h WHERE h.subscriber ="
                " d.subscriber AND h.subject = d.subject AND h.state = 'pending')"
                " AND d.next_attempt_at <= $2 AND (d.lease_until IS NULL OR d.lease_until <= $2)"
                " ORDER BY d.seq LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING seq",
                subscriber,
                now,
                lease_until,
                limit,
            )
            if not seqs:
                return []
            rows = await db.fetch(
                f"{_DELIVERY_SELECT} WHERE d.subscriber = $1 AND d.seq = ANY($2::bigint[])"
                " ORDER BY d.seq",
                subscriber,
                [r["seq"] for r in seqs],
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
        async with self._conn() as conn:
            await conn.execute(
                "UPDATE deliveries SET state = $3, attempts = attempts + 1, next_attempt_at = $4,"
                " lease_until = NULL, last_status = $5, last_error = $6, delivered_at = $7"
                " WHERE subscriber = $1 AND seq = $2",
                subscriber,
                seq,
                state.value,
                next_at,
                status,
                error,
                now if ok else None,
            )

    async def list_deliveries(
        self, subscribers: Sequence[str], *, state: DeliveryState | None, after: int, limit: int
    ) -> Sequence[DeliveryRow]:
        if not subscribers:
            return []
        args: list[Any] = [list(subscribers), after, limit]
        where = "d.subscriber = ANY($1::text[]) AND d.seq > $2"
        if state is not None:
            args.append(state.value)
            where += " AND d.state = $4"
        async with self._conn() as conn:
            rows = await conn.fetch(
                f"{_DELIVERY_SELECT} WHERE {where} ORDER BY d.seq, d.subscriber LIMIT $3", *args
            )
        return [_delivery(r) for r in rows]

    async def retry_delivery(
        self, subscriber: str, event_id: str, *, now: float
    ) -> DeliveryState | None:
        async with self._tx() as db:
            row = await db.fetchrow(
                "SELECT d.seq, d.state FROM deliveries d JOIN events e ON e.seq = d.seq"
                " WHERE d.subscriber = $1 AND e.id = $2 FOR UPDATE OF d",
                subscriber,
                event_id,
            )
            if row is None:
                return None
            if row["state"] == DeliveryState.DEAD:
                await db.execute(
                    "UPDATE deliveries SET state = 'pending', next_attempt_at = $3, attempts = 0"
                    " WHERE subscriber = $1 AND seq = $2",
                    subscriber,
                    row["seq"],
                    now,
                )
            return DeliveryState(row["state"])

    async def purge_events(self, subscribers: Sequence[str], *, before: float) -> int:
        async with self._tx() as db:
            floor = 2**62
            if subscribers:
                rows = await db.fetch(
                    "SELECT subscriber, last_seq FROM subscriber_cursors"
                    " WHERE subscriber = ANY($1::text[])",
                    list(subscribers),
                )
                seen = {r["subscriber"]: r["last_seq"] for r in rows}
                floor = min(seen.get(s, 0) for s in subscribers)
            cutoff = datetime.fromtimestamp(before, UTC)
            await db.execute(
                "DELETE FROM deliveries WHERE state = 'delivered' AND seq IN"
                " (SELECT seq FROM events WHERE created_at < $1 AND seq <= $2)",
                cutoff,
                floor,
            )
            done = await db.execute(
                "DELETE FROM events WHERE created_at < $1 AND seq <= $2"
                " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.seq = events.seq)",
                cutoff,
                floor,
            )
        return int(done.split()[-1])
