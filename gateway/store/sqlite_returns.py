"""The returns half of the SQLite store (`ReturnStore`), mixed into `SqliteStore`.

Same rules as the orders half: each method is one transaction under the store's lock; a
return's status changes are recorded in `return_history` in the transaction that makes them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any

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
from gateway.store.group_commit import Statements
from gateway.store.records import NewReturn, ReturnFilter, ReturnHistoryEntry, ReturnRow, ReturnStep
from gateway.store.sqlite_events import append_event
from gateway.store.sqlite_leases import SqliteLeases

_COLUMNS = (
    "id, client_id, order_id, external_id, provider, provider_order_id, provider_return_id,"
    " type, status, provider_status, decision, phase, body, attempts, next_attempt_at,"
    " last_error, created_at, updated_at, provider_reference"
)
_OPEN = "('" + "', '".join(sorted(OPEN_RETURN_PHASES)) + "')"
_FINAL = "('" + "', '".join(sorted(FINAL_RETURN_STATUSES)) + "')"
_NOT_TAKING = "('" + "', '".join(sorted(NOT_TAKING)) + "')"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds")


def _row(r: sqlite3.Row) -> ReturnRow:
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
        created_at=datetime.fromisoformat(r["created_at"]),
        updated_at=datetime.fromisoformat(r["updated_at"]),
        provider_reference=r["provider_reference"],
    )


class SqliteReturns(SqliteLeases):
    """Needs `_tx` and `_read` of `SqliteStore`."""

    def _tx(self) -> AbstractAsyncContextManager[Statements]:
        raise NotImplementedError

    async def _read(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        raise NotImplementedError

    async def insert_return(
        self,
        ret: NewReturn,
        *,
        now: float,
        idempotency: tuple[str, str] | None,
        lease_owner: str | None,
        lease_until: float | None,
    ) -> ReturnRow:
        stamp = _iso(now)
        try:
            async with self._tx() as db:
                body = await _take_back(db, ret)
                await db.execute(
                    "INSERT INTO returns (id, client_id, order_id, external_id, provider,"
                    " provider_order_id, type, status, phase, body, next_attempt_at, lease_owner,"
                    " lease_until, created_at, updated_at, provider_reference)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        ret.id,
                        ret.client_id,
                        ret.order_id,
                        ret.external_id,
                        ret.provider,
                        ret.provider_order_id,
                        ret.type,
                        ReturnStatus.ACCEPTED,
                        ReturnPhase.PENDING,
                        body,
                        now,
                        lease_owner,
                        lease_until,
                        stamp,
                        stamp,
                        ret.provider_reference,
                    ),
                )
                api = (Source.API, ret.client_id)
                await _history(db, ret.id, ReturnStatus.ACCEPTED, api, detail=None, stamp=stamp)
                await _announce(db, ret.id, None, api, detail=None, now=now)
                if idempotency is not None:
                    await db.execute(
                        "UPDATE idempotency SET order_id = ? WHERE client_id = ? AND key = ?",
                        (ret.id, *idempotency),
                    )
        except sqlite3.IntegrityError:
            if ret.external_id is None:
                raise
            # Looked up through the writer: the return that holds the RMA may be in the same
            # group commit, not yet visible to the reader (and durable once this returns).
            async with self._tx() as db:
                held = list(
                    await db.execute_fetchall(
                        "SELECT id FROM returns WHERE client_id = ? AND external_id = ?",
                        (ret.client_id, ret.external_id),
                    )
                )
            if not held:
                raise
            raise ReturnExists(held[0]["id"]) from None
        row = await self.get_return(ret.id)
        assert row is not None
        return row

    async def get_return(self, return_id: str, *, client_id: str | None = None) -> ReturnRow | None:
        sql, args = f"SELECT {_COLUMNS} FROM returns WHERE id = ?", [return_id]
        if client_id is not None:
            sql += " AND client_id = ?"
            args.append(client_id)
        rows = await self._read(sql, args)
        return _row(rows[0]) if rows else None

    async def find_return_by_external_id(
        self, client_id: str, external_id: str
    ) -> ReturnRow | None:
        rows = await self._read(
            f"SELECT {_COLUMNS} FROM returns WHERE client_id = ? AND external_id = ?",
            (client_id, external_id),
        )
        return _row(rows[0]) if rows else None

    async def list_returns(self, client_id: str, flt: ReturnFilter) -> Sequence[ReturnRow]:
        where, args = ["client_id = ?"], [client_id]
        for column, value in (
            ("order_id", flt.order_id),
            ("status", flt.status),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if flt.before_id is not None:
            where.append("id < ?")
            args.append(flt.before_id)
        rows = await self._read(
            f"SELECT {_COLUMNS} FROM returns WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?",
            (*args, flt.limit),
        )
        return [_row(r) for r in rows]

    async def return_history(self, return_id: str) -> Sequence[ReturnHistoryEntry]:
        rows = await self._read(
            "SELECT status, source, actor, detail, at FROM return_history WHERE return_id = ?"
            " ORDER BY seq",
            (return_id,),
        )
        return [
            ReturnHistoryEntry(
                ReturnStatus(r["status"]),
                r["source"],
                r["actor"],
                datetime.fromisoformat(r["at"]),
                r["detail"],
            )
            for r in rows
        ]

    async def claim_due_returns(
        self, *, owner: str, now: float, lease_until: float, limit: int
    ) -> Sequence[ReturnRow]:
        rows = await self._claim_due_rows(
            "returns", _COLUMNS, _OPEN, owner=owner, now=now, lease_until=lease_until, limit=limit
        )
        return [_row(r) for r in rows]

    async def advance_return(self, return_id: str, *, owner: str, step: ReturnStep) -> ReturnRow:
        return await self._apply(return_id, step, owner=owner)

    async def renew_return(self, return_id: str, *, owner: str, lease_until: float) -> bool:
        return await self._renew_lease("returns", return_id, owner=owner, until=lease_until)

    async def release_return(self, return_id: str, *, owner: str) -> None:
        await self._release_lease("returns", return_id, owner=owner)

    async def update_return(self, return_id: str, step: ReturnStep) -> ReturnRow:
        return await self._apply(return_id, step, owner=None)

    async def open_returns(self, *, limit: int, checked_before: float) -> Sequence[ReturnRow]:
        rows = await self._read(
            f"SELECT {_COLUMNS} FROM returns WHERE phase = 'done' AND status NOT IN {_FINAL}"
            " AND (checked_at IS NULL OR checked_at <= ?)"
            " ORDER BY COALESCE(checked_at, 0), id LIMIT ?",
            (checked_before, limit),
        )
        return [_row(r) for r in rows]

    async def _apply(self, return_id: str, step: ReturnStep, *, owner: str | None) -> ReturnRow:
        stamp = datetime.now(UTC).isoformat(timespec="microseconds")
        sets, args = _sets(step, stamp)
        where, wargs = "id = ?", [return_id]
        if owner is not None:
            where += " AND lease_owner = ?"
            wargs.append(owner)
        async with self._tx() as db:
            current = list(
                await db.execute_fetchall("SELECT status FROM returns WHERE id = ?", (return_id,))
            )
            if not current:
                raise KeyError(return_id)
            status = step.status
            # A final status is never left: late news of a cancelled return changes nothing.
            if status is not None and (
                ReturnStatus(current[0][0]) in FINAL_RETURN_STATUSES
                or ReturnStatus(current[0][0]) is status
            ):
                status = None
            if status is not None:
                sets.append("status = ?")
                args.append(status)
            if not sets:
                sets.append("id = id")  # nothing to change: still checks the lease
            cur = await db.execute(
                f"UPDATE returns SET {', '.join(sets)} WHERE {where}", (*args, *wargs)
            )
            if cur.rowcount == 0:
                raise LeaseLost(return_id)
            if status is not None or step.event is not None:
                previous = ReturnStatus(current[0][0])
                who = (step.source, step.actor)
                await _history(
                    db, return_id, status or previous, who, detail=step.detail, stamp=stamp
                )
                await _announce(
                    db,
                    return_id,
                    previous,
                    who,
                    detail=step.detail,
                    now=datetime.fromisoformat(stamp).timestamp(),
                    event_type=step.event,
                )
            rows = list(
                await db.execute_fetchall(
                    f"SELECT {_COLUMNS} FROM returns WHERE id = ?", (return_id,)
                )
            )
        return _row(rows[0])


def _sets(step: ReturnStep, stamp: str) -> tuple[list[str], list[Any]]:
    sets: list[str] = ["updated_at = ?"] if step.touch else []
    args: list[Any] = [stamp] if step.touch else []
    for column, value in (
        ("checked_at", step.checked_at),
        ("phase", step.phase),
        ("provider_status", step.provider_status),
        ("provider_return_id", step.provider_return_id),
        ("decision", step.decision),
        ("next_attempt_at", step.next_attempt_at),
    ):
        if value is not None:
            sets.append(f"{column} = ?")
            args.append(value)
    if step.last_error is not None or step.clear_error:
        sets.append("last_error = ?")
        args.append(orjson.dumps(step.last_error).decode() if step.last_error else None)
    if step.count_attempt:
        sets.append("attempts = attempts + 1")
    if step.release:
        sets.append("lease_owner = NULL, lease_until = NULL")
    return sets, args


async def _take_back(db: Statements, ret: NewReturn) -> str:
    """The body to store, checked against the order and its earlier returns in the inserting
    transaction (the one writer: no other return of the order can be stored in between);
    raises `Overreach`."""
    order = list(await db.execute_fetchall("SELECT body FROM orders WHERE id = ?", (ret.order_id,)))
    if not order:
        return ret.body  # the insert fails on the order's foreign key
    earlier = await db.execute_fetchall(
        f"SELECT body FROM returns WHERE order_id = ? AND status NOT IN {_NOT_TAKING}",
        (ret.order_id,),
    )
    return take_back_json(ret.body, order[0]["body"], [r["body"] for r in earlier])


async def _announce(
    db: Statements,
    return_id: str,
    previous: ReturnStatus | None,
    who: tuple[str, str],
    *,
    detail: str | None,
    now: float,
    event_type: str | None = None,
) -> None:
    """The return's new status (or `event_type`: what was done to it) into its tenant's feed,
    in the transaction that made it; `who` is (source, actor)."""
    rows = list(
        await db.execute_fetchall(f"SELECT {_COLUMNS} FROM returns WHERE id = ?", (return_id,))
    )
    source, actor = who
    event = return_event(
        _row(rows[0]),
        previous_status=previous,
        source=source,
        actor=actor,
        detail=detail,
        event_type=event_type,
    )
    await append_event(db, event, now=now)


async def _history(
    db: Statements,
    return_id: str,
    status: ReturnStatus,
    who: tuple[str, str],
    *,
    detail: str | None,
    stamp: str,
) -> None:
    """One history entry; `who` is (source, actor)."""
    await db.execute(
        "INSERT INTO return_history (return_id, seq, status, source, actor, detail, at)"
        " SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ?, ?, ? FROM return_history"
        " WHERE return_id = ?",
        (return_id, status, *who, detail, stamp, return_id),
    )
