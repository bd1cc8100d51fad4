"""`RoutingReplay`: proposed routing against a tenant's stored orders (`POST
/v1/routing/replay`, `gateway route --replay`). Reads one page of orders; stores nothing,
calls no provider: health is what is known in process (`health_of`), stock what the providers'
stock caches hold (`cached_stock_lookup`), however old."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from gateway.config import Settings
from gateway.config_checks import proposed_routing
from gateway.errors import ConfigError
from gateway.errors.refusals import RoutingInvalid
from gateway.model.orders import Phase, Status, StockSnapshot
from gateway.providers.base import Provider, cached_stock_of
from gateway.routing.replay import StockLookup, StoredOrder, no_stock, replay
from gateway.routing.replay_views import Placement, ReplayAnswer, ReplayWindow
from gateway.store.records import OrderRow


class ReplayReads(Protocol):
    async def orders_created(
        self, client_id: str, *, since: datetime, until: datetime, limit: int
    ) -> Sequence[OrderRow]: ...


def health_of(providers: Mapping[str, Provider]) -> Callable[[str], bool]:
    """Each provider's health as this process knows it now (its circuit); no call is made."""

    def healthy(name: str) -> bool:
        provider = providers.get(name)
        return provider is not None and provider.healthy()

    return healthy


def cached_stock_lookup(providers: Mapping[str, Provider]) -> StockLookup:
    """Stock as each provider's cache last read it (never a call): None — "stock unknown" —
    for a provider without stock, an unknown warehouse, or a cache never filled."""

    def lookup(name: str, warehouse: str, skus: Sequence[str]) -> StockSnapshot | None:
        provider = providers.get(name)
        source = None if provider is None else cached_stock_of(provider)
        if source is None:
            return None
        try:
            return source.cached_stock(warehouse, list(skus))
        except KeyError:  # a warehouse the provider's settings do not name
            return None

    return lookup


def current_of(row: OrderRow) -> Placement:
    """What the stored order got: held before routing, or its provider, warehouse and rule."""
    if row.phase is Phase.HELD or row.status is Status.ON_HOLD:
        return Placement(held=row.hold_reason or "held")
    return Placement(
        provider=row.provider or None,
        warehouse=row.warehouse or None,
        rule=row.route_rule or None,
        candidate=row.route_candidate,
    )


class RoutingReplay:
    def __init__(
        self,
        settings: Settings,
        store: ReplayReads,
        healthy: Callable[[str], bool],
        *,
        stock: StockLookup = no_stock,
    ) -> None:
        self._settings = settings
        self._store = store
        self._healthy = healthy
        self._stock = stock

    async def replay(
        self,
        client_id: str,
        proposal: Mapping[str, Any],
        *,
        since: datetime,
        until: datetime,
        limit: int,
    ) -> ReplayAnswer:
        """`RoutingInvalid` when `proposal` is routing `check-config` would refuse."""
        try:
            routing, holds = proposed_routing(proposal, self._settings)
        except ConfigError as exc:
            raise RoutingInvalid(str(exc).replace("\n", "; "), problems=exc.problems) from None
        rows = await self._store.orders_created(
            client_id, since=since, until=until, limit=limit + 1
        )
        stored = [
            StoredOrder(r.id, r.external_id, r.created_at, r.body, current_of(r))
            for r in rows[:limit]
        ]
        orders, summary = replay(stored, routing, holds, healthy=self._healthy, stock=self._stock)
        return ReplayAnswer(
            orders=orders,
            summary=summary,
            window=ReplayWindow(since=since, until=until, limit=limit),
            truncated=len(rows) > limit,
        )
