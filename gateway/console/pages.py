"""What the console's pages show, read through the same store queries and services as the API,
always within the signed-in operator's tenants."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
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
from gateway.store.records import OrderFilter, OrderRow, ReturnFilter

LIST_LIMIT = 200
"""The rows each list shows per tenant."""
COUNTED_UP_TO = 10_000
"""Where a list's count per tenant stops (shown as "10000+"), so a count of a large list
stops early."""
EVENTS_SHOWN = 200
"""The newest events of an order and its returns on its page, shown oldest first."""
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
    activity = await app[FEED].order_activity(client, row.id, limit=EVENTS_SHOWN)
    events = [{"event": e, "deliveries": ds} for e, ds in activity]
    returns = list(await app[STORE].list_returns(client.id, ReturnFilter(order_id=row.id)))
    shown = await exchanges_of(
        app[STORE], client.id, "order", row.id, after=None, limit=EXCHANGES_SHOWN
    )
    return OrderPage(row, view, events, shown.items, returns)


@dataclass(slots=True)
class Listed:
    """One of the lists: the rows shown and how many there are in all."""

    rows: list[Any] = field(default_factory=list)
    total: int = 0
    """Every tenant's count, each counted up to `COUNTED_UP_TO`."""
    more: bool = False
    """A tenant's count reached `COUNTED_UP_TO`: `total` is a lower bound."""

    def add(self, rows: Sequence[Any], count: int) -> None:
        self.rows += rows
        self.total += count
        self.more = self.more or count >= COUNTED_UP_TO


async def lists(
    request: web.Request, operator: Operator, older_than_min: float
) -> dict[str, Listed]:
    """Stuck, held, late, rejected in the last day, and dead-lettered deliveries: each the
    newest `LIST_LIMIT` of each tenant's (dead letters: the oldest), selected by the store."""
    app = request.config_dict
    store, now = app[STORE], app[CLOCK].time()
    wanted = {
        "stuck": OrderFilter(phases=OPEN_PHASES, created_before=instant(now - older_than_min * 60)),
        "held": OrderFilter(phases=frozenset({Phase.HELD})),
        "late": OrderFilter(late=True),
        "rejected": OrderFilter(
            status=Status.REJECTED, updated_since=instant(now) - timedelta(days=1)
        ),
    }
    out = {name: Listed() for name in (*wanted, "dead")}
    for t in sorted(operator.tenants):
        for name, flt in wanted.items():
            rows = await store.list_orders(t, replace(flt, limit=LIST_LIMIT))
            out[name].add(rows, await store.count_orders(t, flt, at_most=COUNTED_UP_TO))
        client = tenant(request, operator, t)
        if client is not None:
            dead = DeliveryState.DEAD
            letters = await app[FEED].deliveries(
                client, subscriber=None, state=dead, after=0, limit=LIST_LIMIT
            )
            count = await app[FEED].count_deliveries(client, state=dead, at_most=COUNTED_UP_TO)
            out["dead"].add(letters, count)
    return out
