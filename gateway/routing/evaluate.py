"""Routing as a pure function of (order, rules, provider health, stock snapshot). No I/O.

Contract:

1. A pinned order (`order.routing`; the caller has checked the client may pin and that the
   provider and warehouse exist) goes where it is pinned: rule "pinned", candidate 0, an
   empty trace, `queued` when that provider is unhealthy.
2. Rules are tried in order; the first whose conditions *all* hold wins. Every condition of a
   tried rule is evaluated and reported (no short-circuit), so the trace says every reason a
   rule failed. Rules after the winner are not evaluated and are not in the trace. Conditions
   left unset are not part of the rule and are not reported; an empty `when` always matches.
3. Conditions: see `gateway.routing.conditions`.
4. In the winning rule, candidates are walked in order: one whose provider is unhealthy
   (circuit open) is skipped; with `stock_aware`, so is one whose warehouse does not hold
   every line (quantity needed per SKU is the sum over its lines; a SKU missing from the
   snapshot has 0; a candidate without a snapshot is "stock unknown"). The first candidate
   left is chosen. If none is left but some are healthy, the first healthy one is chosen
   (its provider may back-order); if none is healthy, candidate 0 is chosen and `queued`: the
   order is stored and waits for that provider.
   With `split` on a stock-aware rule, when no candidate holds every line and some are
   healthy, the parts are planned by `plan_split`; a plan of two or more parts is the
   decision (`parts`; `candidate` and its provider/warehouse are the first part's), each
   planned candidate marked "chosen: part N of a split". A plan of one part is no split:
   the back-order fallback above.
5. Nothing matched: `[routing.default]` if configured (a last trace entry "default", matched,
   with its one candidate), else no decision — the caller answers 422 `unroutable`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from pydantic import ConfigDict

from gateway.model.orders import CanonicalOrder, StockSnapshot
from gateway.routing.conditions import ConditionResult, conditions
from gateway.routing.rules import (
    Candidate,
    RoutingSettings,
    Rule,
)
from gateway.routing.split import PlannedPart, StockKey, plan_split

__all__ = ["StockKey", "StockSnapshot"]  # re-exported: their home is the planner

CHOSEN = "chosen"
SKIP_CIRCUIT = "skipped: circuit open"
SKIP_STOCK = "skipped: out of stock"
SKIP_UNKNOWN = "skipped: stock unknown"
NOT_TRIED = "not tried"
CHOSEN_QUEUED = "chosen: queued (no healthy candidate)"
CHOSEN_NO_STOCK = "chosen: no candidate holds every line"
CHOSEN_PART = "chosen: part {part} of a split"


@dataclass(frozen=True, slots=True)
class CandidateResult:
    index: int
    provider: str
    warehouse: str
    healthy: bool
    outcome: str
    stock: dict[str, int] | None = None
    """Units held of each SKU the order needs (stock-aware rules only)."""
    shortfall: dict[str, dict[str, int]] | None = None
    """SKU → {"needed", "available"} for each SKU this warehouse is short of."""


@dataclass(frozen=True, slots=True)
class RuleTrace:
    rule: str
    matched: bool
    conditions: list[ConditionResult]
    candidates: list[CandidateResult]
    """Only for the matched rule; empty otherwise."""


@dataclass(frozen=True, slots=True)
class Decision:
    # Its public name (the returns' `Decision` is the code of a return decision).
    __pydantic_config__ = ConfigDict(title="RouteDecision")

    rule: str
    candidate: int
    provider: str
    warehouse: str
    queued: bool
    """No candidate is healthy: store the order and submit it when this provider recovers."""
    parts: tuple[PlannedPart, ...] = field(default=())
    """A split order's parts, in order (the first is `candidate`); empty when not split."""


@dataclass(frozen=True, slots=True)
class RoutingResult:
    decision: Decision | None
    trace: list[RuleTrace]

    @property
    def reason(self) -> str | None:
        """Why there is no decision, in one line (None when there is one)."""
        if self.decision is not None:
            return None
        tried = ", ".join(t.rule for t in self.trace) or "none configured"
        return f"no rule matched and no default is configured (rules tried: {tried})"


# conditions: each check is (order, what the rule wants) -> (holds, detail) -----------------


# candidates -------------------------------------------------------------------------------


def _try(
    result: CandidateResult, needed: Counter[str] | None, stock: Mapping[StockKey, StockSnapshot]
) -> CandidateResult:
    """One candidate's outcome: health first, then (when `needed` is given) stock."""
    if not result.healthy:
        return replace(result, outcome=SKIP_CIRCUIT)
    if needed is None:
        return replace(result, outcome=CHOSEN)
    snapshot = stock.get((result.provider, result.warehouse))
    if snapshot is None:
        return replace(result, outcome=SKIP_UNKNOWN)
    held = {sku: snapshot.get(sku, 0) for sku in needed}
    short = {
        sku: {"needed": n, "available": held[sku]} for sku, n in needed.items() if held[sku] < n
    }
    return replace(
        result, outcome=SKIP_STOCK if short else CHOSEN, stock=held, shortfall=short or None
    )


