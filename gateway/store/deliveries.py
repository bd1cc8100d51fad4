"""Events on their way to `[[subscribers]]` (migration 003), and outbox retention.

A subscriber's cursor moves over its tenant's events as they become deliveries (`fan_out`,
with the cursor row locked: two replicas never fan out the same events); only the oldest
pending delivery of each subject is ever due (`claim_deliveries`, `SKIP LOCKED`), so one
order's events go out in order and no two replicas send the same one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from gateway.model.events import DeliveryState, matches
from gateway.store.dialect import Queries
from gateway.store.records import DeliveryRow
from gateway.store.rows import DELIVERY_SELECT, delivery_row


class Dispatch(Queries, Protocol):
    """What the dispatcher needs: events made deliveries, leased, and their outcome."""

    async def fan_out(
        self, subscriber: str, client_id: str, patterns: Sequence[str], *, now: float, limit: int
    ) -> int:
        """Make delivery rows for the subscriber's new events matching `patterns`; how many."""
        async with self._db.transaction() as tx:
            await tx.execute(  # a new subscriber starts before the first event
                "INSERT INTO subscriber_cursors (subscriber, last_seq) VALUES (?, 0)"
                " ON CONFLICT (subscriber) DO NOTHING",
                (subscriber,),
            )
            # A row to lock (PostgreSQL): replicas fanning out at once queue on it.
            cursor = await tx.fetch_one(
                "SELECT last_seq FROM subscriber_cursors WHERE subscriber = ?"
                + self._d.for_update(),
                (subscriber,),
            )
            assert cursor is not None
            rows = await tx.fetch_all(
                "SELECT seq, type, subject FROM events WHERE client_id = ? AND seq > ?"
                " ORDER BY seq LIMIT ?",
                (client_id, cursor[0], limit),
            )
            if not rows:
                return 0
            wanted = [r for r in rows if matches(r["type"], patterns)]
            if wanted:
                await tx.execute_many(
                    "INSERT INTO deliveries (subscriber, seq, subject, state, next_attempt_at)"
                    " VALUES (?, ?, ?, 'pending', ?) ON CONFLICT DO NOTHING",
                    [(subscriber, r["seq"], r["subject"], now) for r in wanted],
                )
            await tx.execute(
                "UPDATE subscriber_cursors SET last_seq = ? WHERE subscriber = ?",
                (rows[-1]["seq"], subscriber),
            )
            return len(wanted)

    async def claim_deliveries(
        self, subscriber: str, *, now: float, lease_until: float, limit: int
    ) -> Sequence[DeliveryRow]:
        """Due deliveries that are the oldest pending one of their subject, leased."""
        d = self._d
        async with self._db.transaction() as tx:
            # Only the oldest pending delivery of each subject: events of one order go in order.
            seqs = await tx.fetch_all(
                "UPDATE deliveries SET lease_until = ? WHERE subscriber = ? AND seq IN ("
                " SELECT d.seq FROM deliveries d WHERE d.subscriber = ? AND d.state = 'pending'"
                " AND d.seq = (SELECT MIN(h.seq) FROM deliveries h WHERE h.subscriber ="
                " d.subscriber AND h.subject = d.subject AND h.state = 'pending')"
                " AND d.next_attempt_at <= ? AND (d.lease_until IS NULL OR d.lease_until <= ?)"
                f" ORDER BY d.seq LIMIT ?{d.for_update(skip_locked=True)}) RETURNING seq",
                (lease_until, subscriber, subscriber, now, now, limit),
            )
            if not seqs:
                return []
            which, args = d.any_of("d.seq", [r[0] for r in seqs], "bigint")
            rows = await tx.fetch_all(
                f"{DELIVERY_SELECT} WHERE d.subscriber = ? AND {which} ORDER BY d.seq",
                (subscriber, *args),
            )
        return [delivery_row(r, d) for r in rows]

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
        """Record an attempt: delivered (`ok`), retried at `retry_at`, or dead (neither)."""
        if ok:
            state, next_at = DeliveryState.DELIVERED, now
        elif retry_at is not None:
            state, next_at = DeliveryState.PENDING, retry_at
        else:
            state, next_at = DeliveryState.DEAD, now
        async with self._db.autocommit() as tx:
            await tx.execute(
                "UPDATE deliveries SET state = ?, attempts = attempts + 1, next_attempt_at = ?,"
                " lease_until = NULL, last_status = ?, last_error = ?, delivered_at = ?"
                " WHERE subscriber = ? AND seq = ?",
                (state, next_at, status, error, now if ok else None, subscriber, seq),
            )


