"""Hold rules (`[[holds]]`), evaluated before routing: a pure function of (order, rules, now).

1. Rules are tried in order; the first whose conditions all hold (the routing conditions,
   `gateway.routing.evaluate.conditions`) holds the order, its name the hold's reason. Every
   condition of a tried rule is reported, so the trace says why each rule before the winner
   did not match; rules after it are not tried.
2. A rule with `until_h` holds until `until_h` hours from now; one without holds until a caller
   releases the order.
3. An order whose `hold_until` lies ahead (a pre-order) is held until then: reason
   `hold_until` when no rule matched. When a rule matched too, the later release wins, and a
   rule without `until_h` is never released by time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from gateway.model.orders import CanonicalOrder
from gateway.model.view import stamp
from gateway.routing.conditions import conditions
from gateway.routing.evaluate import RuleTrace
from gateway.routing.rules import HoldRule

HOLD_UNTIL = "hold_until"
"""The reason of a hold that only the order's own `hold_until` asked for."""


@dataclass(frozen=True, slots=True)
class Hold:
    reason: str
    until: datetime | None
    """When the order releases itself; None: only a caller releases it."""


@dataclass(frozen=True, slots=True)
class HoldResult:
    hold: Hold | None
    trace: list[RuleTrace]


def held(order: CanonicalOrder, holds: list[HoldRule], now: datetime) -> HoldResult:
    """Whether this order is held before routing, and why (see the module docstring)."""
    trace: list[RuleTrace] = []
    rule_hold: Hold | None = None
    for rule in holds:
        tried = conditions(order, rule.when, now)
        matched = all(c.ok for c in tried)
        trace.append(RuleTrace(rule.name, matched, tried, []))
        if matched:
            until = None if rule.until_h is None else now + timedelta(hours=rule.until_h)
            rule_hold = Hold(rule.name, until)
            break
    ahead = order.hold_until if order.hold_until is not None and order.hold_until > now else None
    if rule_hold is None:
        return HoldResult(None if ahead is None else Hold(HOLD_UNTIL, ahead), trace)
    if rule_hold.until is not None and ahead is not None and ahead > rule_hold.until:
        rule_hold = Hold(rule_hold.reason, ahead)
    return HoldResult(rule_hold, trace)


def hold_json(result: HoldResult) -> dict[str, Any]:
    """The hold part of an explain: `hold` (`{reason, until}` or null) and `holds`, the trace
    of the hold rules tried."""
    hold = result.hold
    return {
        "hold": None
        if hold is None
        else {"reason": hold.reason, "until": None if hold.until is None else stamp(hold.until)},
        "holds": [asdict(rule) for rule in result.trace],
    }
