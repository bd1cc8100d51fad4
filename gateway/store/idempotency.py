"""Idempotency records (scope: client and key).

A key is taken with `INSERT … ON CONFLICT DO NOTHING`; a record that exists is read
`FOR UPDATE` on PostgreSQL, so requests racing for one key from several replicas get exactly
one `NEW` (SQLite's one writer serialises them anyway).

`begin_idempotent(defer=True)` only reads: a key nobody holds comes back as a `KeyClaim`, which
the transaction storing the order takes (`claim_key`), so the claim rides the order's durable
commit instead of a transaction of its own; the key's unique row settles a race (`KeyTaken`).

Neither a claim taken on its own nor the stored answer is waited on to be durable
(`durable=False`): the claim only matters while its request runs, and a crash loses that
request anyway; an answer lost in a crash is rebuilt from the order it names (`RESUME`). Both
still take effect at once for every later transaction. What must be durable before a provider
call — the order row, linked to its key — is.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from gateway.errors import KeyTaken
from gateway.store.dialect import Queries, Row, Tx


class BeginOutcome(StrEnum):
    NEW = "new"
    """No record: this request owns the key now."""
    REPLAY = "replay"
    """Finished before with the same body: answer the stored response."""
    MISMATCH = "mismatch"
    """The key was used with a different body."""
    IN_FLIGHT = "in_flight"
    """The first request with this key is still running."""
    RESUME = "resume"
    """The first request died after storing its order: answer from that order."""


@dataclass(frozen=True, slots=True)
class KeyClaim:
    """A new key nobody holds yet, to be taken by the transaction that stores what it creates
    (`begin_idempotent(defer=True)`): one durable commit before the provider call, not two."""

    client_id: str
    key: str
    fingerprint: str
    locked_until: float
    expires_at: float


@dataclass(frozen=True, slots=True)
class Begin:
    outcome: BeginOutcome
    order_id: str | None = None
    status: int | None = None
    body: bytes | None = None
    claim: KeyClaim | None = None
    """`NEW` and not taken yet: the claim the insert takes (None: this request holds the key)."""


_KEY = "WHERE client_id = ? AND key = ?"
_CLAIM = (
    "INSERT INTO idempotency (fingerprint, state, locked_until, expires_at, client_id, key,"
    " order_id) VALUES (?, 'running', ?, ?, ?, ?, ?) ON CONFLICT (client_id, key) DO NOTHING"
)


async def claim_key(tx: Tx, claim: KeyClaim, resource_id: str | None) -> None:
    """Take `claim` in `tx`, linked to `resource_id`, the resource `tx` stores; `KeyTaken` (and
    `tx` rolls back) when another request took the key first."""
    if not await tx.execute(
        _CLAIM,
        (
            claim.fingerprint,
            claim.locked_until,
            claim.expires_at,
            claim.client_id,
            claim.key,
            resource_id,
        ),
    ):
        raise KeyTaken(claim.key)


def _settled(rec: Row, fingerprint: str, now: float) -> Begin | None:
    """What a live record answers without taking it over (None: expired, or its holder died)."""
    if rec["expires_at"] <= now:
        return None
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
    return None


class IdempotencyRecords(Queries, Protocol):
    """Idempotency keys of requests that create something (an order, a return): a key's
    `order_id` holds the id of what it created."""

    async def begin_idempotent(
        self,
        client_id: str,
        key: str,
        fingerprint: str,
        *,
        now: float,
        lock_s: float,
        ttl_s: float,
        defer: bool = False,
    ) -> Begin:
        """`defer`: a key nobody holds is not taken here but handed back as `Begin.claim`, for
        the transaction that stores the order (or return) to take (`KeyTaken` if it lost)."""
        if defer:
            # One read, no transaction: a new key (its claim deferred) or a live one's answer.
            rec = await self._db.latest.fetch_one(
                f"SELECT * FROM idempotency {_KEY}", (client_id, key)
            )
            if rec is None:
                claim = KeyClaim(client_id, key, fingerprint, now + lock_s, now + ttl_s)
                return Begin(BeginOutcome.NEW, claim=claim)
            settled = _settled(rec, fingerprint, now)
            if settled is not None and settled.outcome is not BeginOutcome.IN_FLIGHT:
                return settled
            # Running: its answer may sit in another process's open batch (SQLite), seen only
            # under the write lock, as the transaction below reads it.
        claim_args = (fingerprint, now + lock_s, now + ttl_s, client_id, key)
        while True:
            async with self._db.transaction(durable=False) as tx:
                if await tx.execute(  # the common case: a new key
                    "INSERT INTO idempotency (fingerprint, state, locked_until, expires_at,"
                    " client_id, key) VALUES (?, 'running', ?, ?, ?, ?)"
                    " ON CONFLICT (client_id, key) DO NOTHING",
                    claim_args,
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
                        claim_args,
                    )
                    return Begin(BeginOutcome.NEW)
                if (settled := _settled(rec, fingerprint, now)) is not None:
                    return settled
                # The request that held the key died. Take the key over.
                await tx.execute(
                    f"UPDATE idempotency SET locked_until = ? {_KEY}",
                    (now + lock_s, client_id, key),
                )
                if rec["order_id"] is not None:
                    return Begin(BeginOutcome.RESUME, order_id=rec["order_id"])
                return Begin(BeginOutcome.NEW)

    async def finish_idempotent(
        self,
        client_id: str,
        key: str,
        *,
        status: int,
        body: bytes,
        claim: KeyClaim | None = None,
    ) -> None:
        """The key's answer. `claim`: a deferred claim nothing took (the submit ended before
        storing anything): the key is taken done at once, or `KeyTaken`."""
        async with self._db.transaction(durable=False) as tx:
            if claim is None:
                await tx.execute(
                    "UPDATE idempotency SET state = 'done', response_status = ?,"
                    f" response_body = ? {_KEY}",
                    (status, body, client_id, key),
                )
            elif not await tx.execute(
                "INSERT INTO idempotency (fingerprint, state, locked_until, expires_at,"
                " client_id, key, response_status, response_body)"
                " VALUES (?, 'done', ?, ?, ?, ?, ?, ?) ON CONFLICT (client_id, key) DO NOTHING",
                (
                    claim.fingerprint,
                    claim.locked_until,
                    claim.expires_at,
                    client_id,
                    key,
                    status,
                    body,
                ),
            ):
                raise KeyTaken(key)

    async def abandon_idempotent(
        self, client_id: str, key: str, claim: KeyClaim | None = None
    ) -> None:
        """The request holding a running key failed. A key that leads to nothing is freed;
        one linked to the order (or return) it stored stays, unlocked, so that the next
        request with it gets `RESUME` for that order at once. `claim`: the request's deferred
        claim, taken or not: only a key this claim took is unlocked."""
        async with self._db.transaction() as tx:
            if claim is not None:
                # Taken by an insert, if at all: its lock is this claim's own, and an insert
                # always links the key to what it stored, so the key stays, unlocked.
                await tx.execute(
                    f"UPDATE idempotency SET locked_until = 0 {_KEY} AND state = 'running'"
                    " AND locked_until = ?",
                    (client_id, key, claim.locked_until),
                )
                return
            await tx.execute(
                f"DELETE FROM idempotency {_KEY} AND state = 'running' AND order_id IS NULL",
                (client_id, key),
            )
            # Its order was stored: the key stays, unlocked, so a retry resumes that order.
            await tx.execute(
                f"UPDATE idempotency SET locked_until = 0 {_KEY} AND state = 'running'",
                (client_id, key),
            )


class IdempotencyRetention(Queries, Protocol):
    """What the maintenance sweep deletes of the keys: the expired ones."""

    async def purge_idempotency(self, *, now: float) -> int:
        async with self._db.transaction() as tx:
            return await tx.execute("DELETE FROM idempotency WHERE expires_at <= ?", (now,))
