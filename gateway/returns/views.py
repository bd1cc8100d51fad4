"""How returns look to callers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from gateway.orders.views import ts
from gateway.store import ReturnHistoryEntry, ReturnRow


def return_view(
    row: ReturnRow, history: Sequence[ReturnHistoryEntry] | None = None
) -> dict[str, Any]:
    """`return` is the canonical body as sent: `lines: null` means every line of the order."""
    view: dict[str, Any] = {
        "id": row.id,
        "external_id": row.external_id,
        "order_id": row.order_id,
        "type": row.type,
        "status": row.status.value,
        "provider": row.provider,
        "provider_order_id": row.provider_order_id,
        "provider_return_id": row.provider_return_id,
        "provider_status": row.provider_status,
        "decision": row.decision.value if row.decision else None,
        "submission": {
            "phase": row.phase.value,
            "attempts": row.attempts,
            "last_error": row.last_error,
        },
        "created_at": ts(row.created_at),
        "updated_at": ts(row.updated_at),
        "return": orjson.loads(row.body),
    }
    if history is not None:
        view["history"] = [
            {
                "status": h.status.value,
                "source": h.source,
                "actor": h.actor,
                "at": ts(h.at),
                "detail": h.detail,
            }
            for h in history
        ]
    return view
