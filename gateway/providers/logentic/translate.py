"""Canonical order ⇄ Logentic API v1 (docs/providers/logentic.md): the requests, and the
answers read back. Pure: no I/O, no aiohttp.

Decisions Logentic's documentation leaves open, made here once:
- `external_name` carries the order's tenant-qualified reference (`storefront-fi/SHOP-1001`;
  the GET /orders filter Logentic documents as "external or ecommerce order reference"), so a
  lost create is reconciled by it and two tenants' orders never share one.
- Lines go as `stored_items` by Logentic `item_id` (looked up from the SKU by the adapter);
  lines with the same SKU are merged.
- `recipient.name` is "first last"; `place.province_code` is the canonical `region`.
- Units: Logentic items are in inches and the account's weight unit. Conversions round *up*
  (to 0.01 in and 0.001 of the weight unit) so no parcel is under-declared.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import ROUND_CEILING, Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from gateway.errors import FieldError
from gateway.model.orders import CanonicalOrder, Line, Status
from gateway.providers.base import Parsed, ProviderOrder
from gateway.providers.logentic.statuses import status_of

MM_PER_INCH = Decimal("25.4")
GRAMS_PER_UNIT = {
    "g": Decimal(1),
    "kg": Decimal(1000),
    "lb": Decimal("453.59237"),
    "oz": Decimal("28.349523125"),
}
_REGION_CODE = re.compile(r"^[A-Za-z0-9]{1,3}$")


def check(order: CanonicalOrder) -> list[FieldError]:
    """Logentic's required fields a canonical order lacks (its documented `POST /orders` fields)."""
    problems = []
    if not order.recipient.email:
        problems.append(FieldError("recipient.email", "logentic requires recipient.email"))
    if not order.recipient.phone:
        problems.append(FieldError("recipient.phone", "logentic requires recipient.phone"))
    region = order.address.region
    if not region:
        problems.append(
            FieldError(
                "address.region", "logentic requires place.province_code: a province/state code"
            )
        )
    elif not _REGION_CODE.match(region):
        problems.append(
            FieldError(
                "address.region",
                f"logentic place.province_code is a province/state code such as QC, not {region!r}",
            )
        )
    return problems


def to_order(
    order: CanonicalOrder, *, reference: str, warehouse_id: int, item_ids: Mapping[str, int]
) -> dict[str, Any]:
    """The body of `POST /orders`. `item_ids` maps every SKU of the order to its item_id."""
    rcpt, addr = order.recipient, order.address
    quantities: dict[int, int] = {}
    for line in order.lines:
        item = item_ids[line.sku]
        quantities[item] = quantities.get(item, 0) + line.quantity
    place: dict[str, Any] = {
        "address1": addr.line1,
        "postal_code": addr.postal_code,
        "city": addr.city,
        "province_code": (addr.region or "").upper(),
        "country_code": addr.country_code,
    }
    if addr.line2:
        place["address2"] = addr.line2
    return {
        "order_type": "DELIVERY",
        "status": "PENDING",
        "warehouse_id": warehouse_id,
        "external_name": reference,
        "recipient": {
            "name": f"{rcpt.first_name} {rcpt.last_name}",
            "email": rcpt.email,
            "phone": rcpt.phone,
        },
        "stored_items": [{"item_id": i, "quantity": q} for i, q in quantities.items()],
        "place": place,
    }


def mm_to_inches(mm: int) -> Decimal:
    return (Decimal(mm) / MM_PER_INCH).quantize(Decimal("0.01"), rounding=ROUND_CEILING)


def grams_to(unit: str, grams: int) -> Decimal:
    return (Decimal(grams) / GRAMS_PER_UNIT[unit]).quantize(
        Decimal("0.001"), rounding=ROUND_CEILING
    )


