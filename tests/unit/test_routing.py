"""Routing: each condition, rule order, default, candidates, stock, pin, explain."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.model.orders import CanonicalOrder
from gateway.routing import (
    CHOSEN,
    CHOSEN_NO_STOCK,
    CHOSEN_QUEUED,
    NOT_TRIED,
    SKIP_CIRCUIT,
    SKIP_STOCK,
    SKIP_UNKNOWN,
    ConditionResult,
    RoutingResult,
    RoutingSettings,
    explain_json,
    route,
    stock_needs,
)

LOGITRAIL = {"provider": "logitrail", "warehouse": "FI-VANTAA"}
MONTREAL = {"provider": "logentic", "warehouse": "MTL"}
TORONTO = {"provider": "logentic", "warehouse": "TOR"}
FLEXPORT = {"provider": "flexport", "warehouse": "auto"}


def make_order(**changes: Any) -> CanonicalOrder:
    """A valid Finnish order of 2 × TS-M (10.00, 200 g); `address` changes are merged."""
    body: dict[str, Any] = {
        "external_id": "R-1",
        "recipient": {"first_name": "Aino", "last_name": "Virtanen"},
        "address": {
            "line1": "Mannerheimintie 1",
            "postal_code": "00100",
            "city": "Helsinki",
            "country_code": "FI",
        },
        "lines": [{"sku": "TS-M", "quantity": 2, "unit_price": "10.00", "weight_g": 200}],
    }
    body["address"].update(changes.pop("address", {}))
    body.update(changes)
    return CanonicalOrder.model_validate(body)


def lines(*items: tuple[str, int]) -> list[dict[str, Any]]:
    return [{"sku": sku, "quantity": quantity} for sku, quantity in items]


def settings(*rules: dict[str, Any], default: dict[str, str] | None = None) -> RoutingSettings:
    """Routing settings as the TOML file would give them."""
    data: dict[str, Any] = {"rules": list(rules)}
    if default is not None:
        data["default"] = default
    return RoutingSettings.model_validate(data)


def rule(
    name: str = "r",
    candidates: list[dict[str, str]] | None = None,
    *,
    stock_aware: bool = False,
    **when: Any,
) -> dict[str, Any]:
    return {
        "name": name,
        "when": when,
        "candidates": candidates or [LOGITRAIL],
        "stock_aware": stock_aware,
    }


def condition(order: CanonicalOrder, **when: Any) -> ConditionResult:
    """Route through one rule with one condition; that condition's result.

    Also checks that the rule matched exactly when its only condition held.
    """
    result = route(order, settings(rule(**when)))
    [trace] = result.trace
    [only] = trace.conditions
    assert trace.matched is only.ok
    assert (result.decision is not None) is only.ok
    return only


def decided(result: RoutingResult) -> tuple[str, int, str, str, bool]:
    assert result.decision is not None, result.reason
    d = result.decision
    return d.rule, d.candidate, d.provider, d.warehouse, d.queued


def outcomes(result: RoutingResult) -> list[str]:
    return [c.outcome for c in result.trace[-1].candidates]


# list conditions ------------------------------------------------------------------------------


def test_country_in_list_matches() -> None:
    assert condition(make_order(), country=["SE", "FI"]) == ConditionResult(
        "country", True, "country FI in [SE, FI]"
    )


def test_country_not_in_list_fails_naming_both() -> None:
    result = condition(make_order(), country=["SE", "NO"])
    assert not result.ok
    assert result.detail == "country FI not in [SE, NO]"


def test_single_string_form_of_a_list_condition() -> None:
    assert condition(make_order(), country="FI").ok
    assert condition(make_order(kind="b2b"), kind="b2b").ok
    assert not condition(make_order(), tags_any="vip").ok


def test_region_in_list_matches() -> None:
    assert condition(make_order(address={"region": "Uusimaa"}), region=["Uusimaa", "Pirkanmaa"]).ok


def test_region_not_in_list_fails() -> None:
    result = condition(make_order(address={"region": "Lappi"}), region=["Uusimaa"])
    assert not result.ok
    assert result.detail == "region Lappi not in [Uusimaa]"


def test_missing_region_fails() -> None:
    result = condition(make_order(), region=["Uusimaa"])
    assert not result.ok
    assert result.detail == "region not set on order; rule wants one of [Uusimaa]"


def test_kind_matches_and_fails() -> None:
    assert condition(make_order(), kind=["d2c"]).ok  # d2c is the default kind
    result = condition(make_order(kind="b2b"), kind=["d2c"])
    assert not result.ok
    assert result.detail == "kind b2b not in [d2c]"


def test_channel_matches_and_fails() -> None:
    assert condition(make_order(channel="web-fi"), channel=["web-fi", "pos"]).ok
    result = condition(make_order(channel="pos"), channel=["web-fi"])
    assert not result.ok
    assert result.detail == "channel pos not in [web-fi]"


def test_missing_channel_fails() -> None:
    result = condition(make_order(), channel=["web-fi"])
    assert not result.ok
    assert "channel not set" in result.detail


def test_currency_matches_and_fails() -> None:
    assert condition(make_order(currency="EUR"), currency=["EUR", "SEK"]).ok
    result = condition(make_order(currency="USD"), currency=["EUR"])
    assert not result.ok
    assert result.detail == "currency USD not in [EUR]"


def test_missing_currency_fails() -> None:
    result = condition(make_order(), currency=["EUR"])
    assert not result.ok
    assert "currency not set" in result.detail


# tags and SKUs --------------------------------------------------------------------------------


def test_tags_any_needs_one_shared_tag() -> None:
    result = condition(make_order(tags=["gift", "b2b"]), tags_any=["vip", "b2b"])
    assert result.ok
    assert result.detail == "tags_any: [b2b] on order"


def test_tags_any_fails_without_a_shared_tag() -> None:
    result = condition(make_order(tags=["gift"]), tags_any=["vip", "b2b"])
    assert not result.ok
    assert result.detail == "tags_any: none of [vip, b2b] on order"


def test_tags_all_needs_every_tag() -> None:
    assert condition(make_order(tags=["b2b", "gift", "vip"]), tags_all=["vip", "b2b"]).ok


def test_tags_all_fails_naming_the_missing_tag() -> None:
    result = condition(make_order(tags=["vip"]), tags_all=["vip", "b2b"])
    assert not result.ok
    assert result.detail.startswith("tags_all: [b2b] not on order")


def test_sku_prefix_holds_when_every_line_has_a_listed_prefix() -> None:
    order = make_order(lines=lines(("TS-M", 1), ("MUG-1", 1)))
    assert condition(order, sku_prefix=["TS-", "MUG-"]).ok


def test_sku_prefix_fails_when_one_line_has_none() -> None:
    order = make_order(lines=lines(("TS-M", 1), ("ABC-1", 1), ("TS-L", 1)))
    result = condition(order, sku_prefix=["TS-"])
    assert not result.ok
    assert result.detail == "sku_prefix: SKU ABC-1 matches none of [TS-]"


def test_sku_in_holds_when_every_line_is_listed() -> None:
    order = make_order(lines=lines(("A", 1), ("B", 1), ("A", 2)))
    assert condition(order, sku_in=["A", "B", "C"]).ok


def test_sku_in_fails_when_one_line_is_not_listed() -> None:
    order = make_order(lines=lines(("A", 1), ("B", 1)))
    result = condition(order, sku_in=["A", "C"])
    assert not result.ok
    assert result.detail == "sku_in: SKU B not in [A, C]"


# ranges ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weight", "ok", "detail"),
    [
        (999, False, "weight_g 999 below min 1000"),
        (1000, True, "weight_g 1000 within [1000, 3000]"),
        (3000, True, "weight_g 3000 within [1000, 3000]"),
        (3001, False, "weight_g 3001 above max 3000"),
    ],
)
def test_weight_range_is_inclusive_at_both_ends(weight: int, ok: bool, detail: str) -> None:
    order = make_order(lines=[{"sku": "A", "quantity": 1, "weight_g": weight}])
    assert condition(order, weight_g={"min": 1000, "max": 3000}) == ConditionResult(
        "weight_g", ok, detail
    )


def test_weight_is_the_sum_of_quantity_times_line_weight() -> None:
    order = make_order(
        lines=[
            {"sku": "A", "quantity": 3, "weight_g": 400},
            {"sku": "B", "quantity": 1, "weight_g": 100},
        ]
    )
    result = condition(order, weight_g={"max": 1200})
    assert not result.ok
    assert result.detail == "weight_g 1300 above max 1200"


def test_unknown_weight_fails_naming_the_line() -> None:
    order = make_order(
        lines=[{"sku": "A", "quantity": 1, "weight_g": 5}, {"sku": "TSHIRT-M", "quantity": 1}]
    )
    result = condition(order, weight_g={"max": 30000})
    assert not result.ok
    assert result.detail == "weight_g unknown: line TSHIRT-M has no weight_g"


@pytest.mark.parametrize(("count", "ok"), [(1, False), (2, True), (3, True), (4, False)])
def test_lines_range_is_inclusive_at_both_ends(count: int, ok: bool) -> None:
    order = make_order(lines=lines(*((f"S{i}", 1) for i in range(count))))
    result = condition(order, lines={"min": 2, "max": 3})
    assert result.ok is ok
    assert f"lines {count}" in result.detail


def test_lines_counts_order_lines_not_units() -> None:
    assert condition(make_order(lines=lines(("A", 50))), lines={"max": 1}).ok


@pytest.mark.parametrize(
    ("price", "ok"), [("49.99", False), ("50.00", True), ("100.00", True), ("100.01", False)]
)
def test_value_range_is_inclusive_and_exact(price: str, ok: bool) -> None:
    order = make_order(lines=[{"sku": "A", "quantity": 1, "unit_price": price}])
    # As TOML gives them: a string and an integer.
    result = condition(order, value={"min": "50.00", "max": 100})
    assert result.ok is ok
    assert f"value {price}" in result.detail


def test_value_is_the_sum_of_quantity_times_unit_price() -> None:
    order = make_order(
        lines=[
            {"sku": "A", "quantity": 3, "unit_price": "19.90"},
            {"sku": "B", "quantity": 1, "unit_price": "0.30"},
        ]
    )
    result = condition(order, value={"min": 60.5})
    assert not result.ok
    assert result.detail == "value 60.00 below min 60.5"


def test_unknown_value_fails_naming_the_line() -> None:
    result = condition(make_order(lines=lines(("A", 1))), value={"min": 1})
    assert not result.ok
    assert result.detail == "value unknown: line A has no unit_price"


# metadata -------------------------------------------------------------------------------------


def test_metadata_matches_when_every_key_is_equal() -> None:
    order = make_order(metadata={"cart": "c-77", "gift": True, "n": 3, "other": "x"})
    assert condition(order, metadata={"cart": "c-77", "gift": True, "n": 3}).ok


def test_metadata_different_value_fails_showing_both() -> None:
    result = condition(make_order(metadata={"cart": "c-77"}), metadata={"cart": "c-1"})
    assert not result.ok
    assert result.detail == "metadata.cart: 'c-77' != 'c-1'"


def test_metadata_missing_key_fails() -> None:
    result = condition(make_order(metadata={"cart": "c-77"}), metadata={"shop": "fi"})
    assert not result.ok
    assert "metadata.shop: not on order" in result.detail


@pytest.mark.parametrize(
    ("have", "want"), [(1, True), (True, 1), (0, False), (False, 0), (1.0, True)]
)
def test_metadata_bool_never_equals_a_number(have: Any, want: Any) -> None:
    assert not condition(make_order(metadata={"flag": have}), metadata={"flag": want}).ok


def test_metadata_reports_every_mismatching_key() -> None:
    order = make_order(metadata={"a": "1", "b": 2})
    result = condition(order, metadata={"a": "x", "b": 3})
    assert not result.ok
    assert "metadata.a: '1' != 'x'" in result.detail
    assert "metadata.b: 2 != 3" in result.detail


# rules ----------------------------------------------------------------------------------------


def test_empty_when_always_matches() -> None:
    result = route(make_order(), settings({"name": "all", "candidates": [LOGITRAIL]}))
    assert decided(result) == ("all", 0, "logitrail", "FI-VANTAA", False)
    assert result.trace[0].conditions == []


def test_all_conditions_must_hold() -> None:
    result = route(make_order(), settings(rule(country="FI", kind="b2b")))
    assert result.decision is None
    assert [(c.condition, c.ok) for c in result.trace[0].conditions] == [
        ("country", True),
        ("kind", False),
    ]


def test_every_failing_condition_of_a_rule_is_reported() -> None:
    order = make_order(currency="USD", lines=[{"sku": "X", "quantity": 1, "weight_g": 40000}])
    when = {"country": ["SE"], "currency": "EUR", "weight_g": {"max": 30000}, "sku_prefix": "TS-"}
    result = route(order, settings(rule(**when)))
    assert [(c.condition, c.ok, c.detail) for c in result.trace[0].conditions] == [
        ("country", False, "country FI not in [SE]"),
        ("sku_prefix", False, "sku_prefix: SKU X matches none of [TS-]"),
        ("currency", False, "currency USD not in [EUR]"),
        ("weight_g", False, "weight_g 40000 above max 30000"),
    ]


def test_unset_conditions_are_not_reported() -> None:
    result = route(make_order(), settings(rule(country="FI")))
    assert [c.condition for c in result.trace[0].conditions] == ["country"]


def test_first_matching_rule_wins_and_later_rules_are_not_evaluated() -> None:
    routing = settings(
        rule("sweden", [FLEXPORT], country="SE"),
        rule("finland", [LOGITRAIL], country="FI"),
        rule("anything", [MONTREAL]),
    )
    result = route(make_order(), routing)
    assert decided(result) == ("finland", 0, "logitrail", "FI-VANTAA", False)
    assert [(t.rule, t.matched) for t in result.trace] == [("sweden", False), ("finland", True)]


def test_rules_that_did_not_match_have_no_candidates() -> None:
    result = route(make_order(), settings(rule("se", country="SE"), rule("fi", country="FI")))
    assert result.trace[0].candidates == []
    assert len(result.trace[1].candidates) == 1


def test_default_takes_what_no_rule_matched() -> None:
    result = route(make_order(), settings(rule("se", country="SE"), default=FLEXPORT))
    assert decided(result) == ("default", 0, "flexport", "auto", False)
    assert result.reason is None
    [se, default] = result.trace
    assert se.rule == "se"
    assert not se.matched
    assert (default.rule, default.matched, default.conditions) == ("default", True, [])
    assert [(c.provider, c.outcome) for c in default.candidates] == [("flexport", CHOSEN)]


def test_default_is_not_used_when_a_rule_matches() -> None:
    result = route(make_order(), settings(rule("fi", country="FI"), default=FLEXPORT))
    assert decided(result)[0] == "fi"
    assert [t.rule for t in result.trace] == ["fi"]


def test_unhealthy_default_is_queued() -> None:
    result = route(make_order(), settings(default=FLEXPORT), healthy=lambda _p: False)
    assert decided(result) == ("default", 0, "flexport", "auto", True)
    assert outcomes(result) == [CHOSEN_QUEUED]


def test_unroutable_without_default_lists_every_rule_and_why() -> None:
    routing = settings(rule("se", country="SE"), rule("eur", currency="EUR", kind="b2b"))
    result = route(make_order(currency="SEK"), routing)
    assert result.decision is None
    assert result.reason == "no rule matched and no default is configured (rules tried: se, eur)"
    assert [(t.rule, t.matched, t.candidates) for t in result.trace] == [
        ("se", False, []),
        ("eur", False, []),
    ]
    assert [c.detail for c in result.trace[1].conditions] == [
        "kind d2c not in [b2b]",
        "currency SEK not in [EUR]",
    ]


def test_no_rules_and_no_default_is_unroutable() -> None:
    result = route(make_order(), settings())
    assert result.decision is None
    assert result.trace == []
    assert result.reason is not None
    assert "no default" in result.reason


# candidates and health ------------------------------------------------------------------------


def test_first_healthy_candidate_is_chosen_and_the_rest_not_tried() -> None:
    result = route(make_order(), settings(rule(candidates=[MONTREAL, TORONTO])))
    assert decided(result) == ("r", 0, "logentic", "MTL", False)
    assert outcomes(result) == [CHOSEN, NOT_TRIED]


def test_unhealthy_first_candidate_is_skipped_for_the_second() -> None:
    result = route(
        make_order(),
        settings(rule(candidates=[LOGITRAIL, MONTREAL, FLEXPORT])),
        healthy=lambda provider: provider != "logitrail",
    )
    assert decided(result) == ("r", 1, "logentic", "MTL", False)
    assert outcomes(result) == [SKIP_CIRCUIT, CHOSEN, NOT_TRIED]
    assert [c.healthy for c in result.trace[0].candidates] == [False, True, True]


def test_no_healthy_candidate_queues_for_candidate_zero() -> None:
    result = route(
        make_order(), settings(rule(candidates=[LOGITRAIL, MONTREAL])), healthy=lambda _p: False
    )
    assert decided(result) == ("r", 0, "logitrail", "FI-VANTAA", True)
    assert outcomes(result) == [CHOSEN_QUEUED, SKIP_CIRCUIT]


# stock-aware ----------------------------------------------------------------------------------


def stock_rule() -> RoutingSettings:
    return settings(rule("ca", [MONTREAL, TORONTO], stock_aware=True))


def test_warehouse_short_of_a_line_is_skipped_with_its_shortfall() -> None:
    order = make_order(lines=lines(("A", 2), ("B", 1)))
    stock = {("logentic", "MTL"): {"A": 1, "B": 5}, ("logentic", "TOR"): {"A": 2, "B": 1}}
    result = route(order, stock_rule(), stock=stock)
    assert decided(result) == ("ca", 1, "logentic", "TOR", False)
    montreal, toronto = result.trace[0].candidates
    assert montreal.outcome == SKIP_STOCK
    assert montreal.stock == {"A": 1, "B": 5}
    assert montreal.shortfall == {"A": {"needed": 2, "available": 1}}
    assert toronto.outcome == CHOSEN
    assert toronto.stock == {"A": 2, "B": 1}
    assert toronto.shortfall is None


def test_repeated_sku_quantities_are_summed() -> None:
    order = make_order(lines=lines(("A", 2), ("B", 1), ("A", 2)))
    stock = {("logentic", "MTL"): {"A": 3, "B": 1}, ("logentic", "TOR"): {"A": 4, "B": 1}}
    result = route(order, stock_rule(), stock=stock)
    assert decided(result)[3] == "TOR"
    assert result.trace[0].candidates[0].shortfall == {"A": {"needed": 4, "available": 3}}


def test_sku_missing_from_the_snapshot_counts_as_zero() -> None:
    stock = {("logentic", "MTL"): {"OTHER": 9}, ("logentic", "TOR"): {"TS-M": 2}}
    result = route(make_order(), stock_rule(), stock=stock)
    assert decided(result)[3] == "TOR"
    assert result.trace[0].candidates[0].shortfall == {"TS-M": {"needed": 2, "available": 0}}


def test_candidate_without_a_snapshot_is_stock_unknown() -> None:
    result = route(make_order(), stock_rule(), stock={("logentic", "TOR"): {"TS-M": 9}})
    assert decided(result)[3] == "TOR"
    assert outcomes(result) == [SKIP_UNKNOWN, CHOSEN]
    assert result.trace[0].candidates[0].stock is None


def test_nobody_holds_every_line_takes_the_first_healthy_candidate() -> None:
    routing = settings(rule("ca", [LOGITRAIL, MONTREAL, TORONTO], stock_aware=True))
    stock = {("logentic", "MTL"): {"TS-M": 1}, ("logentic", "TOR"): {"TS-M": 0}}
    result = route(
        make_order(), routing, stock=stock, healthy=lambda provider: provider != "logitrail"
    )
    assert decided(result) == ("ca", 1, "logentic", "MTL", False)
    assert outcomes(result) == [SKIP_CIRCUIT, CHOSEN_NO_STOCK, SKIP_STOCK]
    assert result.trace[0].candidates[1].shortfall == {"TS-M": {"needed": 2, "available": 1}}


def test_stock_aware_rule_without_any_snapshot_takes_the_first_healthy() -> None:
    result = route(make_order(), stock_rule())
    assert decided(result) == ("ca", 0, "logentic", "MTL", False)
    assert outcomes(result) == [CHOSEN_NO_STOCK, SKIP_UNKNOWN]


def test_stock_aware_rule_with_no_healthy_candidate_queues_for_candidate_zero() -> None:
    stock = {("logentic", "MTL"): {"TS-M": 9}, ("logentic", "TOR"): {"TS-M": 9}}
    result = route(make_order(), stock_rule(), stock=stock, healthy=lambda _p: False)
    assert decided(result) == ("ca", 0, "logentic", "MTL", True)
    assert outcomes(result) == [CHOSEN_QUEUED, SKIP_CIRCUIT]


def test_stock_is_ignored_when_the_rule_is_not_stock_aware() -> None:
    stock = {("logentic", "MTL"): {"TS-M": 0}}
    result = route(make_order(), settings(rule(candidates=[MONTREAL, TORONTO])), stock=stock)
    assert decided(result)[3] == "MTL"
    assert result.trace[0].candidates[0].stock is None


def test_stock_needs_names_the_candidates_of_the_matching_stock_aware_rule() -> None:
    routing = settings(rule("se", country="SE"), rule("ca", [MONTREAL, TORONTO], stock_aware=True))
    assert stock_needs(routing, make_order()) == [("logentic", "MTL"), ("logentic", "TOR")]


def test_stock_needs_nothing_when_the_first_match_is_not_stock_aware() -> None:
    routing = settings(rule("fi", country="FI"), rule("ca", [MONTREAL], stock_aware=True))
    assert stock_needs(routing, make_order()) == []


def test_stock_needs_nothing_for_a_pinned_order() -> None:
    order = make_order(routing=TORONTO)
    assert stock_needs(settings(rule("ca", [MONTREAL], stock_aware=True)), order) == []


# pinned ---------------------------------------------------------------------------------------


def test_pinned_order_skips_the_rules() -> None:
    result = route(make_order(routing=TORONTO), settings(rule("fi", country="FI")))
    assert decided(result) == ("pinned", 0, "logentic", "TOR", False)
    assert result.trace == []


def test_pinned_order_to_an_unhealthy_provider_is_queued() -> None:
    result = route(
        make_order(routing=TORONTO), settings(), healthy=lambda provider: provider != "logentic"
    )
    assert decided(result) == ("pinned", 0, "logentic", "TOR", True)


# explain --------------------------------------------------------------------------------------


def test_explain_json_is_plain_json_and_round_trips_the_decision() -> None:
    stock = {("logentic", "MTL"): {"A": 1}, ("logentic", "TOR"): {"A": 5}}
    routing = settings(rule("se", country="SE"), rule("ca", [MONTREAL, TORONTO], stock_aware=True))
    result = route(make_order(lines=lines(("A", 2))), routing, stock=stock)

    data = orjson.loads(orjson.dumps(explain_json(result)))

    assert data == {
        "decision": {
            "rule": "ca",
            "candidate": 1,
            "provider": "logentic",
            "warehouse": "TOR",
            "queued": False,
            "parts": [],
        },
        "reason": None,
        "trace": [
            {
                "rule": "se",
                "matched": False,
                "conditions": [
                    {"condition": "country", "ok": False, "detail": "country FI not in [SE]"}
                ],
                "candidates": [],
            },
            {
                "rule": "ca",
                "matched": True,
                "conditions": [],
                "candidates": [
                    {
                        "index": 0,
                        "provider": "logentic",
                        "warehouse": "MTL",
                        "healthy": True,
                        "outcome": SKIP_STOCK,
                        "stock": {"A": 1},
                        "shortfall": {"A": {"needed": 2, "available": 1}},
                    },
                    {
                        "index": 1,
                        "provider": "logentic",
                        "warehouse": "TOR",
                        "healthy": True,
                        "outcome": CHOSEN,
                        "stock": {"A": 5},
                        "shortfall": None,
                    },
                ],
            },
        ],
    }


def test_explain_json_of_an_unroutable_order_has_null_decision_and_a_reason() -> None:
    result = route(make_order(), settings(rule("se", country="SE")))
    data = orjson.loads(orjson.dumps(explain_json(result)))
    assert data["decision"] is None
    assert data["reason"] == result.reason
    assert data["trace"][0]["rule"] == "se"


def test_explain_json_does_not_share_state_with_the_result() -> None:
    stock = {("logentic", "MTL"): {"TS-M": 9}, ("logentic", "TOR"): {"TS-M": 9}}
    result = route(make_order(), stock_rule(), stock=stock)
    explain_json(result)["trace"][0]["candidates"][0]["stock"]["TS-M"] = 0
    assert result.trace[0].candidates[0].stock == {"TS-M": 9}
