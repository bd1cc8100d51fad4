"""Routing conditions: each `when` key of a rule, checked against an order, with the
reason it holds or not (the trace shows every one). Pure; no I/O.

Conditions: `country`, `region`, `kind`, `channel`, `currency` — the order's value is one
of the listed ones (an order without a region, channel or currency fails); `tags_any` —
at least one listed tag is on the order; `tags_all` — every listed tag is; `sku_prefix` —
every line's SKU starts with a listed prefix; `sku_in` — every line's SKU is listed;
`weight_g`, `lines`, `value` — total weight, number of lines, total value within the
inclusive range (an unknown weight or value fails); `metadata` — every key is in the
order's metadata with an equal value, where a boolean only equals a boolean;
`ship_by_within_h` — the hours from `now` until the order's `ship_by` lie within the
inclusive range (an order without `ship_by`, or a call without `now`, fails).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from gateway.model.orders import CanonicalOrder
from gateway.routing.rules import Conditions, DecimalRange, IntRange

Verdict = tuple[bool, str]
ConditionCheck = Callable[[CanonicalOrder, Any], Verdict]


@dataclass(frozen=True, slots=True)
class ConditionResult:
    condition: str
    ok: bool
    detail: str


def _listed(values: list[Any]) -> str:
    return "[" + ", ".join(str(v) for v in values) + "]"


def _one_of(name: str, value: Any, wanted: list[Any]) -> Verdict:
    if value is None:
        return False, f"{name} not set on order; rule wants one of {_listed(wanted)}"
    ok = value in wanted
    return ok, f"{name} {value} {'in' if ok else 'not in'} {_listed(wanted)}"


def _within(
    name: str, value: int | Decimal | None, bounds: IntRange | DecimalRange, unknown: str
) -> Verdict:
    if value is None:
        return False, f"{name} unknown: {unknown}"
    if bounds.min is not None and value < bounds.min:
        return False, f"{name} {value} below min {bounds.min}"
    if bounds.max is not None and value > bounds.max:
        return False, f"{name} {value} above max {bounds.max}"
    low = "-∞" if bounds.min is None else bounds.min
    high = "∞" if bounds.max is None else bounds.max
    return True, f"{name} {value} within [{low}, {high}]"


def _line_without(order: CanonicalOrder, field: str) -> str:
    sku = next((line.sku for line in order.lines if getattr(line, field) is None), None)
    return f"line {sku} has no {field}"


def _tags_any(order: CanonicalOrder, wanted: list[str]) -> Verdict:
    shared = [tag for tag in wanted if tag in order.tags]
    if shared:
        return True, f"tags_any: {_listed(shared)} on order"
    return False, f"tags_any: none of {_listed(wanted)} on order"


def _tags_all(order: CanonicalOrder, wanted: list[str]) -> Verdict:
    missing = [tag for tag in wanted if tag not in order.tags]
    if missing:
        return False, f"tags_all: {_listed(missing)} not on order (wants all of {_listed(wanted)})"
    return True, f"tags_all: all of {_listed(wanted)} on order"


def _skus_failing(order: CanonicalOrder, holds: Callable[[str], bool]) -> list[str]:
    # Distinct, in line order: an order may repeat a SKU.
    return list(dict.fromkeys(line.sku for line in order.lines if not holds(line.sku)))


def _sku_prefix(order: CanonicalOrder, prefixes: list[str]) -> Verdict:
    failing = _skus_failing(order, lambda sku: sku.startswith(tuple(prefixes)))
    if failing:
        return False, f"sku_prefix: SKU {', '.join(failing)} matches none of {_listed(prefixes)}"
    return True, f"sku_prefix: every SKU starts with one of {_listed(prefixes)}"


def _sku_in(order: CanonicalOrder, skus: list[str]) -> Verdict:
    failing = _skus_failing(order, lambda sku: sku in skus)
    if failing:
        return False, f"sku_in: SKU {', '.join(failing)} not in {_listed(skus)}"
    return True, f"sku_in: every SKU in {_listed(skus)}"


def _same_value(have: object, want: object) -> bool:
    # True == 1 and False == 0 in Python; a rule asking for a boolean must get one, and back.
    if isinstance(have, bool) or isinstance(want, bool):
        return isinstance(have, bool) and isinstance(want, bool) and have == want
    return have == want


def _metadata(order: CanonicalOrder, wanted: dict[str, Any]) -> Verdict:
    problems = []
    for key, want in wanted.items():
        if key not in order.metadata:
            problems.append(f"metadata.{key}: not on order, want {want!r}")
        elif not _same_value(order.metadata[key], want):
            problems.append(f"metadata.{key}: {order.metadata[key]!r} != {want!r}")
    if problems:
        return False, "; ".join(problems)
    return True, "metadata: " + ", ".join(f"{key}={want!r}" for key, want in wanted.items())


CONDITION_CHECKS: dict[str, ConditionCheck] = {
    "country": lambda o, w: _one_of("country", o.address.country_code, w),
    "region": lambda o, w: _one_of("region", o.address.region, w),
    "kind": lambda o, w: _one_of("kind", o.kind, w),
    "channel": lambda o, w: _one_of("channel", o.channel, w),
    "tags_any": _tags_any,
    "tags_all": _tags_all,
    "sku_prefix": _sku_prefix,
    "sku_in": _sku_in,
    "currency": lambda o, w: _one_of("currency", o.currency, w),
    "weight_g": lambda o, w: _within(
        "weight_g", o.total_weight_g(), w, _line_without(o, "weight_g")
    ),
    "lines": lambda o, w: _within("lines", len(o.lines), w, ""),
    "value": lambda o, w: _within("value", o.total_value(), w, _line_without(o, "unit_price")),
    "metadata": _metadata,
}
"""Condition (a field of `Conditions`) → its check; this order is the order of the trace."""


def _ship_by_within_h(order: CanonicalOrder, bounds: DecimalRange, now: datetime | None) -> Verdict:
    if order.ship_by is None:
        return False, "ship_by not set on order"
    if now is None:
        return False, "ship_by_within_h: the time now is not known"
    hours = Decimal(str(round((order.ship_by - now).total_seconds() / 3600, 2)))
    return _within("ship_by_within_h", hours, bounds, "")


def conditions(
    order: CanonicalOrder, when: Conditions, now: datetime | None
) -> list[ConditionResult]:
    """Every condition `when` sets, evaluated (in the order of the trace); `now` for those
    relative to the time (`ship_by_within_h`)."""
    results = []
    for name, check in CONDITION_CHECKS.items():
        wanted = getattr(when, name)
        if wanted is not None:
            ok, detail = check(order, wanted)
            results.append(ConditionResult(name, ok, detail))
    if when.ship_by_within_h is not None:
        ok, detail = _ship_by_within_h(order, when.ship_by_within_h, now)
        results.append(ConditionResult("ship_by_within_h", ok, detail))
    return results
