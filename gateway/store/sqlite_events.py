"""SQLite: what happens after submission — status news through the state machine and the
outbox of events (migration 003; their delivery to subscribers is `sqlite_deliveries.py`).

`append_event(db, …)` and `record_transition(db, …)` work on an open transaction, so any store
method (returns included) writes its event in the same transaction as its change.
`SqliteAfterSubmission` holds the `Store` methods; `SqliteStore` inherits them.
(SQLite has one writer, and a group commit makes a batch visible at once, so `seq` order is
the order in which events become visible: a feed reader past N never finds a later event
below N.)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any

import orjson

from gateway.model.events import (
    ORDER_UPDATED,
    EventRow,
    NewEvent,
    order_event_data,
    order_event_type,
)
from gateway.model.history import Cause, Source, changed_detail, credit_cancel
from gateway.model.ids import ulid
from gateway.model.lifecycle import Outcome, decide, reached
from gateway.model.orders import Phase, Status
from gateway.store.group_commit import Statements
from gateway.store.records import OrderRow, ProviderFacts

FINAL_SQL = "('delivered', 'cancelled', 'rejected')"


def stamp_of(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).isoformat(timespec="microseconds")


async def append_event(db: Statements, event: NewEvent, *, now: float) -> EventRow:
    """Append `event` to its tenant's feed inside the caller's transaction (`db`, what
    `SqliteStore._tx()` yields) — the same call on PostgreSQL is `postgres_events.append_event`.
    """
    stamp = stamp_of(now)
    event_id = "evt_" + ulid(now)
    data = orjson.dumps(event.data).decode()
    cur = await db.execute(
        "INSERT INTO events (id, client_id, type, subject, data, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (event_id, event.client_id, event.type, event.subject, data, stamp),
    )
    assert cur.lastrowid is not None
    return EventRow(
        cur.lastrowid,
        event_id,
        event.client_id,
        event.type,
        event.subject,
        event.data,
        datetime.fromisoformat(stamp),
    )


async def record_transition(
    db: Statements,
    order_id: str,
    status: Status,
    previous: Status | None,
    *,
    source: str,
    actor: str,
    detail: str | None,
    stamp: str,
    outcome: Outcome = Outcome.APPLIED,
    order: sqlite3.Row | None = None,
    event_type: str | None = None,
    changed: Sequence[str] | None = None,
) -> None:
    """History entry for a status the order took (or ignored, or kept); an event when it took
    it, or of `event_type` (with the `changed` field names) whatever the outcome.

    `order` is the order's row as it stands after the change, when the caller has it already.
    """
    await db.execute(
        "INSERT INTO order_history (order_id, seq, status, source, actor, detail, at, outcome)"
        " SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ?, ?, ?, ? FROM order_history"
        " WHERE order_id = ?",
        (order_id, status, source, actor, detail, stamp, outcome, order_id),
    )
    if event_type is None and outcome is not Outcome.APPLIED:
        return
    r = order
    if r is None:
        r = next(iter(await db.execute_fetchall("SELECT * FROM orders WHERE id = ?", (order_id,))))
    data = order_event_data(
        order_id=order_id,
        external_id=r["external_id"],
        status=status,
        previous_status=previous,
        provider=r["provider"],
        provider_order_id=r["provider_order_id"],
        provider_status=r["provider_status"],
        tracking_code=r["tracking_code"],
        tracking_url=r["tracking_url"],
        source=source,
        actor=actor,
        detail=detail,
    )
    if changed is not None:
        data["changed"] = list(changed)
    await append_event(
        db,
        NewEvent(r["client_id"], event_type or order_event_type(status), order_id, data),
        now=datetime.fromisoformat(stamp).timestamp(),
    )


async def verdict_for(
    db: Statements, order_id: str, new: Status
) -> tuple[Status, Outcome, str | None] | None:
    """(current status, what the state machine says about `new`, why) or None: no order."""
    rows = list(await db.execute_fetchall("SELECT status FROM orders WHERE id = ?", (order_id,)))
    if not rows:
        return None
    current = Status(rows[0][0])
    applied = await db.execute_fetchall(
        "SELECT status FROM order_history WHERE order_id = ? AND outcome = 'applied'", (order_id,)
    )
    verdict = decide(current, reached(Status(r[0]) for r in applied), new)
    return current, verdict.outcome, verdict.reason


def event_of(r: sqlite3.Row) -> EventRow:
    return EventRow(
        r["seq"],
        r["id"],
        r["client_id"],
        r["type"],
        r["subject"],
        orjson.loads(r["data"]),
        datetime.fromisoformat(r["created_at"]),
    )


class SqliteAfterSubmission:
    """The `Store` methods of migration 003, mixed into `SqliteStore`."""

    _tx: Callable[[], AbstractAsyncContextManager[Statements]]
    _read: Callable[..., Any]
    _order_columns: str
    _to_row: Callable[[sqlite3.Row], OrderRow]

    async def apply_status(
        self,
        order_id: str,
        status: Status,
        *,
        source: str,
        actor: str,
        detail: str | None = None,
        facts: ProviderFacts | None = None,
        now: float,
    ) -> Outcome:
        stamp = stamp_of(now)
        async with self._tx() as db:
            found = await verdict_for(db, order_id, status)
            if found is None:
                return Outcome.IGNORED
            current, outcome, reason = found
            await _keep_facts(db, order_id, facts, now=now)
            if outcome is Outcome.UNCHANGED:
                return outcome
            if outcome is Outcome.IGNORED:
                if not await _ignored_already(db, order_id, status, source):
                    why = f"ignored: {reason}" + (f"; {detail}" if detail else "")
                    await record_transition(
                        db,
                        order_id,
                        status,
                        current,
                        source=source,
                        actor=actor,
                        detail=why,
                        stamp=stamp,
                        outcome=outcome,
                    )
                return outcome
            cause = Cause(source, actor, detail)
            if status is Status.CANCELLED:
                rows = list(
                    await db.execute_fetchall(
                        "SELECT cancel_requested_by, cancel_requested_at FROM orders WHERE id = ?",
                        (order_id,),
                    )
                )
                by, at = rows[0]
                cause = credit_cancel(cause, requested_by=by, requested_at=at, now=now)
            await db.execute(
                "UPDATE orders SET status = ?, updated_at = ? WHERE id = ?",
                (status, stamp, order_id),
            )
            await record_transition(
                db,
                order_id,
                status,
                current,
                source=cause.source,
                actor=cause.actor,
                detail=cause.detail,
                stamp=stamp,
            )
            return outcome

    async def request_cancel(self, order_id: str, *, actor: str | None, now: float) -> None:
        async with self._tx() as db:
            await db.execute(
                "UPDATE orders SET cancel_requested_by = ?, cancel_requested_at = ? WHERE id = ?",
                (actor, now if actor is not None else None, order_id),
            )

    async def cancel_queued(self, order_id: str, *, actor: str, now: float) -> OrderRow | None:
        stamp = stamp_of(now)
        async with self._tx() as db:
            cur = await db.execute(
                "UPDATE orders SET status = ?, phase = ?, updated_at = ?, next_attempt_at = ?"
                " WHERE id = ? AND phase = 'pending' AND (lease_until IS NULL OR lease_until <= ?)",
                (Status.CANCELLED, Phase.CANCELLED, stamp, now, order_id, now),
            )
            if cur.rowcount == 0:
                return None
            previous = await db.execute_fetchall(
                "SELECT status FROM order_history WHERE order_id = ? AND outcome = 'applied'"
                " ORDER BY seq DESC LIMIT 1",
                (order_id,),
            )
            await record_transition(
                db,
                order_id,
                Status.CANCELLED,
                Status(next(iter(previous))[0]) if previous else None,
                source=Source.API,
                actor=actor,
                detail="cancelled before it reached the provider",
                stamp=stamp,
            )
            rows = await db.execute_fetchall(
                f"SELECT {self._order_columns} FROM orders WHERE id = ?", (order_id,)
            )
        return self._to_row(next(iter(rows)))

    async def replace_body(
        self,
        order_id: str,
        body: str,
        *,
        queued_only: bool,
        actor: str,
        changed: Sequence[str],
        now: float,
    ) -> OrderRow | None:
        stamp = stamp_of(now)
        where = "id = ?"
        args: list[Any] = [body, stamp, order_id]
        if queued_only:
            where += " AND phase = 'pending' AND (lease_until IS NULL OR lease_until <= ?)"
            args.append(now)
        async with self._tx() as db:
            rows = list(
                await db.execute_fetchall(
                    f"UPDATE orders SET body = ?, updated_at = ? WHERE {where}"
                    f" RETURNING {self._order_columns}",
                    tuple(args),
                )
            )
            if not rows:
                return None
            status = Status(rows[0]["status"])
            await record_transition(
                db,
                order_id,
                status,
                status,
                source=Source.API,
                actor=actor,
                detail=changed_detail(changed),
                stamp=stamp,
                outcome=Outcome.UNCHANGED,
                order=rows[0],
                event_type=ORDER_UPDATED,
                changed=changed,
            )
        return self._to_row(rows[0])

    async def claim_for_poll(
        self, provider: str, *, now: float, older_than: float, limit: int
    ) -> Sequence[OrderRow]:
        async with self._tx() as db:
            rows = list(
                await db.execute_fetchall(
                    f"SELECT {self._order_columns} FROM orders WHERE provider = ?"
                    f" AND phase = 'done' AND status NOT IN {FINAL_SQL}"
                    " AND provider_order_id IS NOT NULL AND COALESCE(synced_at, 0) <= ?"
                    " ORDER BY COALESCE(synced_at, 0), id LIMIT ?",
                    (provider, older_than, limit),
                )
            )
            for r in rows:
                await db.execute("UPDATE orders SET synced_at = ? WHERE id = ?", (now, r["id"]))
        return [self._to_row(r) for r in rows]

    # events out ----------------------------------------------------------------
    async def append_event(self, event: NewEvent, *, now: float) -> EventRow:
        async with self._tx() as db:
            return await append_event(db, event, now=now)

    async def events_after(self, client_id: str, *, after: int, limit: int) -> Sequence[EventRow]:
        rows = await self._read(
            "SELECT * FROM events WHERE client_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (client_id, after, limit),
        )
        return [event_of(r) for r in rows]


async def _keep_facts(
    db: Statements, order_id: str, facts: ProviderFacts | None, *, now: float
) -> None:
    sets: list[str] = ["synced_at = ?"]
    args: list[Any] = [now]
    for column, value in facts.columns() if facts else []:
        sets.append(f"{column} = ?")
        args.append(value)
    if facts is not None and facts.shipment_ids:
        known = list(
            await db.execute_fetchall("SELECT shipment_ids FROM orders WHERE id = ?", (order_id,))
        )
        ids: list[str] = orjson.loads(known[0][0]) if known and known[0][0] else []
        ids += [i for i in facts.shipment_ids if i not in ids]
        sets.append("shipment_ids = ?")
        args.append(orjson.dumps(ids).decode())
    await db.execute(f"UPDATE orders SET {', '.join(sets)} WHERE id = ?", (*args, order_id))


async def _ignored_already(db: Statements, order_id: str, status: Status, source: str) -> bool:
    """The last history entry ignored this very news: a stale status repeated by every poll
    or redelivery is recorded once, not once per repetition."""
    rows = list(
        await db.execute_fetchall(
            "SELECT status, source, outcome FROM order_history WHERE order_id = ?"
            " ORDER BY seq DESC LIMIT 1",
            (order_id,),
        )
    )
    return bool(rows) and tuple(rows[0]) == (status, source, Outcome.IGNORED)
