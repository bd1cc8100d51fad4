"""The split planner's contract (`gateway.routing.split`), as properties over random orders,
candidates, health and stock, checked against a brute-force oracle written independently."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.routing import Candidate
from gateway.routing.split import PartLine, SplitPlan, plan_split

SKUS = ["A", "B", "C", "D"]
PLACES = [("logentic", "MTL"), ("logentic", "TOR"), ("flexport", "auto"), ("logitrail", "FI")]


def _cands(*places: tuple[str, str]) -> list[Candidate]:
    return [Candidate(provider=p, warehouse=w) for p, w in places]


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, object]:
    lines = draw(
        st.lists(st.tuples(st.sampled_from(SKUS), st.integers(1, 6)), min_size=1, max_size=5)
    )
    places = draw(st.lists(st.sampled_from(PLACES), min_size=1, max_size=4, unique=True))
    down = draw(st.sets(st.sampled_from(sorted({p for p, _ in places}))))
    stock = {
        place: draw(st.dictionaries(st.sampled_from(SKUS), st.integers(0, 8), max_size=4))
        for place in places
        if draw(st.booleans()) or draw(st.booleans())  # now and then a warehouse without one
    }
    return {
        "lines": lines,
        "candidates": _cands(*places),
        "down": down,
        "stock": stock,
        "max_parts": draw(st.integers(1, 4)),
    }


def _plan(s: Mapping[str, object]) -> SplitPlan | None:
    down = s["down"]
    assert isinstance(down, set)
    return plan_split(
        s["lines"],  # type: ignore[arg-type]
        s["candidates"],  # type: ignore[arg-type]
        healthy=lambda provider: provider not in down,
        stock=s["stock"],  # type: ignore[arg-type]
        max_parts=s["max_parts"],  # type: ignore[arg-type]
    )


def _oracle(s: Mapping[str, object]) -> tuple[int, int]:
    """(most units any allowed plan holds on stock, fewest parts such a plan needs), by trying
    every set of healthy, stocked candidates."""
    cands: Sequence[Candidate] = s["candidates"]  # type: ignore[assignment]
    stock: Mapping[tuple[str, str], Mapping[str, int]] = s["stock"]  # type: ignore[assignment]
    down: set[str] = s["down"]  # type: ignore[assignment]
    max_parts: int = s["max_parts"]  # type: ignore[assignment]
    need: Counter[str] = Counter()
    for sku, qty in s["lines"]:  # type: ignore[attr-defined]
        need[sku] += qty
    live = [i for i, c in enumerate(cands) if c.provider not in down]
    usable = [i for i in live if (cands[i].provider, cands[i].warehouse) in stock]
    best = (-1, 0)
    for mask in range(1 << len(usable)):
        members = [usable[b] for b in range(len(usable)) if mask >> b & 1]
        held = 0
        for sku, n in need.items():
            have = sum(stock[(cands[i].provider, cands[i].warehouse)].get(sku, 0) for i in members)
            held += min(n, have)
        parts = len(members)
        if held < sum(need.values()) and live[0] not in members:
            parts += 1
        if parts <= max_parts and (held, -parts) > best:
            best = (held, -parts)
    return best[0], -best[1]


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_the_plan_keeps_every_promise(s: dict[str, object]) -> None:
    plan = _plan(s)
    cands: list[Candidate] = s["candidates"]  # type: ignore[assignment]
    down: set[str] = s["down"]  # type: ignore[assignment]
    lines: list[tuple[str, int]] = s["lines"]  # type: ignore[assignment]
    stock: Mapping[tuple[str, str], Mapping[str, int]] = s["stock"]  # type: ignore[assignment]
    if all(c.provider in down for c in cands):
        assert plan is None
        return
    assert plan is not None
    parts = plan.parts
    # Every unit of every line is in exactly one part.
    shipped: Counter[int] = Counter()
    for part in parts:
        for pl in part.lines:
            assert pl.sku == lines[pl.line][0]
            shipped[pl.line] += pl.quantity
    assert shipped == Counter({i: qty for i, (_, qty) in enumerate(lines)})
    # At most max_parts parts, each a distinct healthy candidate, numbered in rule order.
    assert 1 <= len(parts) <= s["max_parts"]  # type: ignore[operator]
    assert [p.part for p in parts] == list(range(1, len(parts) + 1))
    assert [p.candidate for p in parts] == sorted({p.candidate for p in parts})
    assert all(cands[p.candidate].provider not in down for p in parts)
    # No part takes more than its stock, except the back-order, which only the first healthy
    # candidate carries.
    first_healthy = next(i for i, c in enumerate(cands) if c.provider not in down)
    for part in parts:
        units: Counter[str] = Counter()
        for pl in part.lines:
            units[pl.sku] += pl.quantity
        snapshot = stock.get((part.provider, part.warehouse), {})
        for sku, n in units.items():
            assert part.stock.get(sku, 0) + part.backorder.get(sku, 0) == n
            assert part.stock.get(sku, 0) <= snapshot.get(sku, 0)
        if part.backorder:
            assert part.candidate == first_healthy
    # The most units held on stock, with the fewest parts that do it.
    held = sum(sum(p.stock.values()) for p in parts)
    assert (held, len(parts)) == _oracle(s)
    # Deterministic.
    assert _plan(s) == plan


def test_an_order_two_warehouses_share_is_split_between_them() -> None:
    cands = _cands(("logentic", "MTL"), ("logentic", "TOR"))
    stock = {("logentic", "MTL"): {"A": 2, "B": 1}, ("logentic", "TOR"): {"A": 5}}
    plan = plan_split([("A", 3), ("B", 1)], cands, healthy=lambda _: True, stock=stock, max_parts=3)
    assert plan is not None
    assert plan.complete
    assert [(p.warehouse, p.lines) for p in plan.parts] == [
        ("MTL", (PartLine(0, "A", 2), PartLine(1, "B", 1))),
        ("TOR", (PartLine(0, "A", 1),)),
    ]


def test_one_warehouse_that_holds_everything_beats_two_earlier_ones() -> None:
    cands = _cands(("logentic", "MTL"), ("logentic", "TOR"), ("flexport", "auto"))
    stock = {
        ("logentic", "MTL"): {"A": 1},
        ("logentic", "TOR"): {"B": 1},
        ("flexport", "auto"): {"A": 1, "B": 1},
    }
    plan = plan_split([("A", 1), ("B", 1)], cands, healthy=lambda _: True, stock=stock, max_parts=3)
    assert plan is not None
    assert [p.provider for p in plan.parts] == ["flexport"]


def test_what_nobody_holds_is_back_ordered_at_the_first_healthy_candidate() -> None:
    cands = _cands(("logitrail", "FI"), ("logentic", "MTL"), ("logentic", "TOR"))
    stock = {("logentic", "MTL"): {"A": 1}, ("logentic", "TOR"): {"B": 2}}
    plan = plan_split(
        [("A", 2), ("B", 1)],
        cands,
        healthy=lambda provider: provider != "logitrail",
        stock=stock,
        max_parts=2,
    )
    assert plan is not None
    assert not plan.complete
    assert [(p.warehouse, p.stock, p.backorder) for p in plan.parts] == [
        ("MTL", {"A": 1}, {"A": 1}),
        ("TOR", {"B": 1}, {}),
    ]


def test_no_healthy_candidate_means_no_plan() -> None:
    cands = _cands(("logentic", "MTL"))
    assert plan_split([("A", 1)], cands, healthy=lambda _: False, stock={}, max_parts=3) is None


def test_max_parts_below_one_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="max_parts"):
        plan_split([("A", 1)], _cands(("logentic", "MTL")), healthy=bool, stock={}, max_parts=0)
