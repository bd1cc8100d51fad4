"""Orders: storing one, reading them, and the submission steps of a leased order."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from gateway.errors import LeaseLost, OrderExists, ProviderOrderTaken
from gateway.model.history import Cause, Source
from gateway.model.ids import ulid_floor
from gateway.model.lifecycle import Outcome
from gateway.model.orders import OPEN_PHASES, Phase, Status
from gateway.store.dialect import Queries, Reads, Runner, sql_list
from gateway.store.history import record_transition, verdict_for
from gateway.store.holds import LATE, hold_detail, record_hold
from gateway.store.idempotency import claim_key
from gateway.store.leases import Leases
from gateway.store.parts import insert_parts
from gateway.store.records import (
    HistoryEntry,
    KeyClaim,
    NewOrder,
    NewPart,
    OrderFilter,
    OrderRow,
    QueueStats,
    Transition,
)
from gateway.store.rows import (
    ORDER_COLUMNS,
    QUEUED,
    Table,
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


class SqlOrders(Queries):
    def __init__(self, db: Runner) -> None:
        super().__init__(db)
        self._order_leases = Leases(db, "orders", ORDER_COLUMNS, OPEN_PHASES, order_row)
        self.claim_due = self._order_leases.claim_due
        self.claim_for_poll = self._order_leases.claim_for_poll
        self._orders = Table(db, "orders", ORDER_COLUMNS, order_row)

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

    async def get_order(self, order_id: str, *, client_id: str | None = None) -> OrderRow | None:
        if client_id is None:
            return await self._orders.one("id = ?", (order_id,))
        return await self._orders.one("id = ? AND client_id = ?", (order_id, client_id))

    async def find_by_external_id(self, client_id: str, external_id: str) -> OrderRow | None:
        return await self._orders.one(
            "client_id = ? AND external_id = ? AND superseded_by IS NULL",
            (client_id, external_id),
            latest=True,
        )

    async def find_by_provider_id(self, provider: str, provider_order_id: str) -> OrderRow | None:
        return await self._orders.one(
            "provider = ? AND provider_order_id = ?", (provider, provider_order_id)
        )

    async def list_orders(self, client_id: str, flt: OrderFilter) -> Sequence[OrderRow]:
        given, fixed = self._order_filter(flt)
        return await self._orders.page(client_id, given, limit=flt.limit, fixed=fixed)

    async def count_orders(self, client_id: str, flt: OrderFilter, *, at_most: int) -> int:
        given, fixed = self._order_filter(flt)
        return await self._orders.count(client_id, given, at_most=at_most, fixed=fixed)

    def _order_filter(self, flt: OrderFilter) -> tuple[list[tuple[str, Any]], list[str]]:
        """What `flt` asks, as (condition, value) pairs and conditions without a value."""
        at = self._d.to_db
        given = [
            ("external_id = ?", flt.external_id),
            ("status = ?", flt.status),
            ("provider = ?", flt.provider),
            ("updated_at >= ?", None if flt.updated_since is None else at(flt.updated_since)),
            ("created_at < ?", None if flt.created_before is None else at(flt.created_before)),
            ("id < ?", flt.before_id),
        ]
        fixed = [] if flt.late is None else [LATE if flt.late else f"NOT {LATE}"]
        if flt.phases is not None:  # the enum's own values: no room for anything else
            fixed.append(f"phase IN {sql_list(Phase(p).value for p in flt.phases)}")
        return given, fixed

    async def orders_created(
        self, client_id: str, *, since: datetime, until: datetime, limit: int
    ) -> Sequence[OrderRow]:
        # Ids are ULIDs of the creation time: the lowest id of `since`'s millisecond (less a
        # minute, for a clock read twice) bounds the index scan; created_at decides.
        floor = "ord_" + ulid_floor(since.timestamp() - 60)
        given = [
            ("id >= ?", floor),
            ("created_at >= ?", self._d.to_db(since)),
            ("created_at < ?", self._d.to_db(until)),
        ]
        return await self._orders.page(client_id, given, limit=limit, oldest_first=True)

    async def history(self, order_id: str) -> Sequence[HistoryEntry]:
        rows = await self._db.reads.fetch_all(
            "SELECT status, source, actor, at, detail, outcome FROM order_history"
            " WHERE order_id = ? ORDER BY seq",
            (order_id,),
        )
        at = self._d.from_db
        return [HistoryEntry(Status(r[0]), r[1], r[2], at(r[3]), r[4], Outcome(r[5])) for r in rows]

    async def queue_stats(self, *, now: float) -> dict[str, QueueStats]:
        # A split order (phase `parts`) is not a submission itself: each open part is one,
        # at its own provider, as old as the order (they are stored together).
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

    # submission ----------------------------------------------------------------
    async def claim(
        self, order_id: str, *, owner: str, now: float, lease_until: float
    ) -> OrderRow | None:
        return await self._order_leases.claim(
            order_id, owner=owner, now=now, lease_until=lease_until
        )

    async def renew(self, order_id: str, *, owner: str, lease_until: float) -> bool:
        return await self._order_leases.renew(order_id, owner=owner, until=lease_until)

    async def release(self, order_id: str, *, owner: str) -> None:
        await self._order_leases.release(order_id, owner=owner)

    async def advance(self, order_id: str, *, owner: str, step: Transition) -> OrderRow:
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
            async with self._db.transaction() as tx:
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
                updated = await tx.fetch_one(
                    f"UPDATE orders SET {', '.join(sets)} WHERE id = ? AND lease_owner = ?"
                    f" RETURNING {ORDER_COLUMNS}",
                    (*args, order_id, owner),
                )
                if updated is None:
                    raise LeaseLost(order_id)
                if status is not None:
                    cause = Cause(step.source, step.actor, step.detail)
                    await record_transition(
                        tx, d, order_id, status, cause, previous=previous, at=at, order=updated
                    )
        except d.unique_violation:
            # The only unique key an update can break: (provider, provider_order_id).
            assert step.provider_order_id is not None
            held = await self._db.reads.fetch_one(
                "SELECT h.provider, h.id FROM orders o JOIN orders h ON h.provider = o.provider"
                " AND h.provider_order_id = ? AND h.id <> o.id WHERE o.id = ?",
                (step.provider_order_id, order_id),
            )
            provider, holder = (held[0], held[1]) if held is not None else ("?", None)
            raise ProviderOrderTaken(provider, step.provider_order_id, holder) from None
        return order_row(updated, d)
