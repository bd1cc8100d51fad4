"""Orders: storing one, reading them, and the submission steps of a leased order."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

import orjson

from gateway.errors import OrderExists
from gateway.model.history import Cause, Source
from gateway.model.lifecycle import Outcome
from gateway.model.orders import OPEN_PHASES, Status
from gateway.store.dialect import Queries, Reads, Runner, sql_list
from gateway.store.history import record_transition, verdict_for
from gateway.store.holds import hold_detail, record_hold
from gateway.store.idempotency import KeyClaim, claim_key
from gateway.store.leases import Claim, ClaimDue, ClaimForPoll, Leases, Release, Renew
from gateway.store.order_reads import OrderReads
from gateway.store.parts import insert_parts
from gateway.store.records import NewOrder, NewPart, OrderRow, QueueStats, Transition
from gateway.store.rows import (
    ORDER_COLUMNS,
    QUEUED,
    insert_sql,
    json_text,
    names,
    order_row,
    step_sets,
)

_OPEN = sql_list(OPEN_PHASES)
_NATURAL_KEY = "orders_client_external_id"
"""The unique index of (client_id, external_id) over orders not superseded (migration 007)."""
_NEW_COLUMNS = names(NewOrder)
_INSERT = f"{insert_sql('orders', [*_NEW_COLUMNS, *QUEUED])} RETURNING {ORDER_COLUMNS}"
_SUPERSEDE = (
    "UPDATE orders SET superseded_by = ?, updated_at = ? WHERE id = ?"
    f" AND status = '{Status.REJECTED}' AND superseded_by IS NULL"
)
"""Link a rejected order to its successor, unless it is not rejected or has one already."""


async def _holder(db: Reads, order: NewOrder) -> str | None:
    """The live order holding `order`'s natural key, if any."""
    row = await db.fetch_one(
        "SELECT id FROM orders WHERE client_id = ? AND external_id = ? AND superseded_by IS NULL",
        (order.client_id, order.external_id),
    )
    return str(row[0]) if row is not None else None


class OrderIntake(OrderReads, Protocol):
    """What accepting an order needs: storing it, and finding the order a key names."""

    async def insert_order(
        self,
        order: NewOrder,
        *,
        now: float,
        idempotency: tuple[str, str] | KeyClaim | None,
        lease_owner: str | None,
        lease_until: float | None,
        parts: Sequence[NewPart] = (),
    ) -> OrderRow:
        """Store a new order and its first history entry (and, for a split order, its
        `parts`, each `pending` under the lease, the order itself then without one); raises
        `OrderExists` naming the live order holding (client, external_id). With
        `order.supersedes`, that rejected order is linked to this one (`superseded_by`) in
        the same transaction, and gives the key up — only while it is rejected and not
        superseded yet (else `OrderExists`: a racing correction won). `idempotency`: the
        key (client, key) this request holds, linked to the order; or its deferred claim,
        taken in the same transaction (`KeyTaken`, nothing stored, if another took it)."""
        d = self._d
        at = datetime.fromtimestamp(now, UTC)
        stamp = d.to_db(at)
        try:
            async with self._db.transaction() as tx:
                if isinstance(idempotency, KeyClaim):  # first: a lost race stores nothing
                    await claim_key(tx, idempotency, order.id)
                # On PostgreSQL a racing successor holds the row lock; once it commits, this
                # finds the predecessor superseded, and that successor holding the key.
                if order.supersedes is not None and not await tx.execute(
                    _SUPERSEDE, (order.id, stamp, order.supersedes)
                ):
                    raise OrderExists(await _holder(tx, order) or order.supersedes)
                values = [getattr(order, name) for name in _NEW_COLUMNS]
                # A split order is driven through its parts: they take the lease, not it.
                own = (None, None) if parts else (lease_owner, lease_until)
                inserted = await tx.fetch_one(_INSERT, (*values, now, *own, stamp, stamp))
                # RETURNING: the row for the event and the caller, without reading it again.
                assert inserted is not None
                api = Cause(Source.API, order.client_id, None)
                first = Status.ACCEPTED if order.hold_reason is not None else order.status
                await record_transition(
                    tx, d, order.id, first, api, previous=None, at=at, order=inserted
                )
                if order.hold_reason is not None:  # accepted, then held before routing
                    why = Cause(
                        Source.API,
                        order.client_id,
                        hold_detail(order.hold_reason, order.hold_until),
                    )
                    await record_hold(tx, d, inserted, why, previous=first)
                if parts:  # a split order's parts, leased as the order would be
                    await insert_parts(
                        tx,
                        order.id,
                        order.client_id,
                        parts,
                        now=now,
                        stamp=stamp,
                        lease_owner=lease_owner,
                        lease_until=lease_until,
                    )
                if isinstance(idempotency, tuple):
                    await tx.execute(
                        "UPDATE idempotency SET order_id = ? WHERE client_id = ? AND key = ?",
                        (order.id, *idempotency),
                    )
        except d.unique_violation as exc:
            if not d.violates(exc, _NATURAL_KEY):
                raise
            # Looked up in a transaction of its own: on SQLite the order that holds the key
            # may be in the same group commit, not yet visible to the reader (and durable
            # once this returns).
            async with self._db.autocommit() as tx:
                held = await _holder(tx, order)
            if held is None:  # pragma: no cover (a unique row is never deleted)
                raise
            raise OrderExists(held) from None
        return order_row(inserted, d)


