"""What the console's pages show, read through the same store queries and services as the API,
always within the signed-in operator's tenants."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiohttp import web

from gateway.api.keys import CLOCK, FEED, PROVIDERS, SERVICE, SETTINGS, STORE
from gateway.console.sessions import Operator
from gateway.model.clients import Client
from gateway.model.events import DeliveryState
from gateway.model.exchanges import ExchangeView
from gateway.model.orders import OPEN_PHASES, Phase, Status
from gateway.model.view import instant
from gateway.orders.exchanges import exchanges_of
from gateway.store.records import DeliveryRow, OrderFilter, OrderRow, ReturnFilter

LIST_LIMIT = 200
FEED_LIMIT = 1000
EXCHANGES_SHOWN = 100
"""The newest exchanges on an order page; the API pages through the rest."""


def tenant(request: web.Request, operator: Operator, client_id: str) -> Client | None:
    """The tenant `client_id` as its own client, if the operator may act for it."""
    if client_id not in operator.tenants:
        return None
    for c in request.config_dict[SETTINGS].clients:
        if c.id == client_id:
            return Client(c.id, frozenset(c.scopes), c.prefix)
    return None


async def owned_order(request: web.Request, operator: Operator, order_id: str) -> OrderRow | None:
    """The order, if it belongs to one of the operator's tenants (else None: a 404)."""
    row = await request.config_dict[STORE].get_order(order_id)
    return row if row is not None and row.client_id in operator.tenants else None


async def search(request: web.Request, operator: Operator, q: str) -> list[OrderRow]:
    """Orders named by `q`: a gateway id, an external id, a provider order id or a return id."""
    store, q = request.config_dict[STORE], q.strip()
    if not q:
        return []
    found: dict[str, OrderRow] = {}
    if (row := await owned_order(request, operator, q)) is not None:
        found[row.id] = row
    for t in sorted(operator.tenants):
        if (row := await store.find_by_external_id(t, q)) is not None:
            found[row.id] = row
    for name in request.config_dict[PROVIDERS]:
        row = await store.find_by_provider_id(name, q)
        if row is not None and row.client_id in operator.tenants:
            found[row.id] = row
    ret = await store.get_return(q)
    if ret is not None and ret.client_id in operator.tenants:
        row = await owned_order(request, operator, ret.order_id)
        if row is not None:
            found[row.id] = row
    return list(found.values())


@dataclass(frozen=True, slots=True)
class OrderPage:
    row: OrderRow
    view: dict[str, Any]
    events: list[dict[str, Any]]
    exchanges: Sequence[ExchangeView]
    returns: list[Any]


async def order_page(request: web.Request, client: Client, row: OrderRow) -> OrderPage:
    app = request.config_dict
    view = await app[SERVICE].get(client, row.id)
    feed = app[FEED]
    mine = [e for e in await feed.events(client, after=0, limit=FEED_LIMIT) if _about(e, row.id)]
    deliveries = await feed.deliveries(
        client, subscriber=None, state=None, after=0, limit=FEED_LIMIT
    )
    by_event: dict[str, list[DeliveryRow]] = {}
    for d in deliveries:
        by_event.setdefault(d.event.id, []).append(d)
    events = [{"event": e, "deliveries": by_event.get(e.id, [])} for e in mine]
    returns = list(await app[STORE].list_returns(client.id, ReturnFilter(order_id=row.id)))
    shown = await exchanges_of(
        app[STORE], client.id, "order", row.id, after=None, limit=EXCHANGES_SHOWN
    )
    return OrderPage(row, view, events, shown.items, returns)


def _about(event: Any, order_id: str) -> bool:
    data = event.data if isinstance(event.data, dict) else {}
    return bool(data.get("order_id") == order_id or event.subject == order_id)


async def lists(
    request: web.Request, operator: Operator, older_than_min: float
) -> dict[str, list[Any]]:
    """Stuck, held, late, rejected in the last day, and dead-lettered deliveries."""
    app = request.config_dict
    store, now = app[STORE], app[CLOCK].time()
    out: dict[str, list[Any]] = {"stuck": [], "held": [], "late": [], "rejected": [], "dead": []}
    since = instant(now) - timedelta(days=1)
    stuck_before = now - older_than_min * 60
    for t in sorted(operator.tenants):
        for row in await store.list_orders(t, OrderFilter(limit=LIST_LIMIT)):
            if row.phase in OPEN_PHASES and row.created_at.timestamp() <= stuck_before:
                out["stuck"].append(row)
            if row.phase is Phase.HELD:
                out["held"].append(row)
        out["late"] += await store.list_orders(t, OrderFilter(late=True, limit=LIST_LIMIT))
        out["rejected"] += await store.list_orders(
            t, OrderFilter(status=Status.REJECTED, updated_since=since, limit=LIST_LIMIT)
        )
        client = tenant(request, operator, t)
        if client is not None:
            out["dead"] += await app[FEED].deliveries(
                client, subscriber=None, state=DeliveryState.DEAD, after=0, limit=LIST_LIMIT
            )
    return out
