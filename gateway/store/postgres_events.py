"""PostgreSQL: what happens after submission — status news through the state machine and the
outbox of events (migration 003; delivery to subscribers: `postgres_deliveries.py`). Part of
`PostgresStore`.

Across replicas:
- news about an order locks its row (`FOR UPDATE`) before the state machine reads history;
- `append_event` takes a transaction-scoped advisory lock before it numbers the event, so
  events are numbered in commit order: a feed reader past `seq` N never later finds an
  event below N that committed late (a plain sequence would allow exactly that);
- a subscriber's cursor row is locked while its events fan out; deliveries and polls are
  claimed with `FOR UPDATE SKIP LOCKED`, so no two replicas send or poll the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence
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
from gateway.store.postgres_pool import PostgresPool
from gateway.store.records import OrderRow, ProviderFacts

FINAL_SQL = "('delivered', 'cancelled', 'rejected')"
_OUTBOX_LOCK = "SELECT pg_advisory_xact_lock($1::int4, hashtext(current_schema()))"
_OUTBOX_CLASS = 0x6777_6576  # "gwev"


def _at(now: float) -> datetime:
    return datetime.fromtimestamp(now, UTC)


async def append_event(db: Any, event: NewEvent, *, now: float) -> EventRow:
    """Append `event` to its tenant's feed inside the caller's transaction (`db`: an asyncpg
    connection in a transaction). Holds the outbox lock until that transaction ends."""
    at = _at(now)
    await db.execute(_OUTBOX_LOCK, _OUTBOX_CLASS)
    event_id = "evt_" + ulid(now)
    seq = await db.fetchval(
        "INSERT INTO events (id, client_id, type, subject, data, created_at)"
        " VALUES ($1, $2, $3, $4, $5::jsonb, $6) RETURNING seq",
        event_id,
        event.client_id,
        event.type,
        event.subject,
        orjson.dumps(event.data).decode(),
        at,
    )
    return EventRow(seq, event_id, event.client_id, event.type, event.subject, event.data, at)


async def record_transition(
    db: Any,
    order_id: str,
    status: Status,
    previous: Status | None,
    *,
    source: str,
    actor: str,
    detail: str | None,
    at: datetime,
    outcome: Outcome = Outcome.APPLIED,
    event_type: str | None = None,
    changed: Sequence[str] | None = None,
) -> None:
    """History entry for a status the order took (or ignored, or kept); an event when it took
    it, or of `event_type` (with the `changed` field names) whatever the outcome.
    The caller holds the order row (inserted or locked), so history numbers cannot race."""
    await db.execute(
        "INSERT INTO order_history (order_id, seq, status, source, actor, detail, at, outcome)"
        " SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5, $6, $7"
        " FROM order_history WHERE order_id = $1",
        order_id,
        status.value,
        source,
        actor,
        detail,
        at,
        outcome.value,
    )
    if event_type is None and outcome is not Outcome.APPLIED:
        return
    r = await db.fetchrow("SELECT * FROM orders WHERE id = $1", order_id)
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
    event = NewEvent(r["client_id"], event_type or order_event_type(status), order_id, data)
    await append_event(db, event, now=at.timestamp())


async def verdict_for(
    db: Any, order_id: str, new: Status
) -> tuple[Status, Outcome, str | None] | None:
    """Lock the order; (current status, the state machine's verdict on `new`, why)."""
    current = await db.fetchval("SELECT status FROM orders WHERE id = $1 FOR UPDATE", order_id)
    if current is None:
        return None
    applied = await db.fetch(
        "SELECT status FROM order_history WHERE order_id = $1 AND outcome = 'applied'", order_id
    )
    verdict = decide(Status(current), reached(Status(r["status"]) for r in applied), new)
    return Status(current), verdict.outcome, verdict.reason


def event_of(r: Any) -> EventRow:
    return EventRow(
        r["seq"],
        r["id"],
        r["client_id"],
        r["type"],
        r["subject"],
        orjson.loads(r["data"]),
        r["created_at"],
    )


class PostgresAfterSubmission(PostgresPool):
    """The `Store` methods of migration 003 on PostgreSQL."""

    _order_columns: str

    @staticmethod
    def _to_row(r: Any) -> OrderRow:
        raise NotImplementedError

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
        at = _at(now)
        async with self._tx() as db:
            found = await verdict_for(db, order_id, status)
            if found is None:
                return Outcome.IGNORED
            current, outcome, reason = found
            await _keep_facts(db, order_id, facts, now=now)
            if outcome is Outcome.UNCHANGED:
                return outcome
            if outcome is Outcome.IGNORED:
                last = await db.fetchrow(
                    "SELECT status, source, outcome FROM order_history WHERE order_id = $1"
                    " ORDER BY seq DESC LIMIT 1",
                    order_id,
                )
                if last is None or tuple(last) != (status.value, source, Outcome.IGNORED.value):
                    why = f"ignored: {reason}" + (f"; {detail}" if detail else "")
                    await record_transition(
                        db,
                        order_id,
                        status,
                        current,
                        source=source,
                        actor=actor,
                        detail=why,
                        at=at,
                        outcome=outcome,
                    )
                return outcome
            cause = Cause(source, actor, detail)
            if status is Status.CANCELLED:
                asked = await db.fetchrow(
                    "SELECT cancel_requested_by, cancel_requested_at FROM orders WHERE id = $1",
                    order_id,
                )
                cause = credit_cancel(cause, requested_by=asked[0], requested_at=asked[1], now=now)
            await db.execute(
                "UPDATE orders SET status = $1, updated_at = $2 WHERE id = $3",
                status.value,
                at,
                order_id,
            )
            await record_transition(
                db,
                order_id,
                status,
                current,
                source=cause.source,
                actor=cause.actor,
                detail=cause.detail,
                at=at,
            )
            return outcome

    async def request_cancel(self, order_id: str, *, actor: str | None, now: float) -> None:
        async with self._tx() as db:
            await db.execute(
                "UPDATE orders SET cancel_requested_by = $2, cancel_requested_at = $3"
                " WHERE id = $1",
                order_id,
                actor,
                now if actor is not None else None,
            )

    async def cancel_queued(self, order_id: str, *, actor: str, now: float) -> OrderRow | None:
        at = _at(now)
        async with self._tx() as db:
            previous = await db.fetchval(
                "SELECT status FROM orders WHERE id = $1 AND phase = 'pending'"
                " AND (lease_until IS NULL OR lease_until <= $2) FOR UPDATE",
                order_id,
                now,
            )
            if previous is None:
                return None
            await db.execute(
                "UPDATE orders SET status = $2, phase = $3, updated_at = $4, next_attempt_at = $5"
                " WHERE id = $1",
                order_id,
                Status.CANCELLED.value,
                Phase.CANCELLED.value,
                at,
                now,
            )
            await record_transition(
                db,
                order_id,
                Status.CANCELLED,
                Status(previous),
                source=Source.API,
                actor=actor,
                detail="cancelled before it reached the provider",
                at=at,
            )
            r = await db.fetchrow(
                f"SELECT {self._order_columns} FROM orders WHERE id = $1", order_id
            )
        return self._to_row(r)

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
        at = _at(now)
        where = "id = $3"
        args: list[Any] = [body, at, order_id]
        if queued_only:
            where += " AND phase = 'pending' AND (lease_until IS NULL OR lease_until <= $4)"
            args.append(now)
        async with self._tx() as db:
            r = await db.fetchrow(
                f"UPDATE orders SET body = $1, updated_at = $2 WHERE {where}"
                f" RETURNING {self._order_columns}",
                *args,
            )
            if r is None:
                return None
            status = Status(r["status"])
            await record_transition(
                db,
                order_id,
                status,
                status,
                source=Source.API,
                actor=actor,
                detail=changed_detail(changed),
                at=at,
                outcome=Outcome.UNCHANGED,
                event_type=ORDER_UPDATED,
                changed=changed,
            )
        return self._to_row(r)

    async def claim_for_poll(
        self, provider: str, *, now: float, older_than: float, limit: int
    ) -> Sequence[OrderRow]:
        async with self._tx() as db:
            rows = await db.fetch(
                "WITH due AS (SELECT id, COALESCE(synced_at, 0) AS age FROM orders"
                f" WHERE provider = $2 AND phase = 'done' AND status NOT IN {FINAL_SQL}"
                " AND provider_order_id IS NOT NULL AND COALESCE(synced_at, 0) <= $3"
                " ORDER BY COALESCE(synced_at, 0), id LIMIT $4 FOR UPDATE SKIP LOCKED)"
                " UPDATE orders o SET synced_at = $1 FROM due WHERE o.id = due.id"
                f" RETURNING due.age, {_qualified(self._order_columns)}",
                now,
                provider,
                older_than,
                limit,
            )
        ordered = sorted(rows, key=lambda r: (r["age"], r["id"]))
        return [self._to_row(r) for r in ordered]

    # events out ----------------------------------------------------------------
    async def append_event(self, event: NewEvent, *, now: float) -> EventRow:
        async with self._tx() as db:
            return await append_event(db, event, now=now)

    async def events_after(self, client_id: str, *, after: int, limit: int) -> Sequence[EventRow]:
        async with self._conn() as conn:
            rows = await conn.fetch(
                "SELECT * FROM events WHERE client_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                client_id,
                after,
                limit,
            )
        return [event_of(r) for r in rows]


async def _keep_facts(db: Any, order_id: str, facts: ProviderFacts | None, *, now: float) -> None:
    args: list[Any] = [order_id, now]
    sets = ["synced_at = $2"]

    def put(column: str, value: Any, cast: str = "") -> None:
        args.append(value)
        sets.append(f"{column} = ${len(args)}{cast}")

    for column, value in facts.columns() if facts else []:
        put(column, value)
    if facts is not None and facts.shipment_ids:
        known = await db.fetchval("SELECT shipment_ids FROM orders WHERE id = $1", order_id)
        ids: list[str] = orjson.loads(known) if known else []
        ids += [i for i in facts.shipment_ids if i not in ids]
        put("shipment_ids", orjson.dumps(ids).decode(), "::jsonb")
    await db.execute(f"UPDATE orders SET {', '.join(sets)} WHERE id = $1", *args)


def _qualified(columns: str) -> str:
    return ", ".join(f"o.{c.strip()}" for c in columns.split(","))
