"""Idempotency records (scope: client and key).

A key is taken with `INSERT … ON CONFLICT DO NOTHING`; a record that exists is read
`FOR UPDATE` on PostgreSQL, so requests racing for one key from several replicas get exactly
one `NEW` (SQLite's one writer serialises them anyway).

Neither the claim nor the stored answer is waited on to be durable (`durable=False`): the
claim only matters while its request runs, and a crash loses that request anyway; an answer
lost in a crash is rebuilt from the order it names (`RESUME`). Both still take effect at once
for every later transaction. What must be durable before a provider call — the order row,
linked to its key — is.
"""

from __future__ import annotations

from gateway.store.dialect import Queries
from gateway.store.records import Begin, BeginOutcome

_KEY = "WHERE client_id = ? AND key = ?"


class SqlIdempotency(Queries):
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
        claim = (fingerprint, now + lock_s, now + ttl_s, client_id, key)
        while True:
            async with self._db.transaction(durable=False) as tx:
                if await tx.execute(  # the common case: a new key
                    "INSERT INTO idempotency (fingerprint, state, locked_until, expires_at,"
                    " client_id, key) VALUES (?, 'running', ?, ?, ?, ?)"
                    " ON CONFLICT (client_id, key) DO NOTHING",
                    claim,
                ):
                    return Begin(BeginOutcome.NEW)
                rec = await tx.fetch_one(
                    f"SELECT * FROM idempotency {_KEY}{self._db.dialect.for_update()}",
                    (client_id, key),
                )
                if rec is None:
                    continue  # abandoned or purged between the two statements: try again
                if rec["expires_at"] <= now:
                    # Reused in place (not deleted and re-inserted) so that a concurrent
                    # request waiting on this row's lock sees it running, not gone.
                    await tx.execute(
                        "UPDATE idempotency SET fingerprint = ?, state = 'running',"
                        " order_id = NULL, response_status = NULL, response_body = NULL,"
                        f" locked_until = ?, expires_at = ? {_KEY}",
                        claim,
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
                await tx.execute(
                    f"UPDATE idempotency SET locked_until = ? {_KEY}",
                    (now + lock_s, client_id, key),
                )
                if rec["order_id"] is not None:
                    return Begin(BeginOutcome.RESUME, order_id=rec["order_id"])
                return Begin(BeginOutcome.NEW)

    async def finish_idempotent(
        self, client_id: str, key: str, *, status: int, body: bytes
    ) -> None:
        async with self._db.transaction(durable=False) as tx:
            await tx.execute(
                f"UPDATE idempotency SET state = 'done', response_status = ?, response_body = ?"
                f" {_KEY}",
                (status, body, client_id, key),
            )

    async def abandon_idempotent(self, client_id: str, key: str) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                f"DELETE FROM idempotency {_KEY} AND state = 'running' AND order_id IS NULL",
                (client_id, key),
            )
            # Its order was stored: the key stays, unlocked, so a retry resumes that order.
            await tx.execute(
                f"UPDATE idempotency SET locked_until = 0 {_KEY} AND state = 'running'",
                (client_id, key),
            )

    async def purge_idempotency(self, *, now: float) -> int:
        async with self._db.transaction() as tx:
            return await tx.execute("DELETE FROM idempotency WHERE expires_at <= ?", (now,))
