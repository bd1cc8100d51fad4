"""The embedded store: SQLite in WAL mode, `synchronous=FULL` so a committed order survives
power loss, not only a process crash. Each public method is exactly one transaction.

Writes go through `GroupCommitWriter` (one writer, transactions sharing their COMMIT; see its
module for why and what was measured); reads through a second, read-only aiosqlite
connection, so they never wait behind writes and only ever see committed data.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite
import orjson
import structlog

from gateway.errors import LeaseLost, OrderExists, ProviderOrderTaken, StoreUnavailable
from gateway.model.history import Source
from gateway.model.lifecycle import Outcome
from gateway.model.orders import OPEN_PHASES, Phase, Status
from gateway.store.group_commit import PRAGMAS, GroupCommitWriter, Statements
from gateway.store.records import (
    HistoryEntry,
    NewOrder,
    OrderFilter,
    OrderRow,
    QueueStats,
    Transition,
)
from gateway.store.sqlite_deliveries import SqliteDeliveries
from gateway.store.sqlite_events import SqliteAfterSubmission, record_transition, verdict_for
from gateway.store.sqlite_idempotency import SqliteIdempotency
from gateway.store.sqlite_inbound import SqliteInbound
from gateway.store.sqlite_migrations import migrate, open_writer
from gateway.store.sqlite_returns import SqliteReturns

log = structlog.get_logger(__name__)

_ORDER_COLUMNS = (
    "id, client_id, external_id, provider, warehouse, route_rule, route_candidate, "
    "provider_order_id, status, phase, body, attempts, next_attempt_at, last_error, "
    "created_at, updated_at, provider_status, tracking_code, tracking_url, shipment_ids, "
    "synced_at, provider_reference, supersedes, superseded_by"
)
_OPEN = "('" + "', '".join(sorted(OPEN_PHASES)) + "')"
_SUPERSEDE = (
    "UPDATE orders SET superseded_by = ?, updated_at = ? WHERE id = ?"
    f" AND status = '{Status.REJECTED}' AND superseded_by IS NULL"
)
"""Link a rejected order to its successor, unless it is not rejected or has one already."""


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds")


def _row(r: sqlite3.Row) -> OrderRow:
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
        created_at=datetime.fromisoformat(r["created_at"]),
        updated_at=datetime.fromisoformat(r["updated_at"]),
        provider_status=r["provider_status"],
        tracking_code=r["tracking_code"],
        tracking_url=r["tracking_url"],
        shipment_ids=tuple(orjson.loads(r["shipment_ids"])) if r["shipment_ids"] else (),
        synced_at=r["synced_at"],
        provider_reference=r["provider_reference"],
        supersedes=r["supersedes"],
        superseded_by=r["superseded_by"],
    )


async def _holder(db: Statements, order: NewOrder) -> str | None:
    """The live order holding `order`'s natural key, if any."""
    rows = await db.execute_fetchall(
        "SELECT id FROM orders WHERE client_id = ? AND external_id = ? AND superseded_by IS NULL",
        (order.client_id, order.external_id),
    )
    return str(rows[0]["id"]) if rows else None


async def _reader(path: Path) -> aiosqlite.Connection:
    """Reads go through aiosqlite's thread: they never wait behind writes, see only committed
    data, and a long list query does not block the event loop."""
    db = await aiosqlite.connect(path, isolation_level=None)
    db.row_factory = sqlite3.Row
    for pragma in (*PRAGMAS, "query_only=ON"):
        await db.execute(f"PRAGMA {pragma}")
    return db


