"""Idempotency records and inbound webhook events on PostgreSQL (part of `PostgresStore`).

A key is taken with `INSERT … ON CONFLICT DO NOTHING`; a record that exists is read
`FOR UPDATE`, so requests racing for one key from several replicas get exactly one `NEW`.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from gateway.model.orders import Status
from gateway.store.postgres_pool import PostgresPool
from gateway.store.records import Begin, BeginOutcome, StoredEvent


class RecordQueries(PostgresPool):
    """The `Store` methods on idempotency records and webhook events; `PostgresStore` adds
    orders and submission on top."""

    # idempotency ---------------------------------------------------------------
    async def begin_idempotent(
        self,
        client_id: str,
        key: str,
        fingerprint: str,
        *,
        now: float,
        lock_s: float,
        ttl_s: float,
    ) -> Begin:
        while True:
            # Not waited on to be durable: the claim matters only while its request runs.
            async with self._tx_unawaited() as db:
                taken = await db.fetchval(
                    "INSERT INTO idempotency (client_id, key, fingerprint, state, locked_until,"
                    " expires_at) VALUES ($1, $2, $3, 'running', $4, $5)"
                    " ON CONFLICT (client_id, key) DO NOTHING RETURNING 1",
                    client_id,
                    key,
                    fingerprint,
                    now + lock_s,
                    now + ttl_s,
                )
                if taken:
                    return Begin(BeginOutcome.NEW)
                rec = await db.fetchrow(
                    "SELECT * FROM idempotency WHERE client_id = $1 AND key = $2 FOR UPDATE",
                    client_id,
                    key,
                )
                if rec is None:
                    continue  # abandoned or purged between the two statements: try again
                if rec["expires_at"] <= now:
                    # Reused in place (not deleted and re-inserted) so that a concurrent
                    # request waiting on this row's lock sees it running, not gone.
                    await db.execute(
                        "UPDATE idempotency SET fingerprint = $3, state = 'running',"
                        " order_id = NULL, response_status = NULL, response_body = NULL,"
                        " locked_until = $4, expires_at = $5 WHERE client_id = $1 AND key = $2",
                        client_id,
                        key,
                        fingerprint,
                        now + lock_s,
                        now + ttl_s,
                    )
                    return Begin(BeginOutcome.NEW)
                if rec["fingerprint"] != fingerprint:
                    return Begin(BeginOutcome.MISMATCH, order_id=rec["order_id"])
                if rec["state"] == "done":
                    return Begin(
                        BeginOutcome.REPLAY,
                        order_id=rec["order_id"],
                        status=rec["response_status"],
                        body=bytes(rec["response_body"]),
                    )
                if rec["locked_until"] > now:
                    return Begin(BeginOutcome.IN_FLIGHT, order_id=rec["order_id"])
                # The request that held the key died. Take the key over.
                await db.execute(
                    "UPDATE idempotency SET locked_until = $3 WHERE client_id = $1 AND key = $2",
                    client_id,
                    key,
                    now + lock_s,
                )
                if rec["order_id"] is not None:
                    return Begin(BeginOutcome.RESUME, order_id=rec["order_id"])
                return Begin(BeginOutcome.NEW)

    async def finish_idempotent(
        self, client_id: str, key: str, *, status: int, body: bytes
    ) -> None:
        # Not waited on to be durable: an answer lost in a crash is rebuilt from its order.
        async with self._tx_unawaited() as db:
            await db.execute(
                "UPDATE idempotency SET state = 'done', response_status = $3, response_body = $4"
                " WHERE client_id = $1 AND key = $2",
                client_id,
                key,
                status,
                body,
            )

    async def abandon_idempotent(self, client_id: str, key: str) -> None:
        async with self._tx() as db:
            await db.execute(
                "DELETE FROM idempotency WHERE client_id = $1 AND key = $2 AND state = 'running'"
                " AND order_id IS NULL",
                client_id,
                key,
            )
            # Its order was stored: the key stays, unlocked, so a retry resumes that order.
            await db.execute(
                "UPDATE idempotency SET locked_until = 0"
                " WHERE client_id = $1 AND key = $2 AND state = 'running'",
                client_id,
                key,
            )

    async def purge_idempotency(self, *, now: float) -> int:
        async with self._tx() as db:
            done = await db.execute("DELETE FROM idempotency WHERE expires_at <= $1", now)
        return int(done.split()[-1])

    # inbound webhooks ----------------------------------------------------------
    async def record_event(self, event: StoredEvent, *, now: float) -> bool:
        async with self._conn() as conn:
            stored = await conn.fetchval(
                "INSERT INTO webhook_events (provider, event_id, topic, provider_order_id,"
                " status, raw_status, received_at, tracking_code, tracking_url, shipment_ids)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb)"
                " ON CONFLICT (provider, event_id) DO NOTHING RETURNING 1",
                event.provider,
                event.event_id,
                event.topic,
                event.provider_order_id,
                event.status.value if event.status is not None else None,
                event.raw_status,
                now,
                event.tracking_code,
                event.tracking_url,
                orjson.dumps(list(event.shipment_ids)).decode(),
            )
        return bool(stored)

    async def unapplied_events(self, *, limit: int, max_attempts: int) -> Sequence[StoredEvent]:
        async with self._conn() as conn:
            rows = await conn.fetch(
                "SELECT * FROM webhook_events WHERE applied_at IS NULL AND attempts < $1"
                " ORDER BY received_at LIMIT $2",
                max_attempts,
                limit,
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
        async with self._conn() as conn:
            if error is None:
                await conn.execute(
                    "UPDATE webhook_events SET applied_at = $1, last_error = NULL"
                    " WHERE provider = $2 AND event_id = $3",
                    now,
                    provider,
                    event_id,
                )
            else:
                await conn.execute(
                    "UPDATE webhook_events SET attempts = attempts + 1, last_error = $1"
                    " WHERE provider = $2 AND event_id = $3",
                    error,
                    provider,
                    event_id,
                )

    async def purge_webhook_events(
        self, *, before: float, max_attempts: int, batch: int = 1000
    ) -> int:
        purged = 0
        while True:
            async with self._conn() as conn:
                done = await conn.execute(
                    "DELETE FROM webhook_events WHERE (provider, event_id) IN"
                    " (SELECT provider, event_id FROM webhook_events WHERE received_at < $1"
                    " AND (applied_at IS NOT NULL OR attempts >= $2) LIMIT $3)",
                    before,
                    max_attempts,
                    batch,
                )
            count = int(done.split()[-1])
            purged += count
            if count < batch:
                return purged
