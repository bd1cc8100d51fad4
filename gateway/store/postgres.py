"""The scale-out store: PostgreSQL through an asyncpg connection pool.

Several gateway replicas share one database, so every rule that must hold across them is
enforced by the database itself, never by a read-then-write in Python:

- the natural key (client, external_id) and idempotency records are unique constraints
  (the natural key over orders not superseded; superseding updates the rejected order's row
  in the inserting transaction, so of two racing corrections one finds it taken);
  a key is taken with `INSERT … ON CONFLICT DO NOTHING`, and a record that exists is read
  `FOR UPDATE`, so two replicas racing for one key get one `NEW` and one `IN_FLIGHT`;
- a return is settled against the order's earlier returns with the order row locked
  `FOR UPDATE`, so two replicas never both take back the same units;
- the submitter claims due orders with `SELECT … FOR UPDATE SKIP LOCKED` inside the `UPDATE`
  that leases them, so N replicas polling at once never lease one order twice;
- steps that append history lock their order row first, so history numbers never collide.

Each public method is one transaction, as in `SqliteStore`; the contract is `Store`. The pool
lives in `postgres_pool.py`, idempotency records and webhook events in `postgres_records.py`,
returns in `postgres_returns.py`, migrations in `postgres_schema.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
import structlog

from gateway.errors import LeaseLost, OrderExists, ProviderOrderTaken, StoreUnavailable
from gateway.model.history import Source
from gateway.model.lifecycle import Outcome
from gateway.model.orders import OPEN_PHASES, Phase, Status
from gateway.store import postgres_schema
from gateway.store.postgres_deliveries import PostgresDeliveries
from gateway.store.postgres_events import PostgresAfterSubmission, record_transition, verdict_for
from gateway.store.postgres_pool import connect_pool
from gateway.store.postgres_records import RecordQueries
from gateway.store.postgres_returns import PostgresReturns
from gateway.store.records import (
    HistoryEntry,
    NewOrder,
    OrderFilter,
    OrderRow,
    QueueStats,
    Transition,
)

log = structlog.get_logger(__name__)

_ORDER_COLUMNS = (
    "id, client_id, external_id, provider, warehouse, route_rule, route_candidate, "
    "provider_order_id, status, phase, body, attempts, next_attempt_at, last_error, "
    "created_at, updated_at, provider_status, tracking_code, tracking_url, shipment_ids, "
    "synced_at, provider_reference, supersedes, superseded_by"
)
_OPEN = "('" + "', '".join(sorted(OPEN_PHASES)) + "')"
_NATURAL_KEY = "orders_client_external_id"
"""The unique index of (client_id, external_id) over orders not superseded (migration 007)."""
_SUPERSEDE = (
    "UPDATE orders SET superseded_by = $1, updated_at = $2 WHERE id = $3"
    f" AND status = '{Status.REJECTED}' AND superseded_by IS NULL RETURNING id"
)
"""Link a rejected order to its successor, unless it is not rejected or has one already."""


def _row(r: asyncpg.Record) -> OrderRow:
    return OrderRow(
        id=r["id"],
        client_id=r["client_id"],
        external_id=r["external_id"],
        provider=r["provider"],
        warehouse=r["warehouse"],
        route_rule=r["route_rule"],
        route_candidate=r["route_candidate"],
        provider_order_id=r["provider_order_id"],
        status=Status(r["status"]),
        phase=Phase(r["phase"]),
        body=r["body"],
        attempts=r["attempts"],
        next_attempt_at=r["next_attempt_at"],
        last_error=orjson.loads(r["last_error"]) if r["last_error"] else None,
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        provider_status=r["provider_status"],
        tracking_code=r["tracking_code"],
        tracking_url=r["tracking_url"],
        shipment_ids=tuple(orjson.loads(r["shipment_ids"])) if r["shipment_ids"] else (),
        synced_at=r["synced_at"],
        provider_reference=r["provider_reference"],
        supersedes=r["supersedes"],
        superseded_by=r["superseded_by"],
    )


async def _holder(db: Any, order: NewOrder) -> str | None:
    """The live order holding `order`'s natural key, if any."""
    held = await db.fetchval(
        "SELECT id FROM orders WHERE client_id = $1 AND external_id = $2 AND superseded_by IS NULL",
        order.client_id,
        order.external_id,
    )
    return str(held) if held is not None else None


