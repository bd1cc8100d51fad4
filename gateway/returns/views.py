"""How returns look to callers: their `ReturnView`s, built from the store's rows — what the API
sends, and (as JSON values, `return_view`) what a submit's answer is stored as."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from gateway.model.query import encode_cursor
from gateway.model.return_views import ReturnList, ReturnView
from gateway.store import ReturnHistoryEntry, ReturnRow


def view_of(row: ReturnRow, history: Sequence[ReturnHistoryEntry] | None = None) -> ReturnView:
    """`history`: given by the reads of one return (lists leave it out); `return` is the
    canonical body as sent (`lines: null`: every line of the order)."""
    # One validation of everything (see `gateway.model.view`).
    return ReturnView.model_validate(
        {
            "id": row.id,
            "external_id": row.external_id,
            "order_id": row.order_id,
            "type": row.type,
            "status": row.status,
            "provider": row.provider,
            "provider_order_id": row.provider_order_id,
            "provider_return_id": row.provider_return_id,
            "provider_status": row.provider_status,
            "decision": row.decision,
            "submission": {
                "phase": row.phase,
                "attempts": row.attempts,
                "last_error": row.last_error,
            },
            "created_at": row.created_at,
            "updated_at": row.updated_at,
            "return": orjson.loads(row.body),
            "history": history,
        }
    )


def return_view(
    row: ReturnRow, history: Sequence[ReturnHistoryEntry] | None = None
) -> dict[str, Any]:
    return view_of(row, history).model_dump(mode="json")


def page_of(rows: Sequence[ReturnRow], more: bool) -> ReturnList:
    """A page of a list, newest first; `more`: another page follows."""
    cursor = encode_cursor(rows[-1].id) if more and rows else None
    return ReturnList(items=[view_of(r) for r in rows], next_cursor=cursor)