class SqliteStore(
    SqliteIdempotency, SqliteAfterSubmission, SqliteInbound, SqliteDeliveries, SqliteReturns
):
    _order_columns = _ORDER_COLUMNS
    _to_row = staticmethod(_row)

    def __init__(self, writer: GroupCommitWriter, reader: aiosqlite.Connection) -> None:
        self._writer = writer
        self._reader = reader
        self._closed = False

    @classmethod
    async def open(cls, url: str) -> SqliteStore:
        path, writer = open_writer(url)
        try:
            await migrate(writer)  # before the reader opens: it must see the tables
            store = cls(writer, await _reader(path))
        except BaseException:
            await writer.close()
            raise
        log.info("store.opened", backend="sqlite", path=str(path))
        return store

    def _tx(self) -> AbstractAsyncContextManager[Statements]:
        return self._writer.transaction()

    def _tx_unawaited(self) -> AbstractAsyncContextManager[Statements]:
        """A transaction whose COMMIT the caller does not wait for (see `transaction`)."""
        return self._writer.transaction(wait=False)

    async def _read(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        try:
            return list(await self._reader.execute_fetchall(sql, args))
        except (sqlite3.Error, ValueError) as exc:  # ValueError: connection closed
            raise StoreUnavailable(str(exc)) from exc

    async def ping(self) -> None:
        await self._read("SELECT 1")

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._writer.close()
            await self._reader.close()

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
        stamp = iso(now)
        try:
            async with self._tx() as db:
                if order.supersedes is not None:
                    cur = await db.execute(_SUPERSEDE, (order.id, stamp, order.supersedes))
                    if cur.rowcount == 0:  # corrected already, by a racing submission
                        raise OrderExists(await _holder(db, order) or order.supersedes)
                returned = await db.execute_fetchall(
                    "INSERT INTO orders (id, client_id, external_id, provider, warehouse,"
                    " route_rule, route_candidate, status, phase, body, next_attempt_at,"
                    " lease_owner, lease_until, created_at, updated_at, attempts,"
                    " provider_reference, supersedes)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    f" RETURNING {_ORDER_COLUMNS}",
                    (
                        order.id,
                        order.client_id,
                        order.external_id,
                        order.provider,
                        order.warehouse,
                        order.route_rule,
                        order.route_candidate,
                        order.status,
                        order.phase,
                        order.body,
                        now,
                        lease_owner,
                        lease_until,
                        stamp,
                        stamp,
                        order.attempts,
                        order.provider_reference,
                        order.supersedes,
                    ),
                )
                # RETURNING: the row for the event and the caller, without reading it again.
                # (Fetched to the end: a half-stepped statement would block the COMMIT.)
                inserted = returned[0]
                await record_transition(
                    db,
                    order.id,
                    order.status,
                    None,
                    source=Source.API,
                    actor=order.client_id,
                    detail=None,
                    stamp=stamp,
                    order=inserted,
                )
                if idempotency is not None:
                    await db.execute(
                        "UPDATE idempotency SET order_id = ? WHERE client_id = ? AND key = ?",
                        (order.id, *idempotency),
                    )
        except sqlite3.IntegrityError:
            # Looked up through the writer: the order that holds the key may be in the same
            # group commit, not yet visible to the reader (and durable once this returns).
            async with self._tx() as db:
                held = await _holder(db, order)
            if held is None:
                raise
            raise OrderExists(held) from None
        return _row(inserted)

    async def get_order(self, order_id: str, *, client_id: str | None = None) -> OrderRow | None:
        if client_id is None:
            rows = await self._read(
                f"SELECT {_ORDER_COLUMNS} FROM orders WHERE id = ?", (order_id,)
            )
        else:
            rows = await self._read(
                f"SELECT {_ORDER_COLUMNS} FROM orders WHERE id = ? AND client_id = ?",
                (order_id, client_id),
            )
        return _row(rows[0]) if rows else None

    async def find_by_external_id(self, client_id: str, external_id: str) -> OrderRow | None:
        # Through the writer: asked on every submit (a reader-thread hop cost ~10% of its CPU),
        # and it must see an order that the open batch holds but has not committed yet.
        rows = await self._writer.read(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE client_id = ? AND external_id = ?"
            " AND superseded_by IS NULL",
            (client_id, external_id),
        )
        return _row(rows[0]) if rows else None

    async def list_orders(self, client_id: str, flt: OrderFilter) -> Sequence[OrderRow]:
        where, args = ["client_id = ?"], [client_id]
        for column, value in (
            ("external_id", flt.external_id),
            ("status", flt.status),
            ("provider", flt.provider),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if flt.updated_since is not None:
            where.append("updated_at >= ?")
            args.append(flt.updated_since.astimezone(UTC).isoformat(timespec="microseconds"))
        if flt.before_id is not None:
            where.append("id < ?")
            args.append(flt.before_id)
        rows = await self._read(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE {' AND '.join(where)}"
            " ORDER BY id DESC LIMIT ?",
            (*args, flt.limit),
        )
        return [_row(r) for r in rows]

    async def history(self, order_id: str) -> Sequence[HistoryEntry]:
        rows = await self._read(
            "SELECT status, source, actor, detail, at, outcome FROM order_history"
            " WHERE order_id = ? ORDER BY seq",
            (order_id,),
        )
        return [
            HistoryEntry(
                Status(r["status"]),
                r["source"],
                r["actor"],
                datetime.fromisoformat(r["at"]),
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
        return [_row(r) for r in rows]

    async def claim(
        self, order_id: str, *, owner: str, now: float, lease_until: float
    ) -> OrderRow | None:
        async with self._tx() as db:
            cur = await db.execute(
                f"UPDATE orders SET lease_owner = ?, lease_until = ? WHERE id = ?"
                f" AND phase IN {_OPEN} AND (lease_until IS NULL OR lease_until <= ?"
                " OR lease_owner = ?)",
                (owner, lease_until, order_id, now, owner),
            )
            if cur.rowcount == 0:
                return None
            rows = list(
                await db.execute_fetchall(
                    f"SELECT {_ORDER_COLUMNS} FROM orders WHERE id = ?", (order_id,)
                )
            )
        return _row(rows[0])

    async def renew(self, order_id: str, *, owner: str, lease_until: float) -> bool:
        return await self._renew_lease("orders", order_id, owner=owner, until=lease_until)

    async def release(self, order_id: str, *, owner: str) -> None:
        await self._release_lease("orders", order_id, owner=owner)

    async def advance(self, order_id: str, *, owner: str, step: Transition) -> OrderRow:
        now = datetime.now(UTC)
        stamp = now.isoformat(timespec="microseconds")
        sets = ["phase = ?", "updated_at = ?"]
        args: list[Any] = [step.phase, stamp]
        status = step.status
        if step.provider_order_id is not None:
            sets.append("provider_order_id = ?")
            args.append(step.provider_order_id)
        sets.append("last_error = ?")
        args.append(orjson.dumps(step.last_error).decode() if step.last_error else None)
        if step.next_attempt_at is not None:
            sets.append("next_attempt_at = ?")
            args.append(step.next_attempt_at)
        if step.count_attempt:
            sets.append("attempts = attempts + 1")
        for column, value in step.facts.columns() if step.facts else []:
            sets.append(f"{column} = ?")
            args.append(value)
        if step.release:
            sets.append("lease_owner = NULL, lease_until = NULL")
        try:
            async with self._tx() as db:
                previous = None
                if status is not None:
                    found = await verdict_for(db, order_id, status)
                    # News that arrived first (a webhook) is never rewound by a later step.
                    if found is None or found[1] is not Outcome.APPLIED:
                        status = None
                    else:
                        previous = found[0]
                if status is not None:
                    sets.append("status = ?")
                    args.append(status)
                returned = await db.execute_fetchall(
                    f"UPDATE orders SET {', '.join(sets)} WHERE id = ? AND lease_owner = ?"
                    f" RETURNING {_ORDER_COLUMNS}",
                    (*args, order_id, owner),
                )
                if not returned:
                    raise LeaseLost(order_id)
                updated = returned[0]
                if status is not None:
                    await record_transition(
                        db,
                        order_id,
                        status,
                        previous,
                        source=step.source,
                        actor=step.actor,
                        detail=step.detail,
                        stamp=stamp,
                        order=updated,
                    )
        except sqlite3.IntegrityError:
            # The only unique key an update can break: (provider, provider_order_id).
            assert step.provider_order_id is not None
            held = await self._read(
                "SELECT h.provider, h.id FROM orders o JOIN orders h ON h.provider = o.provider"
                " AND h.provider_order_id = ? AND h.id <> o.id WHERE o.id = ?",
                (step.provider_order_id, order_id),
            )
            provider, holder = (held[0][0], held[0][1]) if held else ("?", None)
            raise ProviderOrderTaken(provider, step.provider_order_id, holder) from None
        return _row(updated)

    async def find_by_provider_id(self, provider: str, provider_order_id: str) -> OrderRow | None:
        rows = await self._read(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE provider = ? AND provider_order_id = ?",
            (provider, provider_order_id),
        )
        return _row(rows[0]) if rows else None

    async def queue_stats(self, *, now: float) -> dict[str, QueueStats]:
        rows = await self._read(
            "SELECT provider, COUNT(*), MIN(created_at) FROM orders"
            f" WHERE phase IN {_OPEN} GROUP BY provider"
        )
        return {
            provider: QueueStats(count, max(0.0, now - datetime.fromisoformat(oldest).timestamp()))
            for provider, count, oldest in rows
        }
