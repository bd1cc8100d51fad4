"""The provider exchanges of one order or return as a tenant may read them (the API's
`…/exchanges` and the operator console): unknown or another tenant's subject → `Unknown`."""

from __future__ import annotations

from typing import Any, Literal

from gateway.errors.refusals import Unknown
from gateway.model.exchanges import ExchangeList, ExchangeView
from gateway.model.view import instant
from gateway.store import Store


async def exchanges_of(
    store: Store,
    client_id: str,
    kind: Literal["order", "return"],
    subject_id: str,
    *,
    after: int | None,
    limit: int,
) -> ExchangeList:
    """A page of the subject's exchanges, newest first; `after`: the previous page's
    `next_cursor` (the page starts below it)."""
    if kind == "order":
        owned = await store.get_order(subject_id, client_id=client_id) is not None
    else:
        owned = await store.get_return(subject_id, client_id=client_id) is not None
    if not owned:
        raise Unknown.named(kind, subject_id)
    rows = await store.list_exchanges(client_id, kind, subject_id, before=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    items = [ExchangeView.model_validate(_shown(r)) for r in rows]
    cursor = str(rows[-1]["id"]) if more and rows else None
    return ExchangeList(items=items, next_cursor=cursor)


_SUBJECT = ("client_id", "subject_kind", "subject_id")
"""What the path and the caller already say: not repeated in each item."""


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in _SUBJECT} | {"at": instant(row["at"])}
