"""Flexport Products API inventory answers read into units to ship (docs/providers/flexport.md,
"Stock"). Pure: no I/O.

Two reads, both of the `DEFAULT` pool (Flexport: reserve storage is the `STORAGE` pool, "to
obtain reserve storage quantities, the poolName parameter can be set to 'STORAGE'"; it is
not what an order ships from), both counting `available` (units "not reserved for open
orders … in a pickable and shippable state"), never `onHand`:

- `GET /products/inventory/all?limit=&offset=&poolName=` (GetAllInventory): the account's
  units per `logisticsSku`, over every warehouse — a bare array of
  `{logisticsSku, onHand, available, unavailable, …}` with no per-location number; "there
  are no more results if an empty page is returned".
- `POST /products/warehouse?poolName=` (retrieve warehouse details), body
  `{"logisticsSKUs": [...]}` as Flexport's migration guide words it: per `logisticsSku`, its
  `warehouseDetails: [{warehouseId, available}]`.

Quantities are typed as numbers (possibly doubles): read as whole units, never negative.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

POOL = "DEFAULT"
"""The inventory pool orders ship from."""

PerWarehouse = dict[str, dict[str, int]]
"""logisticsSku → Flexport warehouse code (e.g. `ATL1`) → units available."""


def all_inventory_params(page: int, per_page: int) -> dict[str, str]:
    """The query of page `page` (from 0) of `GET /products/inventory/all`."""
    return {"limit": str(per_page), "offset": str(page * per_page), "poolName": POOL}


def available_of(body: Any) -> tuple[dict[str, int], int]:
    """logisticsSku → units `available` on one page of `GET /products/inventory/all` (a
    bare array, or one under `inventory`/`data`/`items`), and how many rows the page held
    (an empty or short page is the last)."""
    rows = _rows(body, ("inventory", "data", "items"))
    units: dict[str, int] = {}
    for row in rows:
        sku, available = row.get("logisticsSku"), _units(row.get("available"))
        if isinstance(sku, str) and sku and available is not None:
            units[sku] = units.get(sku, 0) + available
    return units, len(rows)


def warehouse_query() -> dict[str, str]:
    """The query of `POST /products/warehouse`."""
    return {"poolName": POOL}


def warehouse_body(logistics_skus: Sequence[str]) -> dict[str, list[str]]:
    """The body of `POST /products/warehouse` for these products."""
    return {"logisticsSKUs": list(logistics_skus)}


def per_warehouse_of(body: Any) -> PerWarehouse:
    """logisticsSku → warehouse code → units `available` from an answer of
    `POST /products/warehouse` (`[{logisticsSku, warehouseDetails: [{warehouseId,
    available}]}]`); a product listed without `warehouseDetails` holds nothing anywhere."""
    out: PerWarehouse = {}
    for row in _rows(body, ("warehouses", "data", "items")):
        sku = row.get("logisticsSku")
        if not isinstance(sku, str) or not sku:
            continue
        per = out.setdefault(sku, {})
        details = row.get("warehouseDetails")
        for detail in details if isinstance(details, list) else []:
            if not isinstance(detail, dict):
                continue
            code, available = detail.get("warehouseId"), _units(detail.get("available"))
            if isinstance(code, str) and code and available is not None:
                per[code] = per.get(code, 0) + available
    return out


def units_in(per: Mapping[str, int], warehouses: Iterable[str]) -> int:
    """Units of one product in these Flexport warehouses together."""
    return sum(per.get(code, 0) for code in set(warehouses))


def _units(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return max(0, int(value))


def _rows(body: Any, keys: tuple[str, ...]) -> list[dict[str, Any]]:
    if isinstance(body, dict):
        body = next((body[k] for k in keys if isinstance(body.get(k), list)), body)
    return [r for r in body if isinstance(r, dict)] if isinstance(body, list) else []
