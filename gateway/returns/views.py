"""How returns look to callers: their `ReturnView`s, built from the store's rows — what the API
sends, and (as JSON values, `return_view`) what a submit's answer is stored as."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import orjson

from gateway.model.query import encode_cursor
from gateway.model.return_views import ReturnList, ReturnView
from gateway.model.returns import ReturnPhase
from gateway.store import (
    PartStore,
    ReturnHistoryEntry,
    ReturnPartRow,
    ReturnPartStore,
    ReturnRow,
)


class ReturnViewStore(PartStore, ReturnPartStore, Protocol):
    """What the parts of returns' views need of the store."""


async def parts_for(
    store: ReturnViewStore, rows: Sequence[ReturnRow]
) -> dict[str, list[dict[str, Any]]]:
    """Each return's `parts` (see `ReturnView`): its part rows when it spans parts, else the
    one part it went to (of a split order, the part holding its provider order)."""
    spanning = await store.return_parts_of([r.id for r in rows if r.phase is ReturnPhase.PARTS])
    numbers: dict[tuple[str, str], int] = {}
    found: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row.phase is ReturnPhase.PARTS:
            found[row.id] = [_part(p) for p in spanning.get(row.id, ())]
            continue
        at = (row.provider, row.provider_order_id)
        if at not in numbers:
            part = await store.find_part_by_provider_id(*at)
            numbers[at] = 1 if part is None else part.part
        found[row.id] = [_single(row, numbers[at])]
    return found


def _part(p: ReturnPartRow) -> dict[str, Any]:
    return {
        "part": p.part,
        "provider": p.provider,
        "provider_order_id": p.provider_order_id,
        "provider_return_id": p.provider_return_id,
        "provider_status": p.provider_status,
        "status": p.status,
        "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in p.lines],
        "submission": _submission(p),
    }


def _single(row: ReturnRow, part: int) -> dict[str, Any]:
    return {
        "part": part,
        "provider": row.provider,
        "provider_order_id": row.provider_order_id,
        "provider_return_id": row.provider_return_id,
        "provider_status": row.provider_status,
        "status": row.status,
        "lines": orjson.loads(row.body).get("lines"),
        "submission": _submission(row),
    }


def _submission(row: ReturnRow | ReturnPartRow) -> dict[str, Any]:
    return {"phase": row.phase, "attempts": row.attempts, "last_error": row.last_error}


def view_of(
    row: ReturnRow,
    parts: Sequence[Mapping[str, Any]],
    history: Sequence[ReturnHistoryEntry] | None = None,
) -> ReturnView:
    """`parts`: as `parts_for` gives them; `history`: given by the reads of one return (lists
    leave it out); `return` is the canonical body as sent (`lines: null`: every line of the
    order)."""
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
            "submission": _submission(row),
            "created_at": row.created_at,
            "updated_at": row.updated_at,
            "return": orjson.loads(row.body),
            "parts": parts,
            "history": history,
        }
    )


def return_view(
    row: ReturnRow,
    parts: Sequence[Mapping[str, Any]],
    history: Sequence[ReturnHistoryEntry] | None = None,
) -> dict[str, Any]:
    return view_of(row, parts, history).model_dump(mode="json")


def page_of(
    rows: Sequence[ReturnRow], more: bool, parts: Mapping[str, Sequence[Mapping[str, Any]]]
) -> ReturnList:
    """A page of a list, newest first; `more`: another page follows."""
    cursor = encode_cursor(rows[-1].id) if more and rows else None
    return ReturnList(items=[view_of(r, parts[r.id]) for r in rows], next_cursor=cursor)
