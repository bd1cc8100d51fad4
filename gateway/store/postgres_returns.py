"""The returns half of the PostgreSQL store (`ReturnStore`), part of `PostgresStore`.

As for orders: the natural key (client, external_id) is a unique index, the due returns are
leased with `FOR UPDATE SKIP LOCKED` inside the leasing `UPDATE`, and every step that writes
history locks its return row first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

from gateway.errors import LeaseLost, ReturnExists
from gateway.model.events import return_event
from gateway.model.history import Source
from gateway.model.returnable import NOT_TAKING, take_back_json
from gateway.model.returns import (
    FINAL_RETURN_STATUSES,
    OPEN_RETURN_PHASES,
    Decision,
    ReturnPhase,
    ReturnStatus,
)
from gateway.store.postgres_events import append_event
from gateway.store.postgres_leases import PostgresLeases
from gateway.store.records import NewReturn, ReturnFilter, ReturnHistoryEntry, ReturnRow, ReturnStep

_COLUMNS = (
    "id, client_id, order_id, external_id, provider, provider_order_id, provider_return_id,"
    " type, status, provider_status, decision, phase, body, attempts, next_attempt_at,"
    " last_error, created_at, updated_at, provider_reference"
)
_OPEN = "('" + "', '".join(sorted(OPEN_RETURN_PHASES)) + "')"
_FINAL = "('" + "', '".join(sorted(FINAL_RETURN_STATUSES)) + "')"
_NOT_TAKING = "('" + "', '".join(sorted(NOT_TAKING)) + "')"
_NATURAL_KEY = "returns_external_id"


def _row(r: asyncpg.Record) -> ReturnRow:
    return ReturnRow(
        id=r["id"],
        client_id=r["client_id"],
        order_id=r["order_id"],
        external_id=r["external_id"],
        provider=r["provider"],
        provider_order_id=r["provider_order_id"],
        provider_return_id=r["provider_return_id"],
        type=r["type"],
        status=ReturnStatus(r["status"]),
        provider_status=r["provider_status"],
        decision=Decision(r["decision"]) if r["decision"] else None,
        phase=ReturnPhase(r["phase"]),
        body=r["body"],
        attempts=r["attempts"],
        next_attempt_at=r["next_attempt_at"],
        last_error=orjson.loads(r["last_error"]) if r["last_error"] else None,
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        provider_reference=r["provider_reference"],
    )


class PostgresReturns(PostgresLeases):
    async def insert_return(
        self,
        ret: NewReturn,
        *,
        now: float,
        idempotency: tuple[str, str] | None,
        lease_owner: str | None,
        lease_until: float | None,
    ) -> ReturnRow:
        stamp = datetime.fromtimestamp(now, UTC)
        try:
            async with self._tx() as db:
                body = await _take_back(db, ret)
                row = await db.fetchrow(
                    "INSERT INTO returns (id, client_id, order_id, external_id, provider,"
                    " provider_order_id, type, status, phase, body, next_attempt_at, lease_owner,"
                    " lease_until, created_at, updated_at, provider_reference)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14,"
                    " $15)"
                    f" RETURNING {_COLUMNS}",
                    ret.id,
                    ret.client_id,
                    ret.order_id,
                    ret.external_id,
                    ret.provider,
                    ret.provider_order_id,
                    ret.type,
                    ReturnStatus.ACCEPTED.value,
                    ReturnPhase.PENDING.value,
                    body,
                    now,
                    lease_owner,
                    lease_until,
                    stamp,
                    ret.provider_reference,
                )
                api = (Source.API, ret.client_id)
                await _history(db, ret.id, ReturnStatus.ACCEPTED, api, detail=None, at=stamp)
                event = return_event(
                    _row(row), previous_status=None, source=api[0], actor=api[1], detail=None
                )
                await append_event(db, event, now=now)
                if idempotency is not None:
                    await db.execute(
                        "UPDATE idempotency SET order_id = $1 WHERE client_id = $2 AND key = $3",
                        ret.id,
                        *idempotency,
                    )
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name != _NATURAL_KEY or ret.external_id is None:
                raise
            existing = await self.find_return_by_external_id(ret.client_id, ret.external_id)
            if existing is None:  # pragma: no cover (a unique row is never deleted)
                raise
            raise ReturnExists(existing.id) from None
        return _row(row)

    async def _one_return(self, sql: str, *args: Any) -> ReturnRow | None:
        async with self._conn() as conn:
            r = await conn.fetchrow(sql, *args)
        return _row(r) if r is not None else None

    async def get_return(self, return_id: str, *, client_id: str | None = None) -> ReturnRow | None:
        if client_id is None:
            return await self._one_return(
                f"SELECT {_COLUMNS} FROM returns WHERE id = $1", return_id
            )
        return await self._one_return(
            f"SELECT {_COLUMNS} FROM returns WHERE id = $1 AND client_id = $2", return_id, client_id
        )

    async def find_return_by_external_id(
        self, client_id: str, external_id: str
    ) -> ReturnRow | None:
        return await self._one_return(
            f"SELECT {_COLUMNS} FROM returns WHERE client_id = $1 AND external_id = $2",
            client_id,
            external_id,
        )

    async def list_returns(self, client_id: str, flt: ReturnFilter) -> Sequence[ReturnRow]:
        where, args = ["client_id = $1"], list[object]([client_id])
        conditions: tuple[tuple[str, object], ...] = (
            ("order_id = ", flt.order_id),
            ("status = ", flt.status.value if flt.status is not None else None),
            ("id < ", flt.before_id),
        )
        for condition, value in conditions:
            if value is not None:
                args.append(value)
                where.append(f"{condition}${len(args)}")
        args.append(flt.limit)
        async with self._conn() as conn:
            rows = await conn.fetch(
                f"SELECT {_COLUMNS} FROM returns WHERE {' AND '.join(where)}"
                f" ORDER BY id DESC LIMIT ${len(args)}",
                *args,
            )
        return [_row(r) for r in rows]

    async def return_history(self, return_id: str) -> Sequence[ReturnHistoryEntry]:
        async with self._conn() as conn:
            rows = await conn.fetch(
                "SELECT status, source, actor, detail, at FROM return_history WHERE return_id = $1"
                " ORDER BY seq",
                return_id,
            )
        return [
            ReturnHistoryEntry(
                ReturnStatus(r["status"]), r["source"], r["actor"], r["at"], r["detail"]
            )
            for r in rows
        ]

    async def claim_due_returns(
        self, *, owner: str, now: float, lease_until: float, limit: int
    ) -> Sequence[ReturnRow]:
        rows = await self._claim_due_rows(
            "returns", _COLUMNS, _OPEN, owner=owner, now=now, lease_until=lease_until, limit=limit
        )
        return sorted((_row(r) for r in rows), key=lambda r: r.next_attempt_at)

    async def renew_return(self, return_id: str, *, owner: str, lease_until: float) -> bool:
        return await self._renew_lease("returns", return_id, owner=owner, until=lease_until)

    async def release_return(self, return_id: str, *, owner: str) -> None:
        await self._release_lease("returns", return_id, owner=owner)

    async def advance_return(self, return_id: str, *, owner: str, step: ReturnStep) -> ReturnRow:
        return await self._apply_return(return_id, step, owner=owner)

    async def update_return(self, return_id: str, step: ReturnStep) -> ReturnRow:
        return await self._apply_return(return_id, step, owner=None)

    async def open_returns(self, *, limit: int, checked_before: float) -> Sequence[ReturnRow]:
        async with self._conn() as conn:
            rows = await conn.fetch(
                f"SELECT {_COLUMNS} FROM returns WHERE phase = 'done' AND status NOT IN {_FINAL}"
                " AND (checked_at IS NULL OR checked_at <= $1)"
                " ORDER BY COALESCE(checked_at, 0), id LIMIT $2",
                checked_before,
                limit,
            )
        return [_row(r) for r in rows]

    async def _apply_return(
        self, return_id: str, step: ReturnStep, *, owner: str | None
    ) -> ReturnRow:
        stamp = datetime.now(UTC)
        args: list[Any] = [return_id]
        sets = _sets(step, stamp, args)
        where = "id = $1"
        if owner is not None:
            args.append(owner)
            where += f" AND lease_owner = ${len(args)}"
        async with self._tx() as db:
            current = await db.fetchval(
                "SELECT status FROM returns WHERE id = $1 FOR UPDATE", return_id
            )
            if current is None:
                raise KeyError(return_id)
            status = step.status
            # A final status is never left: late news of a cancelled return changes nothing.
            if status is not None and (
                ReturnStatus(current) in FINAL_RETURN_STATUSES or ReturnStatus(current) is status
            ):
                status = None
            if status is not None:
                args.append(status.value)
                sets.append(f"status = ${len(args)}")
            if not sets:
                sets.append("id = id")  # nothing to change: still checks the lease
            row = await db.fetchrow(
                f"UPDATE returns SET {', '.join(sets)} WHERE {where} RETURNING {_COLUMNS}", *args
            )
            if row is None:
                raise LeaseLost(return_id)
            if status is not None or step.event is not None:
                previous = ReturnStatus(current)
                who = (step.source, step.actor)
                await _history(db, return_id, status or previous, who, detail=step.detail, at=stamp)
                event = return_event(
                    _row(row),
                    previous_status=previous,
                    source=step.source,
                    actor=step.actor,
                    detail=step.detail,
                    event_type=step.event,
                )
                await append_event(db, event, now=stamp.timestamp())
        return _row(row)


def _sets(step: ReturnStep, stamp: datetime, args: list[Any]) -> list[str]:
    """SET clauses for `step`, appending their values to `args` (numbered after them)."""
    sets: list[str] = []

    def put(column: str, value: Any) -> None:
        args.append(value)
        sets.append(f"{column} = ${len(args)}")

    if step.touch:
        put("updated_at", stamp)
    for column, value in (
        ("checked_at", step.checked_at),
        ("phase", step.phase.value if step.phase else None),
        ("provider_status", step.provider_status),
        ("provider_return_id", step.provider_return_id),
        ("decision", step.decision.value if step.decision else None),
        ("next_attempt_at", step.next_attempt_at),
    ):
        if value is not None:
            put(column, value)
    if step.last_error is not None or step.clear_error:
        put("last_error", orjson.dumps(step.last_error).decode() if step.last_error else None)
    if step.count_attempt:
        sets.append("attempts = attempts + 1")
    if step.release:
        sets.append("lease_owner = NULL, lease_until = NULL")
    return sets


async def _take_back(db: Any, ret: NewReturn) -> str:
    """The body to store, checked against the order and its earlier returns in the inserting
    transaction, with the order's row locked: a racing return of the same order (on any
    replica) waits here and then sees this one; raises `Overreach`."""
    order_body = await db.fetchval("SELECT body FROM orders WHERE id = $1 FOR UPDATE", ret.order_id)
    if order_body is None:
        return ret.body  # the insert fails on the order's foreign key
    earlier = await db.fetch(
        f"SELECT body FROM returns WHERE order_id = $1 AND status NOT IN {_NOT_TAKING}",
        ret.order_id,
    )
    return take_back_json(ret.body, order_body, [r["body"] for r in earlier])


async def _history(
    db: Any,
    return_id: str,
    status: ReturnStatus,
    who: tuple[str, str],
    *,
    detail: str | None,
    at: datetime,
) -> None:
    """One history entry; `who` is (source, actor)."""
    # Callers hold the return row (inserted or locked FOR UPDATE), so MAX(seq) cannot race.
    await db.execute(
        "INSERT INTO return_history (return_id, seq, status, source, actor, detail, at)"
        " SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5, $6"
        " FROM return_history WHERE return_id = $1",
        return_id,
        status.value,
        *who,
        detail,
        at,
    )
