"""A stock file for `gateway route --stock FILE`: the stock snapshots an offline explain plans
on, so a split plan can be seen without any provider. Pure: bytes in, snapshots out.

    {"<provider>": {"<warehouse>": {"<sku>": <units>}}}

Units are whole numbers, 0 or more. A provider or warehouse the file leaves out is "stock
unknown", as when its stock cannot be read; one the configuration does not have is a mistake
(a typo would otherwise read as "stock unknown"), so it is refused with the others.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import orjson

from gateway.model.orders import StockSnapshot
from gateway.routing.split import StockKey


class StockFileError(ValueError):
    """The file is not a stock file: `problems`, each `loc: what is wrong`."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def parse_stock(
    raw: bytes, warehouses: Mapping[str, Collection[str]]
) -> dict[StockKey, StockSnapshot]:
    """The snapshots the file gives, by (provider, warehouse); `warehouses`: the configured
    ones of each provider. `StockFileError` listing every problem otherwise."""
    try:
        data: Any = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise StockFileError([f"not JSON: {exc}"]) from None
    if not isinstance(data, dict):
        raise StockFileError(['expected {"<provider>": {"<warehouse>": {"<sku>": units}}}'])
    problems: list[str] = []
    stock: dict[StockKey, StockSnapshot] = {}
    for provider, by_warehouse in data.items():
        if provider not in warehouses:
            known = ", ".join(sorted(warehouses)) or "none"
            problems.append(f"{provider}: not a configured provider (configured: {known})")
            continue
        if not isinstance(by_warehouse, dict):
            problems.append(f'{provider}: expected {{"<warehouse>": {{"<sku>": units}}}}')
            continue
        for warehouse, units_of in by_warehouse.items():
            loc = f"{provider}.{warehouse}"
            if warehouse not in warehouses[provider]:
                known = ", ".join(sorted(warehouses[provider])) or "none"
                problems.append(f"{loc}: not a warehouse of {provider} (configured: {known})")
                continue
            snapshot = _snapshot(loc, units_of, problems)
            if snapshot is not None:
                stock[(provider, warehouse)] = snapshot
    if problems:
        raise StockFileError(problems)
    return stock


def _snapshot(loc: str, units_of: Any, problems: list[str]) -> dict[str, int] | None:
    if not isinstance(units_of, dict):
        problems.append(f'{loc}: expected {{"<sku>": units}}')
        return None
    snapshot: dict[str, int] = {}
    for sku, units in units_of.items():
        if not sku.strip():
            problems.append(f"{loc}: a SKU must not be blank")
        elif isinstance(units, bool) or not isinstance(units, int):
            problems.append(f"{loc}.{sku}: units must be a whole number, not {units!r}")
        elif units < 0:
            problems.append(f"{loc}.{sku}: units must be 0 or more, not {units}")
        else:
            snapshot[sku] = units
    return snapshot