class EventRetention(Queries, Protocol):
    """The outbox's part of the maintenance sweep."""

    async def purge_events(self, subscribers: Sequence[str], *, before: float) -> int:
        """Delete events written before `before` that no subscriber still needs (past every
        cursor of `subscribers`, no pending or dead delivery); how many. Delivered deliveries
        go; dead ones (and so their events) stay until retried or purged by hand."""
        d = self._d
        cutoff = d.to_db(datetime.fromtimestamp(before, UTC))
        async with self._db.transaction() as tx:
            floor = 2**62
            if subscribers:
                which, args = d.any_of("subscriber", subscribers, "text")
                rows = await tx.fetch_all(
                    f"SELECT subscriber, last_seq FROM subscriber_cursors WHERE {which}", args
                )
                seen = {r[0]: r[1] for r in rows}
                floor = min(seen.get(s, 0) for s in subscribers)
            await tx.execute(
                "DELETE FROM deliveries WHERE state = 'delivered' AND seq IN"
                " (SELECT seq FROM events WHERE created_at < ? AND seq <= ?)",
                (cutoff, floor),
            )
            # EXCEPT, not a subquery per event: deliveries has no index on seq alone.
            return await tx.execute(
                "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE created_at < ?"
                " AND seq <= ? EXCEPT SELECT seq FROM deliveries)",
                (cutoff, floor),
            )


class DeliveryReads(Queries, Protocol):
    async def list_deliveries(
        self, subscribers: Sequence[str], *, state: DeliveryState | None, after: int, limit: int
    ) -> Sequence[DeliveryRow]:
        if not subscribers:
            return []
        which, args = self._d.any_of("d.subscriber", subscribers, "text")
        where = f"{which} AND d.seq > ?"
        args.append(after)
        if state is not None:
            where += " AND d.state = ?"
            args.append(state)
        rows = await self._db.reads.fetch_all(
            f"{DELIVERY_SELECT} WHERE {where} ORDER BY d.seq, d.subscriber LIMIT ?",
            (*args, limit),
        )
        return [delivery_row(r, self._d) for r in rows]

    async def deliveries_of(
        self, subscribers: Sequence[str], seqs: Sequence[int]
    ) -> Sequence[DeliveryRow]:
        """The deliveries to `subscribers` of the events numbered `seqs`, by event."""
        if not subscribers or not seqs:
            return []
        mine, args = self._d.any_of("d.subscriber", subscribers, "text")
        which, more = self._d.any_of("d.seq", seqs, "bigint")
        rows = await self._db.reads.fetch_all(
            f"{DELIVERY_SELECT} WHERE {mine} AND {which} ORDER BY d.seq, d.subscriber",
            (*args, *more),
        )
        return [delivery_row(r, self._d) for r in rows]

    async def count_deliveries(
        self, subscribers: Sequence[str], *, state: DeliveryState, at_most: int
    ) -> int:
        """How many deliveries to `subscribers` are in `state`, counting up to `at_most`."""
        if not subscribers:
            return 0
        mine, args = self._d.any_of("subscriber", subscribers, "text")
        # The state as a literal (an enum's own value): it lets the planner use the partial
        # index of its state (`deliveries_dead`).
        row = await self._db.reads.fetch_one(
            "SELECT COUNT(*) FROM (SELECT 1 FROM deliveries"
            f" WHERE {mine} AND state = '{DeliveryState(state).value}' LIMIT ?) AS found",
            (*args, at_most),
        )
        assert row is not None
        return int(row[0])

    async def retry_delivery(
        self, subscriber: str, event_id: str, *, now: float
    ) -> DeliveryState | None:
        """Make a dead delivery pending again (due now). The delivery's state before the call
        (DEAD: retried), or None when `subscriber` has no delivery of that event."""
        async with self._db.transaction() as tx:
            row = await tx.fetch_one(
                "SELECT d.seq, d.state FROM deliveries d JOIN events e ON e.seq = d.seq"
                f" WHERE d.subscriber = ? AND e.id = ?{self._d.for_update(of='d')}",
                (subscriber, event_id),
            )
            if row is None:
                return None
            if row["state"] == DeliveryState.DEAD:
                await tx.execute(
                    "UPDATE deliveries SET state = 'pending', next_attempt_at = ?, attempts = 0"
                    " WHERE subscriber = ? AND seq = ?",
                    (now, subscriber, row["seq"]),
                )
            return DeliveryState(row["state"])
