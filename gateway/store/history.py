"""An order's history, and the state machine's verdict on news: each works inside the caller's
transaction, so a status change, its history entry and its event commit together.

On PostgreSQL the caller holds the order's row (inserted, or locked by `verdict_for`), so
history numbers (`MAX(seq) + 1`) cannot race.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from gateway.model.events import NewEvent, order_event_data, order_event_type
from gateway.model.history import Cause
from gateway.model.lifecycle import Outcome, decide, reached
from gateway.model.orders import Status
from gateway.store.dialect import Dialect, Row, Tx
from gateway.store.outbox import append_event
from gateway.store.rows import ORDER_COLUMNS


async def record_transition(
    tx: Tx,
    d: Dialect,
    order_id: str,
    status: Status,
    cause: Cause,
    *,
    previous: Status | None,
    at: datetime,
    outcome: Outcome = Outcome.APPLIED,
    order: Row | None = None,
    event_type: str | None = None,
    changed: Sequence[str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """History entry for a status the order took (or ignored, or kept); an event when it took
    it, or of `event_type` (with the `changed` field names) whatever the outcome.

    `order` is the order's row as it stands after the change, when the caller has it already;
    `extra`: fields the event carries besides (the `part` that changed, with its provider's).
    """
    await tx.execute(
        "INSERT INTO order_history (order_id, seq, status, source, actor, detail, at, outcome)"
        " SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ?, ?, ?, ? FROM order_history"
        " WHERE order_id = ?",
        (order_id, status, cause.source, cause.actor, cause.detail, d.to_db(at), outcome, order_id),
    )
    if event_type is None and outcome is not Outcome.APPLIED:
        return
    r = order
    if r is None:
        r = await tx.fetch_one(f"SELECT {ORDER_COLUMNS} FROM orders WHERE id = ?", (order_id,))
        assert r is not None
    data = order_event_data(
        order_id=order_id,
        external_id=r["external_id"],
        status=status,
        previous_status=previous,
        provider=r["provider"] or None,  # none while held before routing
        provider_order_id=r["provider_order_id"],
        provider_status=r["provider_status"],
        tracking_code=r["tracking_code"],
        tracking_url=r["tracking_url"],
        source=cause.source,
        actor=cause.actor,
        detail=cause.detail,
    )
    if changed is not None:
        data["changed"] = list(changed)
    if extra is not None:
        data.update(extra)
    event = NewEvent(r["client_id"], event_type or order_event_type(status), order_id, data)
    await append_event(tx, d, event, now=at.timestamp())


async def verdict_for(
    tx: Tx, d: Dialect, order_id: str, new: Status
) -> tuple[Status, Outcome, str | None] | None:
    """Lock the order; (current status, the state machine's verdict on `new`, why), or None:
    no such order."""
    row = await tx.fetch_one(f"SELECT status FROM orders WHERE id = ?{d.for_update()}", (order_id,))
    if row is None:
        return None
    current = Status(row[0])
    applied = await tx.fetch_all(
        "SELECT status FROM order_history WHERE order_id = ? AND outcome = 'applied'", (order_id,)
    )
    verdict = decide(current, reached(Status(r[0]) for r in applied), new)
    return current, verdict.outcome, verdict.reason


async def ignored_already(tx: Tx, order_id: str, status: Status, source: str) -> bool:
    """The last history entry ignored this very news: a stale status repeated by every poll
    or redelivery is recorded once, not once per repetition."""
    last = await tx.fetch_one(
        "SELECT status, source, outcome FROM order_history WHERE order_id = ?"
        " ORDER BY seq DESC LIMIT 1",
        (order_id,),
    )
    return last is not None and (last[0], last[1], last[2]) == (status, source, Outcome.IGNORED)
