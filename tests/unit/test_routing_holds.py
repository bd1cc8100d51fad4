"""Hold rules before routing (`gateway.routing.holds`): pure, over (order, rules, now)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from gateway.config import Settings
from gateway.routing.conditions import conditions
from gateway.routing.holds import HOLD_UNTIL, held
from gateway.routing.rules import Conditions, HoldRule
from tests.unit.test_routing import make_order

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def rule(name: str, until_h: float | None = None, **when: Any) -> HoldRule:
    return HoldRule.model_validate({"name": name, "when": when, "until_h": until_h})


def at(hours: float) -> str:
    return (NOW + timedelta(hours=hours)).isoformat()


def test_the_first_matching_rule_holds_and_the_trace_says_why_others_did_not() -> None:
    rules = [rule("big", lines={"min": 5}), rule("vip", 24, tags_any="vip"), rule("never")]
    result = held(make_order(tags=["vip"]), rules, NOW)
    assert result.hold is not None
    assert (result.hold.reason, result.hold.until) == ("vip", NOW + timedelta(hours=24))
    assert [(t.rule, t.matched) for t in result.trace] == [("big", False), ("vip", True)]
    assert result.trace[0].conditions[0].detail == "lines 1 below min 5"


def test_no_rule_matching_and_no_hold_until_is_no_hold() -> None:
    assert held(make_order(), [rule("vip", tags_any="vip")], NOW).hold is None


@pytest.mark.parametrize(
    ("until_h", "hold_until_h", "reason", "until_h_expected"),
    [
        (None, None, "vip", None),  # a rule without until_h: released only on request
        (None, 48, "vip", None),  # … whatever the order's hold_until says
        (24, 48, "vip", 48),  # the later release wins
        (24, 2, "vip", 24),
    ],
)
def test_a_rule_and_hold_until_together(
    until_h: float | None, hold_until_h: float | None, reason: str, until_h_expected: float | None
) -> None:
    changes: dict[str, Any] = {"tags": ["vip"]}
    if hold_until_h is not None:
        changes["hold_until"] = at(hold_until_h)
    result = held(make_order(**changes), [rule("vip", until_h, tags_any="vip")], NOW)
    assert result.hold is not None
    expected = None if until_h_expected is None else NOW + timedelta(hours=until_h_expected)
    assert (result.hold.reason, result.hold.until) == (reason, expected)


def test_hold_until_alone_holds_a_pre_order_until_then_and_not_once_passed() -> None:
    result = held(make_order(hold_until=at(5)), [], NOW)
    assert result.hold is not None
    assert (result.hold.reason, result.hold.until) == (HOLD_UNTIL, NOW + timedelta(hours=5))
    assert held(make_order(hold_until=at(-1)), [], NOW).hold is None


@pytest.mark.parametrize(
    ("ship_by_h", "ok", "detail"),
    [
        (10, True, "ship_by_within_h 10.0 within [0, 24]"),
        (30, False, "ship_by_within_h 30.0 above max 24"),
        (-2, False, "ship_by_within_h -2.0 below min 0"),
        (None, False, "ship_by not set on order"),
    ],
)
def test_ship_by_within_h(ship_by_h: float | None, ok: bool, detail: str) -> None:
    when = Conditions.model_validate({"ship_by_within_h": {"min": 0, "max": 24}})
    order = make_order() if ship_by_h is None else make_order(ship_by=at(ship_by_h))
    [result] = conditions(order, when, NOW)
    assert (result.ok, result.detail) == (ok, detail)


def test_ship_by_within_h_without_the_time_fails() -> None:
    when = Conditions.model_validate({"ship_by_within_h": {"max": 24}})
    [result] = conditions(make_order(ship_by=at(1)), when, None)
    assert not result.ok


def test_hold_rule_names_are_unique() -> None:
    with pytest.raises(ValidationError, match="repeated: a"):
        Settings.model_validate({"holds": [{"name": "a"}, {"name": "a"}]})
