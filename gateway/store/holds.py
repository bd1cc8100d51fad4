"""Holds before routing and ship-by deadlines: holding an order, releasing it (exactly once:
the release is one `UPDATE … WHERE phase = 'held'`, which only one replica's statement can
match), the holds due, and the late orders, each found and announced once.

A held order is phase `held`, status `on_hold`, its provider, warehouse and rule `UNROUTED`:
no submitter claims it (`held` is no open phase), no poller reads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from gateway.model.events import ORDER_HELD, ORDER_LATE, ORDER_RELEASED
from gateway.model.history import SUBMITTER_ACTOR, Cause, Source
from gateway.model.lifecycle import Outcome
from gateway.model.orders import Phase, Status
from gateway.model.view import instant, stamp
from gateway.store.dialect import Dialect, Queries, Row, Tx
from gateway.store.history import record_transition
from gateway.store.parts import insert_parts
from gateway.store.records import UNROUTED, NewPart, OrderRow
from gateway.store.rows import ORDER_COLUMNS, order_row

_HOLDABLE = (
    f"(phase = '{Phase.HELD}' OR (phase = '{Phase.PENDING}'"
    " AND (lease_until IS NULL OR lease_until <= ?)))"
)
"""Not at any provider: held already, or queued and not leased (no call made for it)."""
_NOT_LATE = "('shipped', 'delivered', 'cancelled', 'rejected')"
"""Statuses of an order that left (or will never leave) the warehouse."""
LATE = f"(late_at IS NOT NULL AND status NOT IN {_NOT_LATE})"
"""An order found late (`mark_late`) that has not shipped since: `GET /v1/orders?late=true`."""


@dataclass(frozen=True, slots=True)
class Route:
    """Where a released order goes (a routing decision)."""

    provider: str
    warehouse: str
    rule: str
    candidate: int


async def record_hold(tx: Tx, d: Dialect, row: Row, cause: Cause, *, previous: Status) -> None:
    """History entry and `order.held` event of the hold `row` (as updated) holds."""
    at = d.from_db(row["updated_at"])
    outcome = Outcome.UNCHANGED if previous is Status.ON_HOLD else Outcome.APPLIED
    await record_transition(
        tx,
        d,
        row["id"],
        Status.ON_HOLD,
        cause,
        previous=previous,
        at=at,
        outcome=outcome,
        order=row,
        event_type=ORDER_HELD,
    )


def hold_detail(reason: str, until: float | None) -> str:
    """What a hold's history entry and event say of it."""
    return f"held: {reason}" + ("" if until is None else f", until {stamp(instant(until))}")


