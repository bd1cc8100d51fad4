"""Canonical order ⇄ Logitrail order JSON: the requests, and the answers read back.
Pure: no I/O, no aiohttp. The contract: docs/providers/logitrail.md.

Decisions Logitrail's documentation leaves open, made here once:
- `merchants_order` is the order's tenant-qualified reference (`storefront-fi/SHOP-1001`:
  what the merchant sees in Logitrail's UI, and what reconciliation looks orders up by, so
  it is unique across the Logitrail account that several tenants share).
- `address` is one line: `line1`, then `line2` after a comma. `region` has no field.
- `language` is fi/en/sv only; any other canonical language is sent as `en`, so the recipient
  gets messages they can probably read rather than Logitrail's Finnish default.
- `dimensions` is `[w, h, d]` in millimetres, the canonical `dimensions_mm` order.
- Money goes as JSON numbers (the documentation gives no type; its examples are numeric).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from gateway.errors import FieldError
from gateway.model.orders import CanonicalOrder, DeliveryType, Line, Status
from gateway.providers.base import Parsed, ProviderOrder
from gateway.providers.logitrail.statuses import STATUSES, status_of

LANGUAGES = frozenset({"fi", "en", "sv"})
HEX24 = re.compile(r"^[0-9a-f]{24}$")
"""A Logitrail id: orders, products, returns and pickup points."""
FIND_PARAM = "merchants_order"


def check(order: CanonicalOrder) -> list[FieldError]:
    """Logitrail rules a canonical order breaks, found before any call."""
    problems = []
    point = order.delivery.pickup_point_id
    if order.delivery.type is DeliveryType.PICKUP_POINT and point and not HEX24.match(point):
        problems.append(
            FieldError(
                "delivery.pickup_point_id",
                "logitrail: a pickup point id is 24 lowercase hex characters",
            )
        )
    return problems


def to_order(order: CanonicalOrder, *, reference: str) -> dict[str, Any]:
    """The body of `POST /orders/_create` (and of an update) for a canonical order, known at
    Logitrail by `reference`."""
    rcpt, addr = order.recipient, order.address
    customer: dict[str, Any] = {
        "firstName": rcpt.first_name,
        "lastName": rcpt.last_name,
        "address": ", ".join(p for p in (addr.line1, addr.line2) if p),
        "postalCode": addr.postal_code,
        "city": addr.city,
        "countryCode": addr.country_code,
    }
    _put(customer, "organizationName", rcpt.company)
    _put(customer, "email", rcpt.email)
    _put(customer, "phoneNumber", rcpt.phone)
    body: dict[str, Any] = {
        "merchants_order": reference,
        "customer": customer,
        "products": [_product(line) for line in order.lines],
        "destination": _destination(order),
    }
    _put(body, "not_before", _day(order.not_before))
    _put(body, "not_after", _day(order.not_after))
    if order.tags:
        body["tags"] = list(order.tags)
    if order.language:
        body["language"] = order.language if order.language in LANGUAGES else "en"
    _put(body, "currency", order.currency)
    return body


def order_id_of(body: Any) -> str | None:
    """The 24-hex id in a create/update/confirm answer, or None if it is not there."""
    if isinstance(body, dict):
        value = body.get("order_id")
        if isinstance(value, str) and HEX24.match(value):
            return value
    return None


def merchants_order_of(raw: dict[str, Any]) -> str | None:
    """`merchants_order` as a string, whether Logitrail stored it as a string or `{id, time}`."""
    value = raw.get("merchants_order")
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else None


def find_params(reference: str) -> dict[str, str]:
    """The query of `GET /orders` that looks an order up by its reference."""
    return {FIND_PARAM: reference}


def found_ids(body: Any, reference: str) -> list[str] | None:
    """Ids of the orders (not deleted) a `GET /orders` answer holds under `reference`; None
    when the answer holds no orders list."""
    orders = body.get("orders") if isinstance(body, dict) else None
    if not isinstance(orders, list):
        return None
    return [
        str(o["id"])
        for o in orders
        if isinstance(o, dict)
        and merchants_order_of(o) == reference
        and o.get("status") != "deleted"
        and isinstance(o.get("id"), str)
    ]


def confirmed_of(provider_order_id: str, body: Any) -> ProviderOrder:
    """The order as a `POST /orders/{id}/_confirm` answer shows it: confirmed, with its
    tracking where the answer has it."""
    body = body if isinstance(body, dict) else {}
    return ProviderOrder(
        provider_order_id,
        STATUSES["confirmed"],
        "confirmed",
        tracking_code=body.get("tracking_code"),
        tracking_url=body.get("tracking_url"),
    )


def order_of(provider_order_id: str, body: Any) -> Parsed[ProviderOrder] | None:
    """The order of a `GET /orders/{id}` answer (`{"order": {...}}`); None when it has none
    with a status. An unknown status is taken as in progress."""
    order = body.get("order") if isinstance(body, dict) else None
    if not isinstance(order, dict) or not isinstance(order.get("status"), str):
        return None
    raw = order["status"]
    status = status_of(raw)
    found = ProviderOrder(
        provider_order_id,
        Status.IN_PROGRESS if status is None else status,
        raw,
        tracking_code=order.get("tracking_code"),
        tracking_url=order.get("tracking_url"),
    )
    return Parsed(found, raw if status is None else None)


def _product(line: Line) -> dict[str, Any]:
    out: dict[str, Any] = {"qty": line.quantity, "merchants_id": line.sku}
    _put(out, "name", line.name)
    if line.unit_price is not None:
        out["unit_price"] = float(line.unit_price)
    if line.tax_percent is not None:
        out["tax_percent"] = float(line.tax_percent)
    _put(out, "gtin", line.gtin)
    _put(out, "weight", line.weight_g)
    if line.dimensions_mm is not None:
        out["dimensions"] = list(line.dimensions_mm)
    return out


def _destination(order: CanonicalOrder) -> str:
    delivery = order.delivery
    if delivery.type is DeliveryType.PICKUP_POINT and delivery.pickup_point_id:
        return delivery.pickup_point_id
    return "letter" if delivery.type is DeliveryType.LETTER else "home"


def _day(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    return (value.date() if isinstance(value, datetime) else value).isoformat()


def _put(target: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        target[key] = value
