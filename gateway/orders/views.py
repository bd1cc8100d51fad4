"""How orders look to callers (a submit's answer, `GET`, lists)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from gateway.store import HistoryEntry, OrderRow


def ts(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def order_view(row: OrderRow, history: Sequence[HistoryEntry] | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": row.id,
        "external_id": row.external_id,
        "status": row.status.value,
        "provider": row.provider,
        "warehouse": row.warehouse,
        "provider_order_id": row.provider_order_id,
        "provider_status": row.provider_status,
        "tracking": {
            "code": row.tracking_code,
            "url": row.tracking_url,
            "shipment_ids": list(row.shipment_ids),
        },
        "route": {"rule": row.route_rule, "candidate": row.route_candidate},
        "submission": {
            "phase": row.phase.value,
            "attempts": row.attempts,
            "last_error": row.last_error,
        },
        "supersedes": row.supersedes,
        "superseded_by": row.superseded_by,
        "created_at": ts(row.created_at),
        "updated_at": ts(row.updated_at),
        "order": orjson.loads(row.body),
    }
    if history is not None:
        view["history"] = [
            {
                "status": h.status.value,
                "source": h.source,
                "actor": h.actor,
                "at": ts(h.at),
                "detail": h.detail,
                "outcome": h.outcome.value,
            }
            for h in history
        ]
    return view
