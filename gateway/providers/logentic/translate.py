"""Canonical order ⇄ Logentic API v1 (docs/providers/logentic.md). Pure: no I/O, no aiohttp.

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
from collections.abc import Mapping
from decimal import ROUND_CEILING, Decimal
from typing import Any

from gateway.errors import FieldError
from gateway.model.orders import CanonicalOrder, Line, Status

STATUSES: dict[str, Status] = {
    "PENDING": Status.SUBMITTED,  # Logentic holds it; nothing more to confirm
    "PICKED": Status.IN_PROGRESS,
    "PACKED": Status.IN_PROGRESS,
    "IN_TRANSIT": Status.SHIPPED,
    "COMPLETED": Status.DELIVERED,
    "CANCELLED": Status.CANCELLED,
    "ON_HOLD": Status.ON_HOLD,
    "BACK_ORDERED": Status.ON_HOLD,  # inventory-blocked
    "EXCEPTION": Status.EXCEPTION,  # failed sync / exception group of the status article
}
"""Logentic order status → canonical status: the one table."""

TOPIC_STATUSES: dict[str, str] = {
    "order-created": "PENDING",
    "order-picked": "PICKED",
    "order-packed": "PACKED",
    "order-in-transit": "IN_TRANSIT",
    "order-completed": "COMPLETED",
    "order-cancelled": "CANCELLED",
}
"""Webhook topic → the status it announces (used when the body carries none)."""

FIELD_LOCS: dict[str, str] = {
    "recipient.name": "recipient.first_name",
    "recipient.email": "recipient.email",
    "recipient.phone": "recipient.phone",
    "place.address1": "address.line1",
    "place.address2": "address.line2",
    "place.postal_code": "address.postal_code",
    "place.city": "address.city",
    "place.province_code": "address.region",
    "place.country_code": "address.country_code",
    "warehouse_id": "warehouse",
    "stored_items": "lines",
}
"""Logentic field (as in a 422's `errors`) → canonical field."""

MM_PER_INCH = Decimal("25.4")
GRAMS_PER_UNIT = {
    "g": Decimal(1),
    "kg": Decimal(1000),
    "lb": Decimal("453.59237"),
    "oz": Decimal("28.349523125"),
}
_REGION_CODE = re.compile(r"^[A-Za-z0-9]{1,3}$")


def status_of(raw: str) -> Status | None:
    """Canonical status of a Logentic status; None for one we do not know."""
    return STATUSES.get(raw.upper())


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


def order_id_of(body: Any) -> str | None:
    """The id in a `{"data": {"id": 19015}}` answer, as a string."""
    data = body.get("data") if isinstance(body, dict) else None
    value = data.get("id") if isinstance(data, dict) else None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) and value else None


def field_errors(body: Any) -> list[FieldError]:
    """A 422's `{"errors": {"recipient.email": ["…"]}}` as canonical field errors."""
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, dict):
        return []
    out = []
    for field, messages in errors.items():
        text = "; ".join(str(m) for m in messages) if isinstance(messages, list) else str(messages)
        key = re.sub(
            r"\.\d+(\.|$)", r"\1", str(field)
        )  # stored_items.0.item_id → stored_items.item_id
        loc = FIELD_LOCS.get(str(field)) or FIELD_LOCS.get(key.split(".")[0], str(field))
        out.append(FieldError(loc, f"logentic: {text}"))
    return out