def _split(
    order: CanonicalOrder,
    candidates: list[Candidate],
    results: list[CandidateResult],
    *,
    max_parts: int,
    healthy: Callable[[str], bool],
    stock: Mapping[StockKey, StockSnapshot],
) -> tuple[PlannedPart, ...]:
    """The parts of a split, when it takes more than one; each part's candidate marked."""
    lines = [(line.sku, line.quantity) for line in order.lines]
    plan = plan_split(lines, candidates, healthy=healthy, stock=stock, max_parts=max_parts)
    if plan is None or len(plan.parts) < 2:
        return ()
    for part in plan.parts:
        results[part.candidate] = replace(
            results[part.candidate], outcome=CHOSEN_PART.format(part=part.part)
        )
    return plan.parts


def _choose(
    order: CanonicalOrder,
    candidates: list[Candidate],
    *,
    stock_aware: bool,
    healthy: Callable[[str], bool],
    stock: Mapping[StockKey, StockSnapshot],
    max_parts: int | None = None,
) -> tuple[int, bool, list[CandidateResult], tuple[PlannedPart, ...]]:
    """(chosen index, queued, one result per candidate, the parts of a split — `max_parts`
    given — or none)."""
    needed = order.units() if stock_aware else None
    results: list[CandidateResult] = []
    chosen: int | None = None
    for index, cand in enumerate(candidates):
        result = CandidateResult(
            index, cand.provider, cand.warehouse, healthy(cand.provider), NOT_TRIED
        )
        if chosen is None:
            result = _try(result, needed, stock)
            chosen = index if result.outcome == CHOSEN else None
        results.append(result)
    if chosen is not None:
        return chosen, False, results, ()
    fallback = next((r.index for r in results if r.healthy), None)
    if fallback is not None and max_parts is not None:
        parts = _split(
            order, candidates, results, max_parts=max_parts, healthy=healthy, stock=stock
        )
        if parts:
            return parts[0].candidate, False, results, parts
    if fallback is not None:
        results[fallback] = replace(results[fallback], outcome=CHOSEN_NO_STOCK)
        return fallback, False, results, ()
    results[0] = replace(results[0], outcome=CHOSEN_QUEUED)
    return 0, True, results, ()


def _max_parts(rule: Rule) -> int | None:
    return rule.max_parts if rule.split and rule.stock_aware else None


# entry points -----------------------------------------------------------------------------


def route(
    order: CanonicalOrder,
    routing: RoutingSettings,
    *,
    healthy: Callable[[str], bool] = lambda _provider: True,
    stock: Mapping[StockKey, StockSnapshot] | None = None,
    now: datetime | None = None,
) -> RoutingResult:
    """Where this order goes, and why (see the module docstring for the contract)."""
    if order.routing is not None:
        pin = order.routing
        queued = not healthy(pin.provider)
        return RoutingResult(Decision("pinned", 0, pin.provider, pin.warehouse, queued), [])
    snapshots = stock if stock is not None else {}
    trace: list[RuleTrace] = []
    for rule in routing.rules:
        tried = conditions(order, rule.when, now)
        if not all(c.ok for c in tried):
            trace.append(RuleTrace(rule.name, False, tried, []))
            continue
        index, queued, candidates, parts = _choose(
            order,
            rule.candidates,
            stock_aware=rule.stock_aware,
            healthy=healthy,
            stock=snapshots,
            max_parts=_max_parts(rule),
        )
        trace.append(RuleTrace(rule.name, True, tried, candidates))
        chosen = rule.candidates[index]
        decision = Decision(rule.name, index, chosen.provider, chosen.warehouse, queued, parts)
        return RoutingResult(decision, trace)
    default = routing.default
    if default is None:
        return RoutingResult(None, trace)
    _, queued, candidates, _ = _choose(
        order, [default], stock_aware=False, healthy=healthy, stock=snapshots
    )
    trace.append(RuleTrace("default", True, [], candidates))
    return RoutingResult(Decision("default", 0, default.provider, default.warehouse, queued), trace)


def stock_needs(
    routing: RoutingSettings, order: CanonicalOrder, now: datetime | None = None
) -> list[StockKey]:
    """The stock snapshots `route` may read for this order: the candidates of the rule it
    matches, when that rule is stock-aware. Lets the caller fetch only those beforehand."""
    if order.routing is not None:
        return []
    for rule in routing.rules:
        if all(c.ok for c in conditions(order, rule.when, now)):
            # The first match decides: a stock-aware rule after it is never reached.
            return [(c.provider, c.warehouse) for c in rule.candidates] if rule.stock_aware else []
    return []


def explain_json(result: RoutingResult) -> dict[str, Any]:
    """The result as plain JSON values (the body of `POST /v1/routing/explain`): `decision`,
    `reason` and `trace`, keyed by the dataclasses' field names. A deep copy (asdict)."""
    return {
        "decision": None if result.decision is None else asdict(result.decision),
        "reason": result.reason,
        "trace": [asdict(rule) for rule in result.trace],
    }
