"""Routing as a pure function of (order, rules, provider health, stock snapshot). No I/O.

Contract:
1. A pinned order (`order.routing`, allowed by the caller) goes where it is pinned; the
   trace is empty; it is `queued` when that provider is unhealthy.
2. Rules are tried in order; the first whose conditions *all* hold wins. Every condition of a
   tried rule is evaluated and reported (no short-circuit), so the trace says every reason a
   rule failed. Rules after the winner are not evaluated. An empty `when` always matches.
3. In the winning rule, candidates are walked in order: a candidate whose provider's circuit
   is open is skipped; with `stock_aware`, so is one whose warehouse does not hold every line
   (quantities summed per SKU; a SKU missing from the snapshot has 0; a candidate without a
   snapshot is "stock unknown"). The first candidate left is chosen. If none is left but
   some are healthy, the first healthy one is chosen (the provider may back-order); if none
   is healthy, candidate 0 is chosen and the order is `queued` until it recovers.
4. Nothing matched: `[routing.default]` if configured (reported as rule "default"), else no
   decision — the caller answers 422 `unroutable` with the trace.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from gateway.model.orders import CanonicalOrder
from gateway.routing.rules import Candidate, Conditions, DecimalRange, IntRange, RoutingSettings

StockKey = tuple[str, str]
"""(provider, warehouse)"""
StockSnapshot = Mapping[str, int]
"""SKU → units available."""

CHOSEN = "chosen"
SKIP_CIRCUIT = "skipped: circuit open"
SKIP_STOCK = "skipped: out of stock"
SKIP_UNKNOWN = "skipped: stock unknown"
NOT_TRIED = "not tried"
CHOSEN_QUEUED = "chosen: queued (no healthy candidate)"
CHOSEN_NO_STOCK = "chosen: no candidate holds every line"


@dataclass(frozen=True, slots=True)
class ConditionResult:
    condition: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class CandidateResult:
    index: int
    provider: str
    warehouse: str
    healthy: bool
    outcome: str
    stock: dict[str, int] | None = None
    shortfall: dict[str, dict[str, int]] | None = None


@dataclass(frozen=True, slots=True)
class RuleTrace:
    rule: str
    matched: bool
    conditions: list[ConditionResult]
    candidates: list[CandidateResult]


@dataclass(frozen=True, slots=True)
class Decision:
    rule: str
    candidate: int
    provider: str
    warehouse: str
    queued: bool


@dataclass(frozen=True, slots=True)
class RoutingResult:
    decision: Decision | None
    trace: list[RuleTrace]

    @property
    def reason(self) -> str | None:
        """Why there is no decision (None when there is one)."""
        if self.decision is not None:
            return None
        if not self.trace:
            return "no routing rules are configured and no default is set"
        return f"none of {len(self.trace)} rule(s) matched and no default is configured"


def _codes(values: list[Any]) -> str:
    return "[" + ", ".join(str(v) for v in values) + "]"


# conditions: each is (order, wanted) -> (ok, detail) -------------------------------------

Check = Callable[[CanonicalOrder, Any], tuple[bool, str]]


def _in_list(name: str, value: Any, wanted: list[Any]) -> tuple[bool, str]:
    if value is None:
        return False, f"{name} not set on the order; rule wants one of {_codes(wanted)}"
    ok = value in wanted
    return ok, f"{name} {value} {'in' if ok else 'not in'} {_codes(wanted)}"


def _range(
    name: str, value: int | Decimal | None, rng: IntRange | DecimalRange, unknown: str
) -> tuple[bool, str]:
    if value is None:
        return False, f"{name} unknown: {unknown}"
    if rng.min is not None and value < rng.min:
        return False, f"{name} {value} below min {rng.min}"
    if rng.max is not None and value > rng.max:
        return False, f"{name} {value} above max {rng.max}"
    return True, f"{name} {value} within [{rng.min}, {rng.max}]"


def _first_line_without(order: CanonicalOrder, field: str) -> str:
    line = next((ln for ln in order.lines if getattr(ln, field) is None), None)
    return f"line {line.sku} has no {field}" if line is not None else ""


def _tags_any(order: CanonicalOrder, wanted: list[str]) -> tuple[bool, str]:
    shared = [t for t in wanted if t in order.tags]
    if shared:
        return True, f"tags_any: {_codes(shared)} on order"
    return False, f"tags_any: none of {_codes(wanted)} on order"


def _tags_all(order: CanonicalOrder, wanted: list[str]) -> tuple[bool, str]:
    missing = [t for t in wanted if t not in order.tags]
    if missing:
        return False, f"tags_all: {_codes(missing)} missing from order"
    return True, f"tags_all: all of {_codes(wanted)} on order"


def _sku_prefix(order: CanonicalOrder, prefixes: list[str]) -> tuple[bool, str]:
    for line in order.lines:
        if not line.sku.startswith(tuple(prefixes)):
            return False, f"sku_prefix: SKU {line.sku} matches none of {_codes(prefixes)}"
    return True, f"sku_prefix: every SKU starts with one of {_codes(prefixes)}"


def _sku_in(order: CanonicalOrder, skus: list[str]) -> tuple[bool, str]:
    outside = [ln.sku for ln in order.lines if ln.sku not in skus]
    if outside:
        return False, f"sku_in: SKU {_codes(outside)} not in {_codes(skus)}"
    return True, "sku_in: every SKU listed"


def _same(a: object, b: object) -> bool:
    # True == 1 in Python; a rule asking for a boolean must get a boolean.
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else a == b


def _metadata(order: CanonicalOrder, wanted: dict[str, Any]) -> tuple[bool, str]:
    bad = []
    for key, value in wanted.items():
        if key not in order.metadata:
            bad.append(f"metadata.{key}: missing, want {value!r}")
        elif not _same(order.metadata[key], value):
            bad.append(f"metadata.{key}: {order.metadata[key]!r} != {value!r}")
    if bad:
        return False, "; ".join(bad)
    return True, "metadata: " + ", ".join(f"{k}={v!r}" for k, v in wanted.items())


CHECKS: dict[str, Check] = {
    "country": lambda o, w: _in_list("country", o.address.country_code, w),
    "region": lambda o, w: _in_list("region", o.address.region, w),
    "kind": lambda o, w: _in_list("kind", o.kind.value, [k.value for k in w]),
    "channel": lambda o, w: _in_list("channel", o.channel, w),
    "tags_any": _tags_any,
    "tags_all": _tags_all,
    "sku_prefix": _sku_prefix,
    "sku_in": _sku_in,
    "currency": lambda o, w: _in_list("currency", o.currency, w),
    "weight_g": lambda o, w: _range(
        "weight_g", o.total_weight_g(), w, _first_line_without(o, "weight_g")
    ),
    "lines": lambda o, w: _range("lines", len(o.lines), w, ""),
    "value": lambda o, w: _range("value", o.total_value(), w, _first_line_without(o, "unit_price")),
    "metadata": _metadata,
}
"""Condition name (a key of `when`) → its check. Order here is the order of the trace."""


def conditions_of(order: CanonicalOrder, when: Conditions) -> list[ConditionResult]:
    results = []
    for name, check in CHECKS.items():
        wanted = getattr(when, name)
        if wanted is not None:
            ok, detail = check(order, wanted)
            results.append(ConditionResult(name, ok, detail))
    return results


# candidates -------------------------------------------------------------------------------


def _needed(order: CanonicalOrder) -> Counter[str]:
    needed: Counter[str] = Counter()
    for line in order.lines:
        needed[line.sku] += line.quantity
    return needed


def _choose(
    order: CanonicalOrder,
    candidates: list[Candidate],
    *,
    stock_aware: bool,
    healthy: Callable[[str], bool],
    stock: Mapping[StockKey, StockSnapshot],
) -> tuple[int, bool, list[CandidateResult]]:
    """(chosen index, queued, per-candidate results)."""
    needed = _needed(order) if stock_aware else Counter()
    outcomes: list[CandidateResult] = []
    chosen: int | None = None
    for i, cand in enumerate(candidates):
        alive = healthy(cand.provider)
        if chosen is not None:
            outcomes.append(CandidateResult(i, cand.provider, cand.warehouse, alive, NOT_TRIED))
            continue
        if not alive:
            outcomes.append(CandidateResult(i, cand.provider, cand.warehouse, alive, SKIP_CIRCUIT))
            continue
        if not stock_aware:
            chosen = i
            outcomes.append(CandidateResult(i, cand.provider, cand.warehouse, alive, CHOSEN))
            continue
        snapshot = stock.get((cand.provider, cand.warehouse))
        if snapshot is None:
            outcomes.append(CandidateResult(i, cand.provider, cand.warehouse, alive, SKIP_UNKNOWN))
            continue
        held = {sku: int(snapshot.get(sku, 0)) for sku in needed}
        short = {
            sku: {"needed": n, "available": held[sku]} for sku, n in needed.items() if held[sku] < n
        }
        if short:
            outcomes.append(
                CandidateResult(
                    i, cand.provider, cand.warehouse, alive, SKIP_STOCK, stock=held, shortfall=short
                )
            )
            continue
        chosen = i
        outcomes.append(
            CandidateResult(i, cand.provider, cand.warehouse, alive, CHOSEN, stock=held)
        )
    if chosen is not None:
        return chosen, False, outcomes
    first_healthy = next((r.index for r in outcomes if r.healthy), None)
    if first_healthy is not None:
        return first_healthy, False, _relabel(outcomes, first_healthy, CHOSEN_NO_STOCK)
    return 0, True, _relabel(outcomes, 0, CHOSEN_QUEUED)


def _relabel(outcomes: list[CandidateResult], index: int, outcome: str) -> list[CandidateResult]:
    return [
        CandidateResult(r.index, r.provider, r.warehouse, r.healthy, outcome, r.stock, r.shortfall)
        if r.index == index
        else r
        for r in outcomes
    ]


# the entry point --------------------------------------------------------------------------


def route(
    order: CanonicalOrder,
    routing: RoutingSettings,
    *,
    healthy: Callable[[str], bool] = lambda _provider: True,
    stock: Mapping[StockKey, StockSnapshot] | None = None,
) -> RoutingResult:
    if order.routing is not None:
        pin = order.routing
        return RoutingResult(
            Decision("pinned", 0, pin.provider, pin.warehouse, queued=not healthy(pin.provider)),
            [],
        )
    snapshots = stock or {}
    trace: list[RuleTrace] = []
    for rule in routing.rules:
        conds = conditions_of(order, rule.when)
        if not all(c.ok for c in conds):
            trace.append(RuleTrace(rule.name, False, conds, []))
            continue
        index, queued, outcomes = _choose(
            order, rule.candidates, stock_aware=rule.stock_aware, healthy=healthy, stock=snapshots
        )
        trace.append(RuleTrace(rule.name, True, conds, outcomes))
        cand = rule.candidates[index]
        return RoutingResult(
            Decision(rule.name, index, cand.provider, cand.warehouse, queued), trace
        )
    default = routing.default
    if default is None:
        return RoutingResult(None, trace)
    _i, queued, outcomes = _choose(
        order, [default], stock_aware=False, healthy=healthy, stock=snapshots
    )
    trace.append(RuleTrace("default", True, [], outcomes))
    return RoutingResult(Decision("default", 0, default.provider, default.warehouse, queued), trace)


def stock_needs(routing: RoutingSettings, order: CanonicalOrder) -> list[StockKey]:
    """The (provider, warehouse) snapshots a stock-aware rule could consult for this order.

    Lets the caller fetch only what routing may read, before calling the pure `route`.
    """
    keys: list[StockKey] = []
    for rule in routing.rules:
        if rule.stock_aware and all(c.ok for c in conditions_of(order, rule.when)):
            keys = [(c.provider, c.warehouse) for c in rule.candidates]
            break
    return keys


def explain_json(result: RoutingResult) -> dict[str, Any]:
    """The routing result as plain JSON values (the body of `/v1/routing/explain`)."""
    d = result.decision
    return {
        "decision": None
        if d is None
        else {
            "rule": d.rule,
            "candidate": d.candidate,
            "provider": d.provider,
            "warehouse": d.warehouse,
            "queued": d.queued,
        },
        "reason": result.reason,
        "trace": [
            {
                "rule": t.rule,
                "matched": t.matched,
                "conditions": [
                    {"condition": c.condition, "ok": c.ok, "detail": c.detail} for c in t.conditions
                ],
                "candidates": [
                    {
                        "index": c.index,
                        "provider": c.provider,
                        "warehouse": c.warehouse,
                        "healthy": c.healthy,
                        "outcome": c.outcome,
                        "stock": c.stock,
                        "shortfall": c.shortfall,
                    }
                    for c in t.candidates
                ],
            }
            for t in result.trace
        ],
    }