def item_problems(line: Line, index: int) -> list[FieldError]:
    """What a line lacks for `POST /items` (dimensions and weight are required there)."""
    problems = []
    if line.dimensions_mm is None:
        problems.append(
            FieldError(
                f"lines[{index}].dimensions_mm",
                "logentic needs dimensions to create an unknown item",
            )
        )
    if line.weight_g is None:
        problems.append(
            FieldError(
                f"lines[{index}].weight_g", "logentic needs a weight to create an unknown item"
            )
        )
    return problems


def to_item(line: Line, *, weight_unit: str) -> dict[str, Any]:
    """The body of `POST /items` for a line; `dimensions_mm` is [width, height, depth]."""
    assert line.dimensions_mm is not None
    assert line.weight_g is not None
    width, height, depth = line.dimensions_mm
    return {
        "name": line.name or line.sku,
        "external_name": line.sku,
        "width_in": float(mm_to_inches(width)),
        "height_in": float(mm_to_inches(height)),
        "depth_in": float(mm_to_inches(depth)),
        "weight": float(grams_to(weight_unit, line.weight_g)),
    }


def to_cancel() -> dict[str, Any]:
    """The body of the `PUT /orders/{id}` that cancels a pending order."""
    return {"status": "CANCELLED"}


def order_id_of(body: Any) -> str | None:
    """The id in a `{"data": {"id": 19015}}` answer (an order's or an item's), as a string."""
    data = body.get("data") if isinstance(body, dict) else None
    value = data.get("id") if isinstance(data, dict) else None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) and value else None


def order_of(provider_order_id: str, body: Any) -> Parsed[ProviderOrder] | None:
    """The order of a `{"data": {order}}` answer (get, create, update); None when it has no
    status. An unknown status is taken as in progress."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("status"), str):
        return None
    raw = data["status"]
    status = status_of(raw)
    found = ProviderOrder(provider_order_id, Status.IN_PROGRESS if status is None else status, raw)
    return Parsed(found, raw if status is None else None)


def page_of(body: Any) -> tuple[list[dict[str, Any]], dict[str, str] | None] | None:
    """The rows of one page of a list answer (`{"data": [...], "meta"}`) and the query of the
    next page (None on the last); None when the answer holds no `data` list.

    Only the `next` link's query is kept: the caller sends it to its own base URL, so the
    bearer token never goes to a host a response names.
    """
    rows = body.get("data") if isinstance(body, dict) else None
    if not isinstance(rows, list):
        return None
    link = _next_link(body)
    following = dict(parse_qsl(urlsplit(link).query)) if link and rows else None
    return [row for row in rows if isinstance(row, dict)], following


def order_id_for(row: dict[str, Any], reference: str) -> str | None:
    """The id of a listed order, if it is the live (not cancelled) one under `reference`."""
    if row.get("external_name") == reference and row.get("status") != "CANCELLED":
        return str(row["id"])
    return None


def item_id_for(row: dict[str, Any], sku: str) -> int | None:
    """The id of a listed item, if it is the item of `sku`."""
    if row.get("external_name") == sku and isinstance(row.get("id"), int):
        return int(row["id"])
    return None


def quantities_of(rows: Iterable[dict[str, Any]]) -> dict[int, dict[str, int]]:
    """warehouse id → SKU → units to ship (`supply`, summed, never negative) from the rows of
    `GET /items/item_quantities`."""
    snapshot: dict[int, dict[str, int]] = {}
    for rec in rows:
        sku, warehouse_id, supply = rec.get("sku"), rec.get("warehouse_id"), rec.get("supply")
        if (
            isinstance(sku, str)
            and isinstance(warehouse_id, int)
            and isinstance(supply, int | float)
        ):
            per = snapshot.setdefault(warehouse_id, {})
            per[sku] = per.get(sku, 0) + max(0, int(supply))
    return snapshot


def _next_link(body: dict[str, Any]) -> str | None:
    meta = body.get("meta")
    pagination = meta.get("pagination") if isinstance(meta, dict) else None
    links = pagination.get("links") if isinstance(pagination, dict) else None
    nxt = links.get("next") if isinstance(links, dict) else None
    return nxt if isinstance(nxt, str) and nxt else None
