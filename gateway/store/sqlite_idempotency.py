"""Idempotency records (scope: client and key), mixed into `SqliteStore`.

Neither the claim nor the stored answer is waited on to be durable (`_tx_unawaited`): the
claim only matters while its request runs, and a crash loses that request anyway; an answer
lost in a crash is rebuilt from the order it names (`RESUME`). Both still take effect at once
for every later transaction — SQLite has one writer, and the next one commits after them.
What must be durable before a provider call — the order row, linked to its key — is.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from gateway.store.group_commit import Statements
from gateway.store.records import Begin, BeginOutcome

_CLAIM = (
    "INSERT INTO idempotency (client_id, key, fingerprint, state, locked_until, expires_at)"
    " VALUES (?, ?, ?, 'running', ?, ?) ON CONFLICT DO NOTHING"
)


class SqliteIdempotency:
    _tx: Callable[[], AbstractAsyncContextManager[Statements]]
    _tx_unawaited: Callable[[], AbstractAsyncContextManager[Statements]]
    _read: Callable[..., Any]

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
        async with self._tx_unawaited() as db:
            claim = (client_id, key, fingerprint, now + lock_s, now + ttl_s)
            if (await db.execute(_CLAIM, claim)).rowcount == 1:  # the common case: a new key
                return Begin(BeginOutcome.NEW)
            # The key is held (this is the one writer: nobody removes it meanwhile).
            [rec] = await db.execute_fetchall(
                "SELECT * FROM idempotency WHERE client_id = ? AND key = ?", (client_id, key)
            )
            if rec["expires_at"] <= now:  # expired: free again
                await db.execute(
                    "DELETE FROM idempotency WHERE client_id = ? AND key = ?", (client_id, key)
                )
                await db.execute(_CLAIM, claim)
                return Begin(BeginOutcome.NEW)
            if rec["fingerprint"] != fingerprint:
                return Begin(BeginOutcome.MISMATCH, order_id=rec["order_id"])
            if rec["state"] == "done":
                return Begin(
                    BeginOutcome.REPLAY,
                    order_id=rec["order_id"],
                    status=rec["response_status"],
                    body=rec["response_body"],
                )
            if rec["locked_until"] > now:
                return Begin(BeginOutcome.IN_FLIGHT, order_id=rec["order_id"])
            # The request that held the key died. Take the key over.
            await db.execute(
                "UPDATE idempotency SET locked_until = ? WHERE client_id = ? AND key = ?",
                (now + lock_s, client_id, key),
            )
            if rec["order_id"] is not None:
                return Begin(BeginOutcome.RESUME, order_id=rec["order_id"])
            return Begin(BeginOutcome.NEW)

    async def finish_idempotent(
        self, client_id: str, key: str, *, status: int, body: bytes
    ) -> None:
        async with self._tx_unawaited() as db:
            await db.execute(
                "UPDATE idempotency SET state = 'done', response_status = ?, response_body = ?"
                " WHERE client_id = ? AND key = ?",
                (status, body, client_id, key),
            )

    async def abandon_idempotent(self, client_id: str, key: str) -> None:
        async with self._tx() as db:
            await db.execute(
                "DELETE FROM idempotency WHERE client_id = ? AND key = ? AND state = 'running'"
                " AND order_id IS NULL",
                (client_id, key),
            )
            # Its order was stored: the key stays, unlocked, so a retry resumes that order.
            await db.execute(
                "UPDATE idempotency SET locked_until = 0"
                " WHERE client_id = ? AND key = ? AND state = 'running'",
                (client_id, key),
            )

    async def purge_idempotency(self, *, now: float) -> int:
        async with self._tx() as db:
            cur = await db.execute("DELETE FROM idempotency WHERE expires_at <= ?", (now,))
            return cur.rowcount
