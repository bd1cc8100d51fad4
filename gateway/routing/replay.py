"""Routing replay: stored orders, the decisions they got, and proposed routing → what would
move. Pure: the caller reads the orders and hands in provider health and a stock look-up.

1. Each order is replayed as it came in: hold rules first (`gateway.routing.holds.held`),
   then routing (`gateway.routing.evaluate.route`), both at the order's creation time (so
   `ship_by_within_h` and `until_h` mean what they meant then), over today's health.
2. Stock comes from `stock`, a look-up of what is known already (a cache); it is asked only
   for the candidates of a stock-aware rule the order matches, and a candidate it knows
   nothing of (None) is "stock unknown", as in routing.
3. An order moves when its place changes: another provider or warehouse, held instead of
   routed (or the other way round), another hold, or no place at all (unroutable). A rule's
   new name alone moves nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from gateway.model.orders import CanonicalOrder
from gateway.routing.evaluate import StockKey, StockSnapshot, route, stock_needs
from gateway.routing.holds import held
from gateway.routing.replay_views import (
    Move,
    Placement,
    ReplayedOrder,
    ReplaySummary,
)
from gateway.routing.rules import HoldRule, RoutingSettings

StockLookup = Callable[[str, str, Sequence[str]], StockSnapshot | None]
"""(provider, warehouse, SKUs) → the units of each SKU known to be there, or None: not known.
Must not call anyone: a replay sends nothing."""

MAX_ORDERS = 10_000
"""The most orders one replay evaluates."""


def no_stock(_provider: str, _warehouse: str, _skus: Sequence[str]) -> StockSnapshot | None:
    """The look-up while no stock is cached: every stock-aware candidate is "stock unknown"."""
    return None


@dataclass(frozen=True, slots=True)
class StoredOrder:
    """A stored order as a replay needs it."""

    id: str
    external_id: str
    created_at: datetime
    body: str
    """The canonical order as stored (JSON)."""
    current: Placement
    """Where it went (or that it is held), as the store says."""


def place(p: Placement) -> str:
    """`provider/warehouse`, `held:<reason>` or `unroutable`: what a move is from and to."""
    if p.held is not None:
        return f"held:{p.held}"
    if p.provider is None:
        return "unroutable"
    return f"{p.provider}/{p.warehouse}"


def proposed(
    order: CanonicalOrder,
    routing: RoutingSettings,
    holds: list[HoldRule],
    *,
    at: datetime,
    healthy: Callable[[str], bool],
    stock: StockLookup,
) -> Placement:
    """Where `order`, taken at `at`, would go under the proposed rules."""
    hold = held(order, holds, at).hold
    if hold is not None:
        return Placement(held=hold.reason, held_until=hold.until)
    skus = sorted({line.sku for line in order.lines})
    snapshots: dict[StockKey, StockSnapshot] = {}
    for provider, warehouse in stock_needs(routing, order, at):
        found = stock(provider, warehouse, skus)
        if found is not None:
            snapshots[(provider, warehouse)] = found
    result = route(order, routing, healthy=healthy, stock=snapshots, now=at)
    d = result.decision
    if d is None:
        return Placement(reason=result.reason)
    return Placement(
        provider=d.provider,
        warehouse=d.warehouse,
        rule=d.rule,
        candidate=d.candidate,
        queued=d.queued,
    )


def replay(
    orders: Sequence[StoredOrder],
    routing: RoutingSettings,
    holds: list[HoldRule],
    *,
    healthy: Callable[[str], bool],
    stock: StockLookup = no_stock,
) -> tuple[list[ReplayedOrder], ReplaySummary]:
    """Each order's current and proposed placement, in the order given, and their summary."""
    out: list[ReplayedOrder] = []
    moves: Counter[tuple[str, str]] = Counter()
    for stored in orders:
        try:
            order = CanonicalOrder.model_validate_json(stored.body)
        except ValidationError:  # stored by an older gateway, no longer a canonical order
            then = Placement(reason="the stored order is no longer a valid canonical order")
        else:
            then = proposed(
                order, routing, holds, at=stored.created_at, healthy=healthy, stock=stock
            )
        before, after = place(stored.current), place(then)
        if before != after:
            moves[(before, after)] += 1
        out.append(
            ReplayedOrder(
                id=stored.id,
                external_id=stored.external_id,
                created_at=stored.created_at,
                current=stored.current,
                proposed=then,
                moved=before != after,
            )
        )
    summary = ReplaySummary(
        total=len(out),
        moved=sum(moves.values()),
        moves=[
            Move.model_validate({"from": a, "to": b, "count": n})
            for (a, b), n in sorted(moves.items(), key=lambda m: (-m[1], m[0]))
        ],
        unroutable=[o.id for o in out if place(o.proposed) == "unroutable"],
        held=sum(1 for o in out if o.proposed.held is not None),
    )
    return out, summary
