"""Routing with `split = true`: the plan is the decision when no candidate holds every line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from gateway.routing import (
    CHOSEN,
    CHOSEN_NO_STOCK,
    SKIP_CIRCUIT,
    SKIP_UNKNOWN,
    RoutingSettings,
    explain_json,
)
from gateway.routing import route as route_order
from gateway.routing.explanation import RoutingExplanation
from tests.unit.test_config import _check
from tests.unit.test_routing import FLEXPORT, MONTREAL, TORONTO, lines, make_order, settings

STOCK = {("logentic", "MTL"): {"A": 2, "B": 0}, ("logentic", "TOR"): {"A": 0, "B": 3}}


def split_rule(**extra: Any) -> dict[str, Any]:
    return {
        "name": "ca",
        "when": {},
        "candidates": [MONTREAL, TORONTO, FLEXPORT],
        "stock_aware": True,
        "split": True,
    } | extra


def test_split_key_without_stock_aware_is_refused() -> None:
    with pytest.raises(ValidationError, match="split = true needs stock_aware"):
        settings(split_rule(stock_aware=False))


@pytest.mark.parametrize("max_parts", [0, 11])
def test_max_parts_is_between_one_and_ten(max_parts: int) -> None:
    with pytest.raises(ValidationError, match="max_parts"):
        settings(split_rule(max_parts=max_parts))


def test_defaults_are_no_split_and_three_parts() -> None:
    [rule] = settings({"name": "r", "candidates": [MONTREAL]}).rules
    assert (rule.split, rule.max_parts) == (False, 3)


def test_order_no_warehouse_holds_is_split_over_those_that_hold_it() -> None:
    order = make_order(lines=lines(("A", 2), ("B", 3)))
    result = route_order(order, settings(split_rule()), stock=STOCK)
    decision = result.decision
    assert decision is not None
    assert (decision.candidate, decision.provider, decision.warehouse) == (0, "logentic", "MTL")
    assert not decision.queued
    shape = [
        (p.part, p.warehouse, [(x.sku, x.quantity) for x in p.lines], p.stock, p.backorder)
        for p in decision.parts
    ]
    assert shape == [
        (1, "MTL", [("A", 2)], {"A": 2}, {}),
        (2, "TOR", [("B", 3)], {"B": 3}, {}),
    ]
    outcomes = [c.outcome for c in result.trace[0].candidates]
    assert outcomes == ["chosen: part 1 of a split", "chosen: part 2 of a split", SKIP_UNKNOWN]


def test_order_one_warehouse_holds_is_not_split() -> None:
    order = make_order(lines=lines(("A", 2)))
    result = route_order(order, settings(split_rule()), stock=STOCK)
    assert result.decision is not None
    assert (result.decision.warehouse, result.decision.parts) == ("MTL", ())
    assert result.trace[0].candidates[0].outcome == CHOSEN


def test_without_the_split_key_the_first_healthy_candidate_back_orders_the_lot() -> None:
    order = make_order(lines=lines(("A", 2), ("B", 3)))
    result = route_order(order, settings(split_rule(split=False)), stock=STOCK)
    assert result.decision is not None
    assert (result.decision.warehouse, result.decision.parts) == ("MTL", ())
    assert result.trace[0].candidates[0].outcome == CHOSEN_NO_STOCK


def test_a_plan_of_one_part_is_the_back_order_fallback() -> None:
    # Nothing held anywhere: one part at the first healthy candidate, i.e. no split.
    order = make_order(lines=lines(("Z", 1)))
    result = route_order(order, settings(split_rule()), stock=STOCK)
    assert result.decision is not None
    assert (result.decision.warehouse, result.decision.parts) == ("MTL", ())
    assert result.trace[0].candidates[0].outcome == CHOSEN_NO_STOCK


def test_unhealthy_candidates_are_not_planned_on() -> None:
    order = make_order(lines=lines(("A", 2), ("B", 3)))
    stock = STOCK | {("flexport", "auto"): {"A": 2}}
    result = route_order(
        order, settings(split_rule()), stock=stock, healthy=lambda p: p != "logentic"
    )
    assert result.decision is not None
    assert (result.decision.provider, result.decision.parts) == ("flexport", ())
    outcomes = [c.outcome for c in result.trace[0].candidates]
    assert outcomes[:2] == [SKIP_CIRCUIT, SKIP_CIRCUIT]


def test_max_parts_bounds_the_plan_and_the_rest_is_back_ordered() -> None:
    order = make_order(lines=lines(("A", 2), ("B", 3), ("C", 1)))
    stock = STOCK | {("flexport", "auto"): {"C": 1}}
    result = route_order(order, settings(split_rule(max_parts=2)), stock=stock)
    assert result.decision is not None
    shape = [(p.warehouse, p.stock, p.backorder) for p in result.decision.parts]
    # Three warehouses would hold it all; two hold the most units, C is back-ordered at the
    # first healthy candidate inside its part.
    assert shape == [("MTL", {"A": 2}, {"C": 1}), ("TOR", {"B": 3}, {})]


def test_explain_shows_the_parts_their_lines_and_stock() -> None:
    order = make_order(lines=lines(("A", 2), ("B", 3)))
    result = route_order(order, settings(split_rule()), stock=STOCK)
    data = orjson.loads(orjson.dumps(explain_json(result)))
    parts = data["decision"]["parts"]
    assert [(p["part"], p["provider"], p["warehouse"]) for p in parts] == [
        (1, "logentic", "MTL"),
        (2, "logentic", "TOR"),
    ]
    assert parts[1]["lines"] == [{"line": 1, "sku": "B", "quantity": 3}]
    assert (parts[1]["stock"], parts[1]["backorder"]) == ({"B": 3}, {})
    # The view the API answers with accepts it as it is.
    view = RoutingExplanation.model_validate(data | {"hold": None, "holds": []})
    assert view.decision is not None
    assert len(view.decision.parts) == 2


def test_a_non_split_decision_explains_an_empty_parts_list() -> None:
    order = make_order(lines=lines(("A", 1)))
    data = explain_json(route_order(order, RoutingSettings(), stock=STOCK))
    assert data["decision"] is None
    result = route_order(order, settings(split_rule()), stock=STOCK)
    assert orjson.loads(orjson.dumps(explain_json(result)))["decision"]["parts"] == []


def test_check_config_names_a_split_rule_that_is_not_stock_aware(tmp_path: Path) -> None:
    path = tmp_path / "g.toml"
    path.write_text(
        '[[clients]]\nid = "a"\nkey_env = "K"\n\n'
        '[[routing.rules]]\nname = "ca"\nsplit = true\n'
        'candidates = [{ provider = "logentic", warehouse = "MTL" }]\n'
    )
    result = _check(path, {"K": "x"})
    assert result.returncode == 1
    [line] = [line for line in result.stdout.splitlines() if line.startswith("file:")]
    assert line.startswith("file: routing.rules.0:")
    assert "split = true needs stock_aware" in line
