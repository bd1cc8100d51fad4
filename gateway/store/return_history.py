"""What a return's step writes (of the return itself, or of one of its parts: the same
columns): its assignments, and its history entry and event in the transaction of the change."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from gateway.model.events import return_event
from gateway.model.history import Cause
from gateway.model.returns import FINAL_RETURN_STATUSES, ReturnStatus
from gateway.store.dialect import Dialect, Row, Tx, sql_list
from gateway.store.outbox import append_event
from gateway.store.records import ReturnStep
from gateway.store.rows import json_text, return_row, step_sets


async def record_return(
    tx: Tx,
    d: Dialect,
    row: Row,
    cause: Cause,
    *,
    previous: ReturnStatus | None = None,
    at: datetime,
    event_type: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """The return's history entry (its status as `row` holds it) and its event (the new
    status, or `event_type`: what was done to it). `extra`: fields the event carries
    besides (the `part` that changed, with its provider's)."""
    await tx.execute(
        "INSERT INTO return_history (return_id, seq, status, source, actor, detail, at)"
        " SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ?, ?, ? FROM return_history"
        " WHERE return_id = ?",
        (row["id"], row["status"], cause.source, cause.actor, cause.detail, d.to_db(at), row["id"]),
    )
    event = return_event(
        return_row(row, d),
        previous_status=previous,
        source=cause.source,
        actor=cause.actor,
        detail=cause.detail,
        event_type=event_type,
    )
    if extra is not None:
        event.data.update(extra)
    await append_event(tx, d, event, now=at.timestamp())


def return_sets(step: ReturnStep, stamp: Any) -> tuple[list[str], list[Any]]:
    sets: list[str] = ["updated_at = ?"] if step.touch else []
    args: list[Any] = [stamp] if step.touch else []
    if step.last_error is not None or step.clear_error:
        sets.append("last_error = ?")
        args.append(json_text(step.last_error))
    given = [
        ("checked_at", step.checked_at),
        ("phase", step.phase),
        ("provider_status", step.provider_status),
        ("provider_return_id", step.provider_return_id),
        ("decision", step.decision),
    ]
    step_sets(step, given, sets, args)
    return sets, args


def taken_status(
    previous: ReturnStatus, step: ReturnStep, sets: list[str], args: list[Any]
) -> ReturnStatus | None:
    """The status the step sets (added to `sets`), or None when the row keeps its own: a final
    status is never left, so late news of a cancelled return changes nothing."""
    status = step.status
    if previous in FINAL_RETURN_STATUSES or previous is status:
        status = None
    if status is not None:
        sets.append("status = ?")
        args.append(status)
    if not sets:
        sets.append("id = id")  # nothing to change: still checks the lease
    return status


def to_check(table: str, columns: str) -> str:
    """The query of the submitted rows of `table` (returns, or their parts) not in a final
    status and not checked since a time, least recently checked first (polling): its
    arguments are that time and a limit."""
    return (
        f"SELECT {columns} FROM {table} WHERE phase = 'done'"
        f" AND status NOT IN {sql_list(FINAL_RETURN_STATUSES)}"
        " AND (checked_at IS NULL OR checked_at <= ?) ORDER BY COALESCE(checked_at, 0), id"
        " LIMIT ?"
    )