class Health(Queries, Protocol):
    """What `/readyz`, `/metrics` and `/v1/providers` read."""

    async def ping(self) -> None:
        await self._db.reads.fetch_one("SELECT 1")

    async def queue_stats(self, *, now: float) -> dict[str, QueueStats]:
        # A split order (phase `parts`) is not a submission itself: each open part is one,
        # at its own provider, as old as the order (they are stored together).
        """Per provider: orders whose submission is open, and the age of the oldest.

        Providers without open orders are absent. Read by `/metrics` and `/v1/providers`.
        """
        rows = await self._db.reads.fetch_all(
            "SELECT provider, COUNT(*), MIN(created_at) FROM ("
            f"SELECT provider, created_at FROM orders WHERE phase IN {_OPEN}"
            f" UNION ALL SELECT provider, created_at FROM order_parts WHERE phase IN {_OPEN}"
            ") AS open_submissions GROUP BY provider"
        )
        return {
            r[0]: QueueStats(int(r[1]), max(0.0, now - self._d.from_db(r[2]).timestamp()))
            for r in rows
        }


def _leases(db: Runner) -> Leases[OrderRow]:
    return Leases(db, "orders", ORDER_COLUMNS, OPEN_PHASES, order_row)


class Polling(Queries, Protocol):
    """What the status poller needs besides `OrderChanges.apply_status`."""

    def __init__(self, db: Runner) -> None:
        super().__init__(db)
        self.claim_for_poll = _leases(db).claim_for_poll

    claim_for_poll: ClaimForPoll[OrderRow]
    """Submitted, not final orders of `provider` not synced since `older_than`, oldest
    first; their `synced_at` is set to `now` so that no other replica polls them too."""


class Submissions(Queries, Protocol):
    """What the submitter needs: leases on due orders and the steps it commits."""

    _order_leases: Leases[OrderRow]

    def __init__(self, db: Runner) -> None:
        super().__init__(db)
        self._order_leases = _leases(db)
        self.claim_due = self._order_leases.claim_due
        self.claim = self._order_leases.claim
        self.renew = self._order_leases.renew
        self.release = self._order_leases.release

    claim_due: ClaimDue[OrderRow]
    """Lease up to `limit` open orders that are due and not leased by anyone alive."""

    claim: Claim[OrderRow]
    """Lease one open order, or None if it is done or someone else holds it."""

    renew: Renew
    """Extend a lease this owner holds; False if it was lost."""

    release: Release
    """Give up a lease without changing the order (shutdown)."""

    async def advance(self, order_id: str, *, owner: str, step: Transition) -> OrderRow:
        """Commit one submission step; raises `LeaseLost` if `owner` no longer holds it."""
        d = self._d
        at = datetime.now(UTC)
        sets = ["phase = ?", "updated_at = ?", "last_error = ?"]
        args = [step.phase, d.to_db(at), json_text(step.last_error)]
        # `{}` where the provider keeps nothing: NULL is left to orders stored before 009.
        data = step.provider_data
        given = [
            ("provider_order_id", step.provider_order_id),
            ("provider_data", None if data is None else orjson.dumps(dict(data)).decode()),
            *(step.facts.columns() if step.facts else []),
        ]
        step_sets(step, given, sets, args)
        try:
            async with self._db.transaction(durable=step.durable) as tx:
                status, previous = step.status, None
                if status is not None:
                    found = await verdict_for(tx, d, order_id, status)
                    # News that arrived first (a webhook) is never rewound by a later step.
                    if found is None or found[1] is not Outcome.APPLIED:
                        status = None
                    else:
                        previous = found[0]
                if status is not None:
                    sets.append("status = ?")
                    args.append(status)
                updated = await self._order_leases.step(tx, order_id, owner, sets, args)
                if status is not None:
                    cause = Cause(step.source, step.actor, step.detail)
                    await record_transition(
                        tx, d, order_id, status, cause, previous=previous, at=at, order=updated
                    )
        except d.unique_violation:
            # The only unique key an update can break: (provider, provider_order_id).
            assert step.provider_order_id is not None
            raise await self._order_leases.taken(
                order_id, step.provider_order_id, by="id"
            ) from None
        return order_row(updated, d)
