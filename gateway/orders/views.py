"""How orders look to callers: their `OrderView`s, built from the store's rows — what the API
sends, and (as JSON values, `order_view`) what a submit's answer is stored as."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from gateway.model.query import encode_cursor
from gateway.model.responses import OrderList, OrderView
from gateway.model.view import instant
from gateway.store import HistoryEntry, OrderRow, PartRow


def view_of(
    row: OrderRow,
    history: Sequence[HistoryEntry] | None = None,
    parts: Sequence[PartRow] = (),
) -> OrderView:
    """`history`: given by the reads of one order (lists leave it out); `parts`: a split
    order's stored parts (its top-level provider, warehouse and provider order id are its
    first part's)."""
    body = orjson.loads(row.body)
    submission = {"phase": row.phase, "attempts": row.attempts, "last_error": row.last_error}
    first = parts[0] if parts else None
    # One validation of everything (see `gateway.model.view`).
    return OrderView.model_validate(
        {
            "id": row.id,
            "external_id": row.external_id,
            "status": row.status,
            "provider": row.provider or None,
            "warehouse": row.warehouse or None,
            "provider_order_id": row.provider_order_id
            if first is None
            else first.provider_order_id,
            "provider_status": row.provider_status if first is None else first.provider_status,
            # A split order's tracking is its first part's (as its provider is).
            "tracking": {
                "code": row.tracking_code if first is None else first.tracking_code,
                "url": row.tracking_url if first is None else first.tracking_url,
                "shipment_ids": row.shipment_ids,
            },
            "route": {"rule": row.route_rule, "candidate": row.route_candidate}
            if row.route_rule
            else None,
            "hold": None
            if row.hold_reason is None
            else {
                "reason": row.hold_reason,
                "since": instant(row.hold_since or 0),
                "until": None if row.hold_until is None else instant(row.hold_until),
            },
            "late_at": None if row.late_at is None else instant(row.late_at),
            "submission": submission,
            "parts": [_part(p) for p in parts] if parts else _parts(row, body, submission),
            "supersedes": row.supersedes,
            "superseded_by": row.superseded_by,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
            "order": body,
            "history": history,
        }
    )


def _parts(row: OrderRow, body: dict[str, Any], submission: dict[str, Any]) -> list[Any]:
    """The order's parts: today one, the order itself, once it is routed (none while held)."""
    if not row.provider:
        return []
    lines = [{"sku": line["sku"], "quantity": line["quantity"]} for line in body["lines"]]
    return [
        {
            "part": 1,
            "provider": row.provider,
            "warehouse": row.warehouse,
            "provider_order_id": row.provider_order_id,
            "status": row.status,
            "lines": lines,
            "tracking": {"code": row.tracking_code, "url": row.tracking_url},
            "submission": submission,
        }
    ]


def _part(part: PartRow) -> dict[str, Any]:
    """One stored part of a split order, with its own submission."""
    return {
        "part": part.part,
        "provider": part.provider,
        "warehouse": part.warehouse,
        "provider_order_id": part.provider_order_id,
        "status": part.status,
        "lines": [{"sku": sku, "quantity": quantity} for _line, sku, quantity in part.lines],
        "tracking": {"code": part.tracking_code, "url": part.tracking_url},
        "submission": {
            "phase": part.phase,
            "attempts": part.attempts,
            "last_error": part.last_error,
        },
    }


def order_view(
    row: OrderRow,
    history: Sequence[HistoryEntry] | None = None,
    parts: Sequence[PartRow] = (),
) -> dict[str, Any]:
    return view_of(row, history, parts).model_dump(mode="json")


def page_of(
    rows: Sequence[OrderRow], more: bool, parts: Mapping[str, Sequence[PartRow]] | None = None
) -> OrderList:
    """A page of a list, newest first; `more`: another page follows; `parts`: of the split
    orders among `rows`, by order id."""
    cursor = encode_cursor(rows[-1].id) if more and rows else None
    split = parts or {}
    return OrderList(
        items=[view_of(r, None, split.get(r.id, ())) for r in rows], next_cursor=cursor
    )
