"""Routing rules, one condition at a time; candidate choice; the explain trace. Pure."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.model.orders import CanonicalOrder
from gateway.routing.evaluate import (
    CHOSEN_NO_STOCK,
    CHOSEN_QUEUED,
    SKIP_CIRCUIT,
    SKIP_STOCK,
    SKIP_UNKNOWN,
    explain_json,
    route,
    stock_needs,
)
from gateway.routing.rules import RoutingSettings

LT = {"provider": "logitrail", "warehouse": "FI-VANTAA"}
LE1 = {"provider": "logentic", "warehouse": "MTL"}
LE2 = {"provider": "logentic", "warehouse": "TOR"}


def make(**changes: Any) -> CanonicalOrder:
    body: dict[str, Any] = {
        "external_id": "R-1",
        "recipient": {"first_name": "A", "last_name": "B"},
        "address": {"line1": "x", "postal_code": "00100", "city": "Helsinki", "country_code": "FI"},
        "lines": [{"sku": "TS-M", "quantity": 2, "unit_price": "10.00", "weight_g": 200}],
    }
    address = changes.pop("address", {})
    body["address"].update(address)
    body.update(changes)
    return CanonicalOrder.model_validate(body)


def rules(*rule_list: dict[str, Any], default: dict[str, str] | None = None) -> RoutingSettings:
    data: dict[str, Any] = {"rules": list(rule_list)}
    if default is not None:
        data["default"] = default
    return RoutingSettings.model_validate(data)


def rule(name: str = "r", cands: list[dict[str, str]] | None = None, **when: Any) -> dict[str, Any]:
    return {"name": name, "when": when, "candidates": cands or [LT]}


def check(order: CanonicalOrder, **when: Any) -> tuple[bool, str]:
    """Route through one rule with these conditions: (matched, detail of the condition)."""
    result = route(order, rules(rule(**when)))
    [trace] = result.trace
    [cond] = trace.conditions
    return trace.matched, cond.detail


# conditions ---------------------------------------------------------------------------------


def test_country_matches_and_fails_with_values_in_detail() -> None:
    assert check(make(), country=["FI", "SE"])[0]
    ok, detail = check(make(), country=["SE", "NO"])
    assert not ok
    assert detail == "country FI not in [SE, NO]"


def test_single_value_form_of_a_list_condition() -> None:
    assert check(make(), country="FI")[0]


def test_region() -> None:
    assert check(make(address={"region": "Uusimaa"}), region=["Uusimaa"])[0]
    ok, detail = check(make(), region=["Uusimaa"])
    assert not ok
    assert "region not set" in detail


def test_kind() -> None:
    assert check(make(), kind="d2c")[0]
    assert not check(make(kind="b2b"), kind="d2c")[0]


def test_channel() -> None:
    assert check(make(channel="web-fi"), channel=["web-fi"])[0]
    assert not check(make(), channel=["web-fi"])[0]


def test_tags_any() -> None:
    assert check(make(tags=["vip", "x"]), tags_any=["vip", "b2b"])[0]
    ok, detail = check(make(tags=["x"]), tags_any=["vip", "b2b"])
    assert not ok
    assert detail == "tags_any: none of [vip, b2b] on order"


def test_tags_all() -> None:
    assert check(make(tags=["vip", "b2b", "x"]), tags_all=["vip", "b2b"])[0]
    ok, detail = check(make(tags=["vip"]), tags_all=["vip", "b2b"])
    assert not ok
    assert "[b2b] missing" in detail


def test_sku_prefix_must_hold_for_every_line() -> None:
    two = make(lines=[{"sku": "TS-M", "quantity": 1}, {"sku": "MUG-1", "quantity": 1}])
    assert check(two, sku_prefix=["TS-", "MUG-"])[0]
    ok, detail = check(two, sku_prefix=["TS-"])
    assert not ok
    assert "MUG-1" in detail


def test_sku_in_must_hold_for_every_line() -> None:
    two = make(lines=[{"sku": "A", "quantity": 1}, {"sku": "B", "quantity": 1}])
    assert check(two, sku_in=["A", "B", "C"])[0]
    ok, detail = check(two, sku_in=["A"])
    assert not ok
    assert "[B]" in detail


def test_currency() -> None:
    assert check(make(currency="EUR"), currency=["EUR"])[0]
    assert not check(make(currency="USD"), currency=["EUR"])[0]
    assert not check(make(), currency=["EUR"])[0]  # unknown currency never matches


@pytest.mark.parametrize(
    ("weight", "matched"),
    [(999, False), (1000, True), (3000, True), (3001, False)],
)
def test_weight_range_is_inclusive(weight: int, matched: bool) -> None:
    order = make(lines=[{"sku": "A", "quantity": 1, "weight_g": weight}])
    assert check(order, weight_g={"min": 1000, "max": 3000})[0] is matched


def test_weight_is_quantity_times_line_weight() -> None:
    order = make(
        lines=[
            {"sku": "A", "quantity": 3, "weight_g": 400},
            {"sku": "B", "quantity": 1, "weight_g": 100},
        ]
    )
    ok, detail = check(order, weight_g={"max": 1200})
    assert not ok
    assert detail == "weight_g 1300 above max 1200"


def test_unknown_weight_fails_the_condition() -> None:
    order = make(lines=[{"sku": "A", "quantity": 1}])
    ok, detail = check(order, weight_g={"max": 1000})
    assert not ok
    assert "unknown" in detail
    assert "line A has no weight_g" in detail


@pytest.mark.parametrize(("count", "matched"), [(1, False), (2, True), (3, True), (4, False)])
def test_lines_range(count: int, matched: bool) -> None:
    order = make(lines=[{"sku": f"S{i}", "quantity": 1} for i in range(count)])
    assert check(order, lines={"min": 2, "max": 3})[0] is matched


@pytest.mark.parametrize(
    ("price", "matched"), [("49.99", False), ("50.00", True), ("100.00", True), ("100.01", False)]
)
def test_value_range_uses_exact_decimals(price: str, matched: bool) -> None:
    order = make(lines=[{"sku": "A", "quantity": 1, "unit_price": price}])
    assert check(order, value={"min": "50.00", "max": 100})[0] is matched


def test_unknown_value_fails() -> None:
    order = make(lines=[{"sku": "A", "quantity": 1}])
    assert not check(order, value={"min": 1})[0]


def test_metadata_equality() -> None:
    order = make(metadata={"cart": "c-77", "gift": True, "n": 1})
    assert check(order, metadata={"cart": "c-77", "gift": True})[0]
    ok, detail = check(order, metadata={"cart": "c-1"})
    assert not ok
    assert detail == "metadata.cart: 'c-77' != 'c-1'"
    assert not check(order, metadata={"missing": "x"})[0]


def test_metadata_bool_is_not_an_int() -> None:
    assert not check(make(metadata={"n": 1}), metadata={"n": True})[0]
    assert not check(make(metadata={"gift": True}), metadata={"gift": 1})[0]


def test_empty_when_always_matches() -> None:
    result = route(make(), rules({"name": "all", "candidates": [LT]}))
    assert result.decision is not None
    assert result.decision.rule == "all"


def test_every_failing_condition_of_a_rule_is_reported() -> None:
    result = route(make(currency="USD"), rules(rule(country=["SE"], currency=["EUR"], kind="b2b")))
    [trace] = result.trace
    assert [(c.condition, c.ok) for c in trace.conditions] == [
        ("country", False),
        ("kind", False),
        ("currency", False),
    ]


# rule order, default, unroutable -------------------------------------------------------------


def test_first_matching_rule_wins_and_later_rules_are_not_evaluated() -> None:
    settings = rules(rule("sweden", country="SE"), rule("finland", country="FI"), rule("anything"))
    result = route(make(), settings)
    assert result.decision is not None
    assert result.decision.rule == "finland"
    assert [t.rule for t in result.trace] == ["sweden", "finland"]


def test_default_takes_what_no_rule_matched() -> None:
    result = route(make(), rules(rule("se", country="SE"), default=LE1))
    assert result.decision is not None
    assert (result.decision.rule, result.decision.provider) == ("default", "logentic")
    assert [t.rule for t in result.trace] == ["se", "default"]


def test_unroutable_without_default_lists_every_rule() -> None:
    result = route(make(), rules(rule("se", country="SE"), rule("eur", currency="EUR")))
    assert result.decision is None
    assert result.reason is not None
    assert "2 rule(s)" in result.reason
    assert [t.matched for t in result.trace] == [False, False]
    assert result.trace[0].conditions[0].detail == "country FI not in [SE]"


def test_no_rules_at_all() -> None:
    result = route(make(), rules())
    assert result.decision is None
    assert result.reason is not None


# candidates ----------------------------------------------------------------------------------


def test_unhealthy_first_candidate_is_skipped() -> None:
    result = route(make(), rules(rule(cands=[LT, LE1])), healthy=lambda p: p != "logitrail")
    assert result.decision is not None
    assert (result.decision.provider, result.decision.candidate) == ("logentic", 1)
    assert result.decision.queued is False
    assert result.trace[0].candidates[0].outcome == SKIP_CIRCUIT


def test_no_healthy_candidate_queues_for_the_first() -> None:
    result = route(make(), rules(rule(cands=[LT, LE1])), healthy=lambda _p: False)
    assert result.decision is not None
    assert (result.decision.candidate, result.decision.queued) == (0, True)
    assert result.trace[0].candidates[0].outcome == CHOSEN_QUEUED


def test_unhealthy_default_is_queued() -> None:
    result = route(make(), rules(default=LT), healthy=lambda _p: False)
    assert result.decision is not None
    assert result.decision.queued is True


def _stock_rule() -> RoutingSettings:
    return rules({"name": "ca", "stock_aware": True, "candidates": [LE1, LE2]})


def test_stock_aware_skips_a_warehouse_that_is_short() -> None:
    order = make(lines=[{"sku": "A", "quantity": 2}, {"sku": "B", "quantity": 1}])
    stock = {("logentic", "MTL"): {"A": 1, "B": 5}, ("logentic", "TOR"): {"A": 2, "B": 1}}
    result = route(order, _stock_rule(), stock=stock)
    assert result.decision is not None
    assert result.decision.warehouse == "TOR"
    first = result.trace[0].candidates[0]
    assert first.outcome == SKIP_STOCK
    assert first.shortfall == {"A": {"needed": 2, "available": 1}}
    assert result.trace[0].candidates[1].stock == {"A": 2, "B": 1}


def test_stock_needs_sum_repeated_skus() -> None:
    order = make(lines=[{"sku": "A", "quantity": 2}, {"sku": "A", "quantity": 2}])
    stock = {("logentic", "MTL"): {"A": 3}, ("logentic", "TOR"): {"A": 4}}
    result = route(order, _stock_rule(), stock=stock)
    assert result.decision is not None
    assert result.decision.warehouse == "TOR"


def test_sku_missing_from_snapshot_counts_as_zero() -> None:
    stock = {("logentic", "MTL"): {}, ("logentic", "TOR"): {"TS-M": 9}}
    result = route(make(), _stock_rule(), stock=stock)
    assert result.decision is not None
    assert result.decision.warehouse == "TOR"


def test_candidate_without_snapshot_is_stock_unknown() -> None:
    stock = {("logentic", "TOR"): {"TS-M": 9}}
    result = route(make(), _stock_rule(), stock=stock)
    assert result.decision is not None
    assert result.decision.warehouse == "TOR"
    assert result.trace[0].candidates[0].outcome == SKIP_UNKNOWN


def test_nobody_holds_stock_takes_the_first_healthy() -> None:
    stock = {("logentic", "MTL"): {"TS-M": 0}, ("logentic", "TOR"): {"TS-M": 1}}
    result = route(make(), _stock_rule(), stock=stock, healthy=lambda _p: True)
    assert result.decision is not None
    assert (result.decision.warehouse, result.decision.queued) == ("MTL", False)
    assert result.trace[0].candidates[0].outcome == CHOSEN_NO_STOCK


def test_stock_is_ignored_when_the_rule_is_not_stock_aware() -> None:
    stock = {("logentic", "MTL"): {"TS-M": 0}}
    result = route(make(), rules(rule(cands=[LE1, LE2])), stock=stock)
    assert result.decision is not None
    assert result.decision.warehouse == "MTL"


def test_stock_needs_names_the_candidates_of_the_matching_stock_rule() -> None:
    settings = rules(
        rule("se", country="SE"), {"name": "ca", "stock_aware": True, "candidates": [LE1, LE2]}
    )
    assert stock_needs(settings, make()) == [("logentic", "MTL"), ("logentic", "TOR")]
    assert stock_needs(rules(rule()), make()) == []


# pin and explain -----------------------------------------------------------------------------


def test_pinned_order_skips_rules() -> None:
    order = make(routing={"provider": "logentic", "warehouse": "TOR"})
    result = route(order, rules(rule(country="FI")))
    assert result.decision is not None
    assert (result.decision.rule, result.decision.warehouse) == ("pinned", "TOR")
    assert result.trace == []


def test_explain_json_is_plain_json_and_round_trips() -> None:
    order = make(lines=[{"sku": "A", "quantity": 2}])
    stock = {("logentic", "MTL"): {"A": 1}, ("logentic", "TOR"): {"A": 5}}
    result = route(
        order,
        rules(
            rule("se", country="SE"), {"name": "ca", "stock_aware": True, "candidates": [LE1, LE2]}
        ),
        stock=stock,
    )
    data = orjson.loads(orjson.dumps(explain_json(result)))
    assert data["decision"] == {
        "rule": "ca",
        "candidate": 1,
        "provider": "logentic",
        "warehouse": "TOR",
        "queued": False,
    }
    assert data["reason"] is None
    assert data["trace"][0]["matched"] is False
    assert data["trace"][1]["candidates"][0]["shortfall"] == {"A": {"needed": 2, "available": 1}}
