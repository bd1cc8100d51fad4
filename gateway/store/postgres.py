"""The scale-out store: PostgreSQL through an asyncpg connection pool.

Several gateway replicas share one database, so every rule that must hold across them is
enforced by the database itself, never by a read-then-write in Python:

- the natural key (client, external_id) and idempotency records are unique constraints;
  a key is taken with `INSERT … ON CONFLICT DO NOTHING`, and a record that exists is read
  `FOR UPDATE`, so two replicas racing for one key get one `NEW` and one `IN_FLIGHT`;
- the submitter claims due orders with `SELECT … FOR UPDATE SKIP LOCKED` inside the `UPDATE`
  that leases them, so N replicas polling at once never lease one order twice;
- steps that append history lock their order row first, so history numbers never collide.

Each public method is one transaction, as in `SqliteStore`; the contract is `Store`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
import structlog

from gateway.model.orders import OPEN_PHASES, Phase, Status, moves_forward
from gateway.store import postgres_schema
from gateway.store.base import (
    Begin,
    BeginOutcome,
    HistoryEntry,
    LeaseLost,
    NewOrder,
    OrderExists,
    OrderFilter,
    OrderRow,
    StoredEvent,
    StoreUnavailable,
    Transition,
)

log = structlog.get_logger(__name__)

_ORDER_COLUMNS = (
    "id, client_id, external_id, provider, warehouse, route_rule, route_candidate, "
    "provider_order_id, status, phase, body, attempts, next_attempt_at, last_error, "
    "created_at, updated_at"
)
_OPEN = "('" + "', '".join(sorted(OPEN_PHASES)) + "')"
_NATURAL_KEY = "orders_client_external_id"

# What "the database is not there" looks like through asyncpg; anything else is a bug or a
# constraint and propagates as it is.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
)


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
    )


def _stamp(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


async def connect_pool(url: str, *, max_size: int) -> asyncpg.Pool:
    """A pool on `url`; query parameters other than libpq's are server settings
    (`?search_path=tenant_a` puts the gateway's tables in that schema)."""
    try:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=max_size)
    except UNAVAILABLE as exc:
        raise StoreUnavailable(f"cannot connect to PostgreSQL: {exc}") from exc
    assert pool is not None
    return pool


class PostgresStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, url: str, *, pool_size: int = 10, migrate: bool = True) -> PostgresStore:
        """Connect; apply pending migrations (under the advisory lock) unless `migrate` is
        False, in which case a database that is behind is refused with what to run."""
        pool = await connect_pool(url, max_size=pool_size)
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

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[Any]:
        try:
            async with self._pool.acquire() as conn:
                yield conn
        except UNAVAILABLE as exc:
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[Any]:
        async with self._conn() as conn, conn.transaction():
            yield conn

    async def ping(self) -> None:
        async with self._conn() as conn:
            await conn.fetchval("SELECT 1")

    async def close(self) -> None:
        await self._pool.close()

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
            async with self._tx() as db:
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
        async with self._tx() as db:
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
                "DELETE FROM idempotency WHERE client_id = $1 AND key = $2 AND state = 'running'",
                client_id,
                key,
            )

    async def purge_idempotency(self, *, now: float) -> int:
        async with self._tx() as db:
            done = await db.execute("DELETE FROM idempotency WHERE expires_at <= $1", now)
        return int(done.split()[-1])

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
                row = await db.fetchrow(
                    "INSERT INTO orders (id, client_id, external_id, provider, warehouse,"
                    " route_rule, route_candidate, status, phase, body, next_attempt_at,"
                    " lease_owner, lease_until, created_at, updated_at)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)"
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
                )
                await _history(db, order.id, order.status, source="api", detail=None, at=stamp)
                if idempotency is not None:
                    await db.execute(
                        "UPDATE idempotency SET order_id = $1 WHERE client_id = $2 AND key = $3",
                        order.id,
                        *idempotency,
                    )
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name != _NATURAL_KEY:
                raise
            existing = await self.find_by_external_id(order.client_id, order.external_id)
            if existing is None:  # pragma: no cover (a unique row is never deleted)
                raise
            raise OrderExists(existing.id) from None
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
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE client_id = $1 AND external_id = $2",
            client_id,
            external_id,
        )

    async def list_orders(self, client_id: str, flt: OrderFilter) -> Sequence[OrderRow]:
        where, args = ["client_id = $1"], [client_id]
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
                "SELECT status, source, detail, at FROM order_history WHERE order_id = $1"
                " ORDER BY seq",
                order_id,
            )
        return [HistoryEntry(Status(r["status"]), r["source"], r["at"], r["detail"]) for r in rows]

    # submission ----------------------------------------------------------------
    async def claim_due(
        self, *, owner: str, now: float, lease_until: float, limit: int
    ) -> Sequence[OrderRow]:
        # SKIP LOCKED: rows another replica is leasing this instant are passed over, not
        # waited for; the lease condition is re-checked on every row that is locked.
        async with self._tx() as db:
            rows = await db.fetch(
                "UPDATE orders SET lease_owner = $1, lease_until = $2 WHERE id IN ("
                f" SELECT id FROM orders WHERE phase IN {_OPEN} AND next_attempt_at <= $3"
                " AND (lease_until IS NULL OR lease_until <= $3)"
                " ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED)"
                f" RETURNING {_ORDER_COLUMNS}",
                owner,
                lease_until,
                now,
                limit,
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
        async with self._conn() as conn:
            done = await conn.execute(
                "UPDATE orders SET lease_until = $1 WHERE id = $2 AND lease_owner = $3",
                lease_until,
                order_id,
                owner,
            )
        return bool(done == "UPDATE 1")

    async def release(self, order_id: str, *, owner: str) -> None:
        async with self._conn() as conn:
            await conn.execute(
                "UPDATE orders SET lease_owner = NULL, lease_until = NULL"
                " WHERE id = $1 AND lease_owner = $2",
                order_id,
                owner,
            )

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
        if step.release:
            sets.append("lease_owner = NULL, lease_until = NULL")
        async with self._tx() as db:
            status = step.status
            current = await db.fetchval(
                "SELECT status FROM orders WHERE id = $1 FOR UPDATE", order_id
            )
            # News that arrived first (a webhook) is never rewound by a later step.
            if status is not None and current and not moves_forward(Status(current), status):
                status = None
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
                await _history(db, order_id, status, source=step.source, detail=step.detail, at=stamp)
        return _row(row)

    async def find_by_provider_id(self, provider: str, provider_order_id: str) -> OrderRow | None:
        return await self._one(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE provider = $1 AND provider_order_id = $2",
            provider,
            provider_order_id,
        )

    async def apply_status(
        self, order_id: str, status: Status, *, source: str, detail: str | None = None
    ) -> bool:
        stamp = datetime.now(UTC)
        async with self._tx() as db:
            current = await db.fetchval(
                "SELECT status FROM orders WHERE id = $1 FOR UPDATE", order_id
            )
            if current is None or not moves_forward(Status(current), status):
                return False
            await db.execute(
                "UPDATE orders SET status = $1, updated_at = $2 WHERE id = $3",
                status.value,
                stamp,
                order_id,
            )
            await _history(db, order_id, status, source=source, detail=detail, at=stamp)
            return True

    # inbound webhooks ----------------------------------------------------------
    async def record_event(self, event: StoredEvent, *, now: float) -> bool:
        async with self._conn() as conn:
            stored = await conn.fetchval(
                "INSERT INTO webhook_events (provider, event_id, topic, provider_order_id,"
                " status, raw_status, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                " ON CONFLICT (provider, event_id) DO NOTHING RETURNING 1",
                event.provider,
                event.event_id,
                event.topic,
                event.provider_order_id,
                event.status.value if event.status is not None else None,
                event.raw_status,
                now,
            )
        return bool(stored)

    async def unapplied_events(self, *, limit: int) -> Sequence[StoredEvent]:
        async with self._conn() as conn:
            rows = await conn.fetch(
                "SELECT * FROM webhook_events WHERE applied_at IS NULL"
                " ORDER BY received_at LIMIT $1",
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

    async def queue_stats(self, *, now: float) -> tuple[int, float | None]:
        async with self._conn() as conn:
            r = await conn.fetchrow(
                f"SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM orders WHERE phase IN {_OPEN}"
            )
        oldest: datetime | None = r["oldest"]
        return int(r["n"]), (now - oldest.timestamp() if oldest is not None else None)


async def _history(
    db: Any, order_id: str, status: Status, *, source: str, detail: str | None, at: datetime
) -> None:
    # Callers hold the order row (inserted or locked FOR UPDATE), so MAX(seq) cannot race.
    await db.execute(
        "INSERT INTO order_history (order_id, seq, status, source, detail, at)"
        " SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5"
        " FROM order_history WHERE order_id = $1",
        order_id,
        status.value,
        source,
        detail,
        at,
    )
