"""Split fulfilment: plan the parts of an order that no single warehouse holds. Pure, no I/O.

Contract (property-tested in `tests/unit/test_split_plan.py`):

- A part is one candidate of the rule (provider + warehouse) and the units of each order line
  it ships; a line's quantity may be spread over several parts.
- Only healthy candidates with a stock snapshot are planned on. The fewest parts that hold
  every unit win; among plans of as many parts, the one whose candidates come first in the
  rule. At most `max_parts` parts.
- When no such plan holds everything, the plan that holds the most units does (then the fewest
  parts, then rule order), and what it does not hold — the back-order — goes to the first
  healthy candidate of the rule, inside that candidate's part (a part of its own when the plan
  did not include it, still within `max_parts`).
- No part takes more of a SKU than its snapshot said it has, except the back-order.
- Same inputs, same plan. No healthy candidate → no plan (the caller queues the order).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

from gateway.model.orders import StockSnapshot
from gateway.routing.rules import Candidate

StockKey = tuple[str, str]
"""(provider, warehouse)"""


@dataclass(frozen=True, slots=True)
class PartLine:
    line: int
    """Index of the order line this comes from."""
    sku: str
    quantity: int


@dataclass(frozen=True, slots=True)
class PlannedPart:
    part: int
    """1, 2, … in the rule's candidate order."""
    candidate: int
    """Index of the candidate in the rule."""
    provider: str
    warehouse: str
    lines: tuple[PartLine, ...]
    stock: dict[str, int]
    """Units of each SKU this part ships that the snapshot said the warehouse held."""
    backorder: dict[str, int]
    """Units of each SKU this part ships beyond its stock (only in the back-order part)."""


@dataclass(frozen=True, slots=True)
class SplitPlan:
    parts: tuple[PlannedPart, ...]

    @property
    def complete(self) -> bool:
        """Every unit is planned on stock (nothing back-ordered)."""
        return not any(part.backorder for part in self.parts)


@dataclass(frozen=True, slots=True)
class _Option:
    index: int
    snapshot: StockSnapshot


def _demand(lines: Sequence[tuple[str, int]]) -> Counter[str]:
    needed: Counter[str] = Counter()
    for sku, quantity in lines:
        needed[sku] += quantity
    return needed


def _held(options: Sequence[_Option], needed: Mapping[str, int]) -> int:
    """Units of the order these warehouses can ship between them."""
    return sum(
        min(units, sum(max(o.snapshot.get(sku, 0), 0) for o in options))
        for sku, units in needed.items()
    )


def _choose(
    options: Sequence[_Option], needed: Mapping[str, int], backorder_to: int, max_parts: int
) -> tuple[_Option, ...]:
    total = sum(needed.values())
    # combinations() yields in rule order: the first plan of a size is the preferred one.
    for size in range(1, max_parts + 1):
        for chosen in combinations(options, size):
            if _held(chosen, needed) == total:
                return chosen
    # Nothing within max_parts holds it all: the most units held, the back-order candidate
    # counted as a part when it is not among them.
    best: tuple[tuple[int, int], tuple[_Option, ...]] = ((-1, 0), ())
    for size in range(max_parts + 1):
        for chosen in combinations(options, size):
            parts = size + (0 if any(o.index == backorder_to for o in chosen) else 1)
            score = (_held(chosen, needed), -parts)
            if parts <= max_parts and score > best[0]:
                best = (score, chosen)
    return best[1]


def plan_split(
    lines: Sequence[tuple[str, int]],
    candidates: Sequence[Candidate],
    *,
    healthy: Callable[[str], bool],
    stock: Mapping[StockKey, StockSnapshot],
    max_parts: int,
) -> SplitPlan | None:
    """Parts for `lines` (each `(sku, quantity)`, in order) over the rule's `candidates`."""
    if max_parts < 1:
        raise ValueError("max_parts must be at least 1")
    live = [i for i, cand in enumerate(candidates) if healthy(cand.provider)]
    if not live:
        return None
    backorder_to = live[0]
    options = [
        _Option(i, snapshot)
        for i in live
        if (snapshot := stock.get((candidates[i].provider, candidates[i].warehouse))) is not None
    ]
    needed = _demand(lines)
    chosen = _choose(options, needed, backorder_to, max_parts)
    # Per SKU, fill from the chosen warehouses in rule order; the rest is back-ordered.
    taken: dict[int, Counter[str]] = {o.index: Counter() for o in chosen}
    taken.setdefault(backorder_to, Counter())
    backorder: Counter[str] = Counter()
    for sku, units in needed.items():
        left = units
        for option in chosen:
            take = min(left, max(option.snapshot.get(sku, 0), 0))
            if take:
                taken[option.index][sku] += take
                left -= take
        if left:
            backorder[sku] += left
            taken[backorder_to][sku] += left
    return SplitPlan(_parts(lines, candidates, taken, backorder_to, backorder))


def _parts(
    lines: Sequence[tuple[str, int]],
    candidates: Sequence[Candidate],
    taken: Mapping[int, Counter[str]],
    backorder_to: int,
    backorder: Counter[str],
) -> tuple[PlannedPart, ...]:
    """Spread each warehouse's units of a SKU over the order's lines of that SKU, in order."""
    left = {index: Counter(units) for index, units in taken.items()}
    per_part: dict[int, list[PartLine]] = {index: [] for index in taken}
    for line_no, (sku, quantity) in enumerate(lines):
        rest = quantity
        for index in sorted(left):
            take = min(rest, left[index][sku])
            if take:
                per_part[index].append(PartLine(line_no, sku, take))
                left[index][sku] -= take
                rest -= take
    parts = []
    for number, index in enumerate(i for i in sorted(per_part) if per_part[i]):
        short = dict(backorder) if index == backorder_to else {}
        on_stock = {sku: units - short.get(sku, 0) for sku, units in taken[index].items()}
        cand = candidates[index]
        parts.append(
            PlannedPart(
                number + 1,
                index,
                cand.provider,
                cand.warehouse,
                tuple(per_part[index]),
                {sku: units for sku, units in on_stock.items() if units},
                short,
            )
        )
    return tuple(parts)
