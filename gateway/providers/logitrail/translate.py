"""Canonical order ⇄ Logitrail order JSON, canonical return ⇄ Logitrail `order_return`.
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
- A return's `name` is the gateway's return id (the reconciliation key, `q` searches it);
  `merchant_reference` is the return's tenant-qualified reference; return lines go as
  Logitrail product ids read off the original order, and no lines means `items` left out
  (Logitrail copies them).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from gateway.errors import FieldError
from gateway.model.orders import CanonicalOrder, DeliveryType, Line, Status
from gateway.model.returns import CanonicalReturn, Decision, ReturnStatus

LANGUAGES = frozenset({"fi", "en", "sv"})
_HEX24 = re.compile(r"^[0-9a-f]{24}$")

STATUSES: dict[str, Status] = {
    "draft": Status.ACCEPTED,  # created but not confirmed: not yet "submitted"
    "passive": Status.ACCEPTED,
    "confirmed": Status.SUBMITTED,
    "waiting_products": Status.ON_HOLD,  # awaiting stock
    "problem": Status.EXCEPTION,
    "processing": Status.IN_PROGRESS,
    "processed": Status.SHIPPED,  # legacy docs: processed = shipped
    "returning": Status.EXCEPTION,  # shipment on its way back to the warehouse
    "returned": Status.EXCEPTION,
    "cancelled": Status.CANCELLED,  # cancelled after confirm
    "deleted": Status.CANCELLED,  # deleted before confirm
}
"""Logitrail order status → canonical status: the one table."""

CONFIRMED_OR_LATER = frozenset(STATUSES) - {"draft", "passive", "deleted"}
"""Statuses that prove a confirm already happened (used when a confirm is resumed)."""

FIELD_LOCS: dict[str, str] = {
    "customer.firstName": "recipient.first_name",
    "customer.lastName": "recipient.last_name",
    "customer.address": "address.line1",
    "customer.postalCode": "address.postal_code",
    "customer.city": "address.city",
    "customer.countryCode": "address.country_code",
    "customer.email": "recipient.email",
    "customer.phoneNumber": "recipient.phone",
    "product.merchants_id": "lines[].sku",
    "product.qty": "lines[].quantity",
    "destination": "delivery.pickup_point_id",
    "language": "language",
}
"""Logitrail field (as it appears in an error code) → canonical field, for 422 bodies."""


def status_of(raw: str) -> Status | None:
    """Canonical status of a Logitrail status; None when Logitrail sent one we do not know."""
    return STATUSES.get(raw)


def check(order: CanonicalOrder) -> list[FieldError]:
    """Logitrail rules a canonical order breaks, found before any call."""
    problems = []
    point = order.delivery.pickup_point_id
    if order.delivery.type is DeliveryType.PICKUP_POINT and point and not _HEX24.match(point):
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
        if isinstance(value, str) and _HEX24.match(value):
            return value
    return None


def merchants_order_of(raw: dict[str, Any]) -> str | None:
    """`merchants_order` as a string, whether Logitrail stored it as a string or `{id, time}`."""
    value = raw.get("merchants_order")
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else None


def field_errors(code: str | None, message: str) -> list[FieldError]:
    """`customer.firstName.required` → a field error on `recipient.first_name`."""
    if not code or "." not in code:
        return []
    provider_field = code.rsplit(".", 1)[0]
    loc = FIELD_LOCS.get(provider_field, provider_field)
    return [FieldError(loc, f"logitrail: {message or code}")]


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


# returns -------------------------------------------------------------------------------------

RETURN_STATUSES: dict[str, ReturnStatus] = {
    "preinfo_received": ReturnStatus.REGISTERED,  # announced, nothing arrived yet
    "pending": ReturnStatus.REGISTERED,  # waiting for the parcel
    "pending_merchant_decision": ReturnStatus.AWAITING_DECISION,
    "accepted": ReturnStatus.IN_PROGRESS,  # the warehouse took the parcel in
    "resend_pending": ReturnStatus.IN_PROGRESS,
    "restocking_pending": ReturnStatus.IN_PROGRESS,
    "processing": ReturnStatus.IN_PROGRESS,
    "processed": ReturnStatus.COMPLETED,
    "deleted": ReturnStatus.CANCELLED,  # what cancel does (a soft delete)
}
"""Logitrail return status → canonical return status: the one table."""

CANCELLABLE_RETURN_STATUSES = frozenset({"pending", "preinfo_received"})


def return_status_of(raw: str) -> ReturnStatus | None:
    return RETURN_STATUSES.get(raw)


def check_return(ret: CanonicalReturn) -> list[FieldError]:
    """Logitrail rules a canonical return breaks, found before any call: none known yet."""
    del ret
    return []


def to_return(
    gateway_id: str,
    ret: CanonicalReturn,
    provider_order_id: str,
    product_ids: Mapping[str, str],
    *,
    reference: str | None,
) -> dict[str, Any]:
    """The body of `POST /order-returns`.

    `name` carries the gateway's return id: Logitrail's list searches it (`q`), which is how a
    create whose answer was lost is found again. `items` is left out when the return names no
    lines, so Logitrail copies them from the original order; otherwise each SKU goes as the
    Logitrail product id (`product_ids`, SKU → id, read from the original order).
    """
    body: dict[str, Any] = {
        "name": gateway_id,
        "type": ret.type.value,
        "original_order": {"id": provider_order_id},
    }
    _put(body, "merchant_reference", reference)
    _put(body, "remarks", ret.remarks)
    _put(body, "handling_instructions", ret.handling_instructions)
    if ret.lines is not None:
        body["items"] = [
            {
                "product": {"id": product_ids[line.sku]},
                "quantity": line.quantity,
                "original_order": {"id": provider_order_id},
            }
            for line in ret.lines
        ]
    return {"order_return": body}


def unknown_skus(ret: CanonicalReturn, product_ids: Mapping[str, str]) -> list[FieldError]:
    """Return lines whose SKU the original order at Logitrail does not hold."""
    return [
        FieldError(f"lines[{i}].sku", f"logitrail: the original order holds no {line.sku!r}")
        for i, line in enumerate(ret.lines or [])
        if line.sku not in product_ids
    ]


def product_ids_of(order: Any) -> dict[str, str]:
    """SKU → Logitrail product id from an order as `GET /orders/{id}` shows it (`items`)."""
    out: dict[str, str] = {}
    items = order.get("items") if isinstance(order, dict) else None
    for item in items if isinstance(items, list) else []:
        product = item.get("product") if isinstance(item, dict) else None
        if isinstance(product, dict):
            sku, pid = product.get("sku"), product.get("id")
            if isinstance(sku, str) and isinstance(pid, str) and _HEX24.match(pid):
                out[sku] = pid
    return out


def return_of(body: Any) -> dict[str, Any] | None:
    """The `order_return` object of an answer, if it is one with an id and a status."""
    ret = body.get("order_return") if isinstance(body, dict) else None
    if isinstance(ret, dict) and _is_return(ret):
        return ret
    return None


def returns_of(body: Any) -> list[dict[str, Any]] | None:
    """The rows of a list answer (`{"order_returns": [...], "total"}`), or None if not one."""
    rows = body.get("order_returns") if isinstance(body, dict) else None
    if not isinstance(rows, list):
        return None
    return [r for r in rows if isinstance(r, dict) and _is_return(r)]


def decision_of(ret: dict[str, Any]) -> Decision | None:
    value = ret.get("merchant_decision")
    code = value.get("code") if isinstance(value, dict) else value
    try:
        return Decision(code) if isinstance(code, str) else None
    except ValueError:
        return None


def to_decision(decision: Decision) -> dict[str, Any]:
    """The body of `POST /order-returns/{id}/merchant-decision`."""
    return {"merchant_decision": {"code": decision.value}}


def _is_return(ret: dict[str, Any]) -> bool:
    rid, status = ret.get("id"), ret.get("status")
    return isinstance(rid, str) and bool(_HEX24.match(rid)) and isinstance(status, str)
