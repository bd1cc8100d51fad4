"""The Products API inventory routes as the sandbox performs them (docs/providers/flexport.md,
"Stock"), from the stock set per product and warehouse (`FlexportSandbox.set_stock`).

Stock is of the `DEFAULT` pool; the other pools (`UNALLOCATED`, `STORAGE`, `PREP`) hold
nothing here. Every unit set is `available` and `onHand` (nothing is reserved).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.sandbox.harness import json_response

from .errors import ApiError
from .state import FlexportState
from .validation import json_body, page_of

POOLS = ("DEFAULT", "UNALLOCATED", "STORAGE", "PREP")
MAX_SKUS = 100
"""logisticsSKUs one `POST /products/warehouse` may name here (Flexport states no bound)."""


def _pool(request: web.Request) -> str:
    pool = request.query.get("poolName", "DEFAULT")
    if pool not in POOLS:
        raise ApiError(400, f"poolName must be one of {', '.join(POOLS)}.")
    return pool


def _held(state: FlexportState, logistics_sku: str, pool: str) -> dict[str, int]:
    return dict(state.stock.get(logistics_sku, {})) if pool == "DEFAULT" else {}


async def all_inventory(state: FlexportState, request: web.Request) -> web.Response:
    """`?limit=` (default 20, max 100) `&offset=&poolName=`: a bare array, one row per
    product; past the last product an empty page."""
    limit, offset = page_of(request)
    pool = _pool(request)
    rows = []
    for sku in list(state.products)[offset : offset + limit]:
        units = sum(_held(state, sku, pool).values())
        rows.append(
            {
                "logisticsSku": sku,
                "onHand": units,
                "available": units,
                "unavailable": 0,
                "unitsPerPack": 1,
                "lotTrackingDetails": [],
                "breakdown": [],
            }
        )
    return json_response(rows)


async def warehouse_details(state: FlexportState, request: web.Request) -> web.Response:
    """Body `{"logisticsSKUs": [...]}` (as Flexport's migration guide spells it): per known
    product, its `warehouseDetails`; a logisticsSku the account lacks is left out."""
    pool = _pool(request)
    skus = _skus(await json_body(request))
    rows = [
        {
            "logisticsSku": sku,
            "warehouseDetails": [
                {"warehouseId": code, "available": units}
                for code, units in sorted(_held(state, sku, pool).items())
            ],
        }
        for sku in dict.fromkeys(skus)
        if sku in state.products
    ]
    return json_response(rows)


def _skus(body: Any) -> list[str]:
    skus = body.get("logisticsSKUs") if isinstance(body, dict) else None
    if not isinstance(skus, list) or not skus or not all(isinstance(s, str) and s for s in skus):
        raise ApiError(
            400,
            "Input on the request did not pass validation.",
            invalid_params=[
                {"name": "logisticsSKUs", "reason": "must be a non-empty list of strings"}
            ],
        )
    if len(skus) > MAX_SKUS:
        raise ApiError(
            400,
            "Input on the request did not pass validation.",
            invalid_params=[{"name": "logisticsSKUs", "reason": f"at most {MAX_SKUS}"}],
        )
    return skus
