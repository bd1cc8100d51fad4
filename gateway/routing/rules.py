"""Routing rules as they appear in the config file (`[[routing.rules]]`, `[routing.default]`).

```toml
[[routing.rules]]
name = "nordics"
when = { country = ["FI", "SE"], weight_g = { max = 30000 } }
candidates = [{ provider = "logitrail", warehouse = "FI-VANTAA" }]
stock_aware = false
```

A stock-aware rule may split (`split = true`, `max_parts = 3`): when no healthy candidate
holds every line, the order is planned into parts over the warehouses that hold it.

Every condition in `when` must hold; an empty `when` always matches. List conditions accept a
single value too (`country = "FI"`), never an empty list. Ranges are inclusive at both ends.
Country and currency codes are matched case-insensitively; other strings exactly.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Generic, Self, TypeVar

from pydantic import BeforeValidator, Field, model_validator

from gateway.model.closed import Closed as _Section
from gateway.model.orders import CountryCode, CurrencyCode, Kind


def _listify(value: Any) -> Any:
    return [value] if isinstance(value, str | int) and not isinstance(value, bool) else value


def _decimal(value: Any) -> Any:
    # TOML has no decimal type: accept "100.00" or 100 / 100.5 and keep exact digits.
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return Decimal(str(value))
    return value


N = TypeVar("N", int, Decimal)


class _Range(_Section, Generic[N]):
    """Inclusive bounds: at least one of them, `min` not above `max`."""

    min: N | None = None
    max: N | None = None

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not exceed max")
        return self


class IntRange(_Range[int]):
    pass


class DecimalRange(_Range[Annotated[Decimal, BeforeValidator(_decimal)]]):
    pass


OneOrMany = BeforeValidator(_listify)
NonEmpty = Field(min_length=1)
"""An empty list would make a rule that never (or always) matches: a mistake, refused."""


class Conditions(_Section):
    """The `when` table of a rule."""

    country: Annotated[list[CountryCode], OneOrMany, NonEmpty] | None = None
    region: Annotated[list[str], OneOrMany, NonEmpty] | None = None
    kind: Annotated[list[Kind], OneOrMany, NonEmpty] | None = None
    channel: Annotated[list[str], OneOrMany, NonEmpty] | None = None
    tags_any: Annotated[list[str], OneOrMany, NonEmpty] | None = None
    """At least one of these tags is on the order."""
    tags_all: Annotated[list[str], OneOrMany, NonEmpty] | None = None
    """Every one of these tags is on the order."""
    sku_prefix: Annotated[list[str], OneOrMany, NonEmpty] | None = None
    """Every line's SKU starts with one of these prefixes."""
    sku_in: Annotated[list[str], OneOrMany, NonEmpty] | None = None
    """Every line's SKU is one of these."""
    currency: Annotated[list[CurrencyCode], OneOrMany, NonEmpty] | None = None
    weight_g: IntRange | None = None
    """Total weight, Σ quantity × weight_g; an order with a line of unknown weight fails it."""
    lines: IntRange | None = None
    """Number of order lines."""
    value: DecimalRange | None = None
    """Σ quantity × unit_price; an order with a line of unknown price fails it. Amounts are
    compared as given, whatever the order's currency: pair it with `currency`."""
    metadata: Annotated[dict[str, str | int | float | bool], NonEmpty] | None = None
    """Each key must be present in the order's metadata with exactly this value."""
    ship_by_within_h: DecimalRange | None = None
    """Hours from now until the order's `ship_by`; an order without one fails it."""


class Candidate(_Section):
    provider: str
    warehouse: str


class Rule(_Section):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    when: Conditions = Field(default_factory=Conditions)
    candidates: Annotated[list[Candidate], Field(min_length=1)]
    stock_aware: bool = False
    """Take the first candidate whose warehouse holds every line (from provider inventory)."""
    split: bool = False
    """Stock-aware only: when no healthy candidate holds every line, split the order into
    parts over the candidates that hold it between them (see `gateway.routing.split`)."""
    max_parts: Annotated[int, Field(ge=1, le=10)] = 3
    """At most this many parts when `split` is on."""

    @model_validator(mode="after")
    def _split_needs_stock(self) -> Self:
        if self.split and not self.stock_aware:
            raise ValueError("split = true needs stock_aware = true (parts are planned on stock)")
        return self


class HoldRule(_Section):
    """`[[holds]]`: an order matching `when` is held before routing, sent nowhere until
    released — by a caller, or by itself `until_h` hours after it was accepted."""

    name: Annotated[str, Field(min_length=1, max_length=64)]
    when: Conditions = Field(default_factory=Conditions)
    until_h: Annotated[float, Field(gt=0)] | None = None


def unique_names(names: list[str]) -> None:
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"rule names must be unique; repeated: {', '.join(dupes)}")


class RoutingSettings(_Section):
    rules: list[Rule] = Field(default_factory=list)
    default: Candidate | None = None

    @model_validator(mode="after")
    def _unique_names(self) -> RoutingSettings:
        names = [r.name for r in self.rules]
        unique_names(names)
        if "default" in names or "pinned" in names:
            raise ValueError("'default' and 'pinned' are reserved rule names")
        return self