class Holds(Queries, Protocol):
    """What holding, releasing and the deadline worker need of the store."""

    async def hold_order(
        self,
        order_id: str,
        *,
        reason: str,
        until: float | None,
        source: str,
        actor: str,
        now: float,
    ) -> OrderRow | None:
        """Hold an order not at any provider (held already: its hold is replaced); history
        and `order.held` record it. None when the order is not in that state."""
        d = self._d
        stamp_now = d.to_db(datetime.fromtimestamp(now, UTC))
        async with self._db.transaction() as tx:
            before = await tx.fetch_one(
                f"SELECT status FROM orders WHERE id = ? AND {_HOLDABLE}{d.for_update()}",
                (order_id, now),
            )
            if before is None:
                return None
            row = await tx.fetch_one(
                "UPDATE orders SET status = ?, phase = ?, provider = ?, warehouse = ?,"
                " route_rule = ?, route_candidate = 0, hold_reason = ?, hold_since = ?,"
                " hold_until = ?, lease_owner = NULL, lease_until = NULL, updated_at = ?"
                f" WHERE id = ? RETURNING {ORDER_COLUMNS}",
                (
                    Status.ON_HOLD,
                    Phase.HELD,
                    UNROUTED,
                    UNROUTED,
                    UNROUTED,
                    reason,
                    now,
                    until,
                    stamp_now,
                    order_id,
                ),
            )
            assert row is not None
            cause = Cause(source, actor, hold_detail(reason, until))
            await record_hold(tx, d, row, cause, previous=Status(before[0]))
        return order_row(row, d)

    async def release_hold(
        self,
        order_id: str,
        route: Route,
        *,
        lease_owner: str | None,
        lease_until: float | None,
        source: str,
        actor: str,
        detail: str,
        now: float,
        parts: Sequence[NewPart] = (),
    ) -> OrderRow | None:
        """Release a held order to `route`: `accepted`, phase `pending` (or `creating`, leased
        to `lease_owner`, who sends it now); history and `order.released` record it. None
        when it is not held (any more): someone else released it. With `parts` (a split
        route), phase `parts`, the parts stored `pending` and leased instead of the order."""
        d = self._d
        at = datetime.fromtimestamp(now, UTC)
        sending = lease_owner is not None and not parts
        phase = Phase.PARTS if parts else Phase.CREATING if sending else Phase.PENDING
        own = (lease_owner, lease_until) if sending else (None, None)
        async with self._db.transaction() as tx:
            # The claim: of every replica releasing this order, one statement matches.
            row = await tx.fetch_one(
                "UPDATE orders SET status = ?, phase = ?, provider = ?, warehouse = ?,"
                " route_rule = ?, route_candidate = ?, hold_reason = NULL, hold_since = NULL,"
                " hold_until = NULL, next_attempt_at = ?, lease_owner = ?, lease_until = ?,"
                f" attempts = attempts + ?, updated_at = ? WHERE id = ? AND phase = '{Phase.HELD}'"
                f" RETURNING {ORDER_COLUMNS}",
                (
                    Status.ACCEPTED,
                    phase,
                    route.provider,
                    route.warehouse,
                    route.rule,
                    route.candidate,
                    now,
                    *own,
                    1 if sending else 0,
                    d.to_db(at),
                    order_id,
                ),
            )
            if row is None:
                return None
            if parts:
                await insert_parts(
                    tx,
                    order_id,
                    row["client_id"],
                    parts,
                    now=now,
                    stamp=d.to_db(at),
                    lease_owner=lease_owner,
                    lease_until=lease_until,
                )
            await record_transition(
                tx,
                d,
                order_id,
                Status.ACCEPTED,
                Cause(source, actor, detail),
                previous=Status.ON_HOLD,
                at=at,
                order=row,
                event_type=ORDER_RELEASED,
            )
        return order_row(row, d)

    async def due_holds(self, *, now: float, limit: int) -> Sequence[OrderRow]:
        """Held orders whose `hold_until` has come, earliest first."""
        rows = await self._db.reads.fetch_all(
            f"SELECT {ORDER_COLUMNS} FROM orders WHERE phase = '{Phase.HELD}'"
            " AND hold_until IS NOT NULL AND hold_until <= ? ORDER BY hold_until LIMIT ?",
            (now, limit),
        )
        return [order_row(r, self._d) for r in rows]

    async def mark_late(self, *, now: float, limit: int) -> Sequence[OrderRow]:
        """Orders not shipped by their `ship_by` and not found so before: each marked
        (`late_at`), with its history entry and `order.late` event, in one transaction
        that no other replica's can share an order with."""
        d = self._d
        at = datetime.fromtimestamp(now, UTC)
        async with self._db.transaction() as tx:
            due = await tx.fetch_all(
                "SELECT id FROM orders WHERE late_at IS NULL AND ship_by IS NOT NULL"
                f" AND ship_by <= ? AND status NOT IN {_NOT_LATE} ORDER BY ship_by"
                f" LIMIT ?{d.for_update(skip_locked=True)}",
                (now, limit),
            )
            if not due:
                return []
            which, args = d.any_of("id", [r[0] for r in due], "text")
            rows = await tx.fetch_all(
                f"UPDATE orders SET late_at = ? WHERE {which} AND late_at IS NULL"
                f" RETURNING {ORDER_COLUMNS}",
                (now, *args),
            )
            for row in rows:
                await _record_late(tx, d, row, at=at)
        return sorted((order_row(r, d) for r in rows), key=lambda r: r.ship_by or 0)

    async def late_counts(self) -> dict[str, int]:
        """Per provider: orders late now (`LATE`)."""
        rows = await self._db.reads.fetch_all(
            f"SELECT provider, COUNT(*) FROM orders WHERE {LATE} GROUP BY provider"
        )
        return {r[0]: int(r[1]) for r in rows}


async def _record_late(tx: Tx, d: Dialect, row: Row, *, at: datetime) -> None:
    """The history entry and the `order.late` event of an order just marked late."""
    status = Status(row["status"])
    deadline = stamp(instant(row["ship_by"]))
    cause = Cause(Source.SUBMITTER, SUBMITTER_ACTOR, f"not shipped by {deadline}")
    await record_transition(
        tx,
        d,
        row["id"],
        status,
        cause,
        previous=status,
        at=at,
        outcome=Outcome.UNCHANGED,
        order=row,
        event_type=ORDER_LATE,
    )


async def late_on_shipping(tx: Tx, d: Dialect, order_id: str, *, now: float) -> None:
    """An order that ships (or is delivered) after its `ship_by` before the late check saw it
    is late all the same: marked, with its one `order.late`, in the transaction of that news."""
    rows = await tx.fetch_all(
        "UPDATE orders SET late_at = ? WHERE id = ? AND late_at IS NULL"
        f" AND ship_by IS NOT NULL AND ship_by < ? RETURNING {ORDER_COLUMNS}",
        (now, order_id, now),
    )
    for row in rows:
        await _record_late(tx, d, row, at=datetime.fromtimestamp(now, UTC))