def _stamp(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class PostgresStore(PostgresAfterSubmission, PostgresDeliveries, RecordQueries, PostgresReturns):
    _order_columns = _ORDER_COLUMNS
    _to_row = staticmethod(_row)

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        pool_size: int = 10,
        migrate: bool = True,
        password: str | None = None,
        connect_wait_s: float = 0.0,
    ) -> PostgresStore:
        """Connect, waiting up to `connect_wait_s` for a database that is not reachable yet;
        apply pending migrations (under the advisory lock) unless `migrate` is False, in which
        case a database that is behind is refused with what to run."""
        pool = await connect_pool(url, max_size=pool_size, password=password, wait_s=connect_wait_s)
        store = cls(pool)
        try:
            async with store._conn() as conn:
                if migrate:
                    await postgres_schema.migrate(conn)
                elif missing := await postgres_schema.pending(conn):
                    raise StoreUnavailable(
                        f"database schema is behind (migrations {missing} pending):"
                        " run `gateway migrate --config FILE`"
                    )
        except BaseException:
            await pool.close()
            raise
        log.info("store.opened", backend="postgresql", pool_size=pool_size)
        return store

    # orders --------------------------------------------------------------------
    async def insert_order(
        self,
        order: NewOrder,
        *,
        now: float,
        idempotency: tuple[str, str] | None,
        lease_owner: str | None,
        lease_until: float | None,
    ) -> OrderRow:
        stamp = _stamp(now)
        try:
            async with self._tx() as db:
                # A racing successor holds the row lock; once it commits, this finds the
                # predecessor superseded, and that successor holding the key.
                if order.supersedes is not None and not await db.fetchval(
                    _SUPERSEDE, order.id, stamp, order.supersedes
                ):
                    raise OrderExists(await _holder(db, order) or order.supersedes)
                row = await db.fetchrow(
                    "INSERT INTO orders (id, client_id, external_id, provider, warehouse,"
                    " route_rule, route_candidate, status, phase, body, next_attempt_at,"
                    " lease_owner, lease_until, created_at, updated_at, attempts,"
                    " provider_reference, supersedes)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14,"
                    " $15, $16, $17)"
                    f" RETURNING {_ORDER_COLUMNS}",
                    order.id,
                    order.client_id,
                    order.external_id,
                    order.provider,
                    order.warehouse,
                    order.route_rule,
                    order.route_candidate,
                    order.status.value,
                    order.phase.value,
                    order.body,
                    now,
                    lease_owner,
                    lease_until,
                    stamp,
                    order.attempts,
                    order.provider_reference,
                    order.supersedes,
                )
                await record_transition(
                    db,
                    order.id,
                    order.status,
                    None,
                    source=Source.API,
                    actor=order.client_id,
                    detail=None,
                    at=stamp,
                )
                if idempotency is not None:
                    await db.execute(
                        "UPDATE idempotency SET order_id = $1 WHERE client_id = $2 AND key = $3",
                        order.id,
                        *idempotency,
                    )
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name != _NATURAL_KEY:
                raise
            async with self._conn() as conn:
                held = await _holder(conn, order)
            if held is None:  # pragma: no cover (a unique row is never deleted)
                raise
            raise OrderExists(held) from None
        return _row(row)

    async def _one(self, sql: str, *args: Any) -> OrderRow | None:
        async with self._conn() as conn:
            r = await conn.fetchrow(sql, *args)
        return _row(r) if r is not None else None

    async def get_order(self, order_id: str, *, client_id: str | None = None) -> OrderRow | None:
        if client_id is None:
            return await self._one(f"SELECT {_ORDER_COLUMNS} FROM orders WHERE id = $1", order_id)
        return await self._one(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE id = $1 AND client_id = $2",
            order_id,
            client_id,
        )

    async def find_by_external_id(self, client_id: str, external_id: str) -> OrderRow | None:
        return await self._one(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE client_id = $1 AND external_id = $2"
            " AND superseded_by IS NULL",
            client_id,
            external_id,
        )

    async def list_orders(self, client_id: str, flt: OrderFilter) -> Sequence[OrderRow]:
        where, args = ["client_id = $1"], list[object]([client_id])
        conditions: tuple[tuple[str, object], ...] = (
            ("external_id = ", flt.external_id),
            ("status = ", flt.status.value if flt.status is not None else None),
            ("provider = ", flt.provider),
            ("updated_at >= ", flt.updated_since),
            ("id < ", flt.before_id),
        )
        for condition, value in conditions:
            if value is not None:
                args.append(value)
                where.append(f"{condition}${len(args)}")
        args.append(flt.limit)
        async with self._conn() as conn:
            rows = await conn.fetch(
                f"SELECT {_ORDER_COLUMNS} FROM orders WHERE {' AND '.join(where)}"
                f" ORDER BY id DESC LIMIT ${len(args)}",
                *args,
            )
        return [_row(r) for r in rows]

    async def history(self, order_id: str) -> Sequence[HistoryEntry]:
        async with self._conn() as conn:
            rows = await conn.fetch(
                "SELECT status, source, actor, detail, at, outcome FROM order_history"
                " WHERE order_id = $1 ORDER BY seq",
                order_id,
            )
        return [
            HistoryEntry(
                Status(r["status"]),
                r["source"],
                r["actor"],
                r["at"],
                r["detail"],
                Outcome(r["outcome"]),
            )
            for r in rows
        ]

    # submission ----------------------------------------------------------------
    async def claim_due(
        self, *, owner: str, now: float, lease_until: float, limit: int
    ) -> Sequence[OrderRow]:
        rows = await self._claim_due_rows(
            "orders",
            _ORDER_COLUMNS,
            _OPEN,
            owner=owner,
            now=now,
            lease_until=lease_until,
            limit=limit,
        )
        return sorted((_row(r) for r in rows), key=lambda r: r.next_attempt_at)

    async def claim(
        self, order_id: str, *, owner: str, now: float, lease_until: float
    ) -> OrderRow | None:
        return await self._one(
            "UPDATE orders SET lease_owner = $1, lease_until = $2 WHERE id = $3"
            f" AND phase IN {_OPEN} AND (lease_until IS NULL OR lease_until <= $4"
            f" OR lease_owner = $1) RETURNING {_ORDER_COLUMNS}",
            owner,
            lease_until,
            order_id,
            now,
        )

    async def renew(self, order_id: str, *, owner: str, lease_until: float) -> bool:
        return await self._renew_lease("orders", order_id, owner=owner, until=lease_until)

    async def release(self, order_id: str, *, owner: str) -> None:
        await self._release_lease("orders", order_id, owner=owner)

    async def advance(self, order_id: str, *, owner: str, step: Transition) -> OrderRow:
        stamp = datetime.now(UTC)
        args: list[Any] = [order_id, owner, step.phase.value, stamp]
        sets = ["phase = $3", "updated_at = $4"]

        def put(column: str, value: Any) -> None:
            args.append(value)
            sets.append(f"{column} = ${len(args)}")

        if step.provider_order_id is not None:
            put("provider_order_id", step.provider_order_id)
        put("last_error", orjson.dumps(step.last_error).decode() if step.last_error else None)
        if step.next_attempt_at is not None:
            put("next_attempt_at", step.next_attempt_at)
        if step.count_attempt:
            sets.append("attempts = attempts + 1")
        for column, value in step.facts.columns() if step.facts else []:
            put(column, value)
        if step.release:
            sets.append("lease_owner = NULL, lease_until = NULL")
        try:
            async with self._tx() as db:
                status, previous = step.status, None
                found = await verdict_for(db, order_id, status or Status.ACCEPTED)  # locks the row
                # News that arrived first (a webhook) is never rewound by a later step.
                if status is not None and (found is None or found[1] is not Outcome.APPLIED):
                    status = None
                elif found is not None:
                    previous = found[0]
                if status is not None:
                    put("status", status.value)
                row = await db.fetchrow(
                    f"UPDATE orders SET {', '.join(sets)} WHERE id = $1 AND lease_owner = $2"
                    f" RETURNING {_ORDER_COLUMNS}",
                    *args,
                )
                if row is None:
                    raise LeaseLost(order_id)
                if status is not None:
                    await record_transition(
                        db,
                        order_id,
                        status,
                        previous,
                        source=step.source,
                        actor=step.actor,
                        detail=step.detail,
                        at=stamp,
                    )
        except asyncpg.UniqueViolationError:
            # The only unique key an update can break: (provider, provider_order_id).
            assert step.provider_order_id is not None
            async with self._conn() as conn:
                held = await conn.fetchrow(
                    "SELECT h.provider, h.id FROM orders o JOIN orders h ON h.provider = o.provider"
                    " AND h.provider_order_id = $1 AND h.id <> o.id WHERE o.id = $2",
                    step.provider_order_id,
                    order_id,
                )
            provider, holder = (held[0], held[1]) if held else ("?", None)
            raise ProviderOrderTaken(provider, step.provider_order_id, holder) from None
        return _row(row)

    async def find_by_provider_id(self, provider: str, provider_order_id: str) -> OrderRow | None:
        return await self._one(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE provider = $1 AND provider_order_id = $2",
            provider,
            provider_order_id,
        )

    async def queue_stats(self, *, now: float) -> dict[str, QueueStats]:
        async with self._conn() as conn:
            rows = await conn.fetch(
                "SELECT provider, COUNT(*) AS n, MIN(created_at) AS oldest FROM orders"
                f" WHERE phase IN {_OPEN} GROUP BY provider"
            )
        return {
            r["provider"]: QueueStats(int(r["n"]), max(0.0, now - r["oldest"].timestamp()))
            for r in rows
        }
