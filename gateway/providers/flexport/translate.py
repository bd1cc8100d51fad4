"""Canonical order ⇄ Flexport Logistics API 2026-02 (docs/providers/flexport.md): the
requests, and the answers read back. Pure: no I/O, no aiohttp.

Two APIs behind one provider: D2C orders (`POST /orders`) and B2B outbounds
(`POST /orders/rs`). Decisions Flexport's documentation leaves open, made here once:
- `externalOrderId` / `externalId` is the order's tenant-qualified reference
  (`storefront-fi/SHOP-1001`), unique across the Flexport account; the idempotency key is
  derived from the gateway's own order id (`idempotency_key`), so a retried or reconciled
  create of one gateway order is one Flexport order.
- Lines are by `logisticsSku` (looked up from the merchant SKU by the adapter). Repeated SKUs
  are merged (B2B forbids duplicates; D2C gets the same shape). A B2B line whose SKU has no
  `logisticsSku` goes as `productData{sku, gtin}`, `gtin` an integer as Flexport insists.
- B2B: `shipToAddress.state` is required, so a B2B order needs `address.region`;
  `ship_by` (else `not_before`) becomes `shipBy`, in UTC, which must fall at least three
  business days (Monday to Friday; holidays are not known) after today's UTC date.
- D2C: `not_after` becomes `promisedDeliveryByTime` (Flexport's SLA rule: it wins), `ship_by`
  `promisedShipByTime`;
  US addresses need a 2-letter `provinceCode`; Flexport has no pickup points.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from gateway.errors import FieldError
from gateway.model.orders import CanonicalOrder, DeliveryType, Kind, Speed, Status
from gateway.providers.base import Parsed, ProviderOrder
from gateway.providers.flexport.statuses import status_of

MAX_B2B_LINES = 1000
"""Flexport's Outbounds limitations: "A maximum of 1,000 line items are allowed per order"."""
SHIP_BY_BUSINESS_DAYS = 3

B2B_SPEEDS = {Speed.ECONOMY: "STANDARD", Speed.STANDARD: "STANDARD", Speed.EXPRESS: "TWO_DAY"}

_US_STATE = re.compile(r"^[A-Za-z]{2}$")


def kind_of(order: CanonicalOrder, warehouse_kind: Kind | None) -> Kind:
    """Which API takes the order: the warehouse's pinned kind, else the order's own."""
    return warehouse_kind or order.kind


def idempotency_key(gateway_id: str, what: str = "create") -> str:
    """The `idempotency-key` of a call about one gateway order: stable across retries."""
    return f"{gateway_id}:{what}"


def idempotent(gateway_id: str, what: str = "create") -> dict[str, str]:
    """The headers that make a resent call about one gateway order the same call."""
    return {"idempotency-key": idempotency_key(gateway_id, what)}


@dataclass(frozen=True, slots=True)
class MergedLine:
    sku: str
    quantity: int
    first_index: int
    gtin: str | None
    unit_price: Decimal | None
    """Quantity-weighted mean of the merged lines' prices (None if any line has none)."""


def merged_lines(order: CanonicalOrder) -> list[MergedLine]:
    """One line per SKU, in first-seen order, quantities summed."""
    by_sku: dict[str, list[int]] = {}
    for i, line in enumerate(order.lines):
        by_sku.setdefault(line.sku, []).append(i)
    out = []
    for sku, indexes in by_sku.items():
        lines = [order.lines[i] for i in indexes]
        quantity = sum(line.quantity for line in lines)
        prices = [line.unit_price for line in lines]
        price = None
        if all(p is not None for p in prices):
            total = sum(
                (p * line.quantity for p, line in zip(prices, lines, strict=True) if p is not None),
                Decimal(0),
            )
            price = (total / quantity).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        gtin = next((line.gtin for line in lines if line.gtin), None)
        out.append(MergedLine(sku, quantity, indexes[0], gtin, price))
    return out


def check(order: CanonicalOrder, kind: Kind, *, today: date) -> list[FieldError]:
    """Flexport rules the order breaks, found without a call (→ 422 before sending)."""
    problems: list[FieldError] = []
    addr = order.address
    gtins: dict[str, tuple[int, str]] = {}
    for i, line in enumerate(order.lines):
        if line.gtin is None:
            continue
        seen = gtins.setdefault(line.sku, (i, line.gtin))
        if seen[1] != line.gtin:
            problems.append(
                FieldError(
                    f"lines[{i}].gtin",
                    f"flexport merges repeated SKUs into one line; line {seen[0]} has the same "
                    f"SKU {line.sku!r} with GTIN {seen[1]}",
                )
            )
    if kind is Kind.B2B:
        if len(merged_lines(order)) > MAX_B2B_LINES:
            problems.append(
                FieldError(
                    "lines",
                    f"flexport B2B outbounds take at most {MAX_B2B_LINES} line items "
                    "(after merging repeated SKUs)",
                )
            )
        if not addr.region:
            problems.append(
                FieldError("address.region", "flexport B2B requires shipToAddress.state")
            )
        found = ship_by_of(order)
        if found is not None:
            field, value = found
            earliest = add_business_days(today, SHIP_BY_BUSINESS_DAYS)
            if _day(value) < earliest:
                problems.append(
                    FieldError(
                        field,
                        "flexport B2B shipBy must be at least three business days after today "
                        f"(earliest {earliest.isoformat()})",
                    )
                )
    elif order.delivery.type is DeliveryType.PICKUP_POINT:
        problems.append(FieldError("delivery.type", "flexport D2C orders have no pickup points"))
    # B2B without a region is reported above; a US region must be the 2-letter state.
    needs_state = addr.country_code == "US" and (kind is Kind.D2C or addr.region is not None)
    if needs_state and not (addr.region and _US_STATE.match(addr.region)):
        field = "provinceCode" if kind is Kind.D2C else "shipToAddress.state"
        problems.append(
            FieldError(
                "address.region",
                f"flexport requires {field}: the 2-letter state for US addresses",
            )
        )
    return problems


def add_business_days(start: date, days: int) -> date:
    current = start
    while days > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days -= 1
    return current


def _day(value: datetime | date) -> date:
    return value.astimezone(UTC).date() if isinstance(value, datetime) else value


def _instant(value: datetime | date, *, end_of_day: bool) -> str:
    if isinstance(value, datetime):
        moment = value.astimezone(UTC)
    else:
        moment = datetime.combine(value, time(23, 59, 59) if end_of_day else time(), tzinfo=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _region(region: str | None) -> str | None:
    """A state/province code in capitals (`nv` → `NV`); a region name as given."""
    if not region:
        return None
    return region.upper() if len(region) <= 3 else region


def _name(order: CanonicalOrder) -> str:
    return f"{order.recipient.first_name} {order.recipient.last_name}"


def address_of(order: CanonicalOrder) -> dict[str, Any]:
    """The order's recipient and address as a Flexport address (orders, return sources)."""
    rcpt, addr = order.recipient, order.address
    address: dict[str, Any] = {
        "name": _name(order),
        "address1": addr.line1,
        "city": addr.city,
        "countryCode": addr.country_code,
        "zip": addr.postal_code,
    }
    optional = {
        "address2": addr.line2,
        "provinceCode": _region(addr.region),
        "company": rcpt.company,
        "phone": rcpt.phone,
    }
    return address | {k: v for k, v in optional.items() if v}


def to_d2c(
    order: CanonicalOrder,
    *,
    reference: str,
    logistics_skus: Mapping[str, str],
    ship_methods: Mapping[Speed, str] | None = None,
) -> dict[str, Any]:
    """The body of `POST /orders` (`CreateOrderInput`). Every SKU must be in `logistics_skus`."""
    address = address_of(order)
    items = []
    for line in merged_lines(order):
        item: dict[str, Any] = {"logisticsSku": logistics_skus[line.sku], "quantity": line.quantity}
        if line.unit_price is not None and order.currency:
            item["customsUnitValue"] = {
                "amount": float(line.unit_price),
                "currencyCode": order.currency,
            }
        items.append(item)
    body: dict[str, Any] = {
        "externalOrderId": reference,
        "address": address,
        "lineItems": items,
    }
    if order.not_after is not None:
        body["promisedDeliveryByTime"] = _instant(order.not_after, end_of_day=True)
    if order.ship_by is not None:
        body["promisedShipByTime"] = _instant(order.ship_by, end_of_day=False)
    method = (ship_methods or {}).get(order.delivery.speed)
    if method:
        body["shipMethod"] = method
    return body


def to_b2b(
    order: CanonicalOrder,
    *,
    reference: str,
    logistics_skus: Mapping[str, str],
    shipping_partner: str = "FLEXPORT",
    shipping_type: str = "PARCEL",
) -> dict[str, Any]:
    """The body of `POST /orders/rs`. SKUs without a `logisticsSku` go as `productData`."""
    rcpt, addr = order.recipient, order.address
    ship_to: dict[str, Any] = {
        "name": _name(order),
        "street1": addr.line1,
        "city": addr.city,
        "zip": addr.postal_code,
        "state": _region(addr.region) or "",
        "country": addr.country_code,
        "isResidential": False,
    }
    optional = {
        "company": rcpt.company,
        "street2": addr.line2,
        "phone": rcpt.phone,
        "email": rcpt.email,
    }
    ship_to |= {k: v for k, v in optional.items() if v}
    items = []
    for line in merged_lines(order):
        item: dict[str, Any] = {"quantity": line.quantity, "quantityUOM": "EACH"}
        known = logistics_skus.get(line.sku)
        if known is not None:
            item["logisticsSku"] = known
        else:
            data: dict[str, Any] = {"sku": line.sku}
            if line.gtin:
                data["gtin"] = int(line.gtin)  # "gtin is an integer, not a string"
            item["productData"] = data
        items.append(item)
    transport: dict[str, Any] = {
        "shippingPartner": shipping_partner,
        "shippingType": shipping_type,
    }
    # Flexport: shippingSpeed "is only valid when shippingPartner is FLEXPORT and
    # shippingType is PARCEL"; any other combination is a validation error.
    if shipping_partner == "FLEXPORT" and shipping_type == "PARCEL":
        transport["shippingSpeed"] = B2B_SPEEDS[order.delivery.speed]
    body: dict[str, Any] = {
        "type": "B2B",
        "externalId": reference,
        "shipToAddress": ship_to,
        "orderItems": items,
        "transportationDetails": transport,
    }
    found = ship_by_of(order)
    if found is not None:
        body["shipBy"] = _instant(found[1], end_of_day=False)
    return body


def ship_by_of(order: CanonicalOrder) -> tuple[str, datetime | date] | None:
    """What a B2B outbound's `shipBy` is, and the canonical field it comes from: `ship_by`,
    else `not_before` (the earliest day it may go, which Flexport schedules the order for)."""
    if order.ship_by is not None:
        return "ship_by", order.ship_by
    if order.not_before is not None:
        return "not_before", order.not_before
    return None


def order_id_of(kind: Kind, body: Any) -> str | None:
    """The Flexport id in a create/get answer (`id` for D2C, `orderId` for B2B), as a string."""
    value = body.get("id" if kind is Kind.D2C else "orderId") if isinstance(body, dict) else None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) and value else None


def same_order(kind: Kind, order: CanonicalOrder, reference: str, found: Any) -> bool:
    """Whether an order found by its reference is the one `order` would create.

    Compared on what the answer really carries, leniently (Flexport may resolve `productData`
    into a `logisticsSku`, or report quantities as numbers of either type): the reference it
    echoes, the line quantities, and the destination's postal code where the answer has a
    destination — the D2C order has `address`, the B2B outbound documents none. A different
    order under the same reference fails this.
    """
    if not isinstance(found, dict):
        return False
    items_key, ref_key = (
        ("lineItems", "externalOrderId") if kind is Kind.D2C else ("orderItems", "externalId")
    )
    echoed = found.get(ref_key)
    if echoed is not None and echoed != reference:
        return False
    items = found.get(items_key)
    got = sorted(
        float(i.get("quantity") or 0)
        for i in (items if isinstance(items, list) else [])
        if isinstance(i, dict)
    )
    want = sorted(float(line.quantity) for line in merged_lines(order))
    addr = found.get("address" if kind is Kind.D2C else "shipToAddress")
    if not isinstance(addr, dict) or not addr.get("zip"):
        return got == want  # no destination in the answer: nothing to tell apart by
    return got == want and _postal(str(addr["zip"])) == _postal(order.address.postal_code)


def _postal(value: str) -> str:
    return value.replace(" ", "").upper()


def raw_status(kind: Kind, body: Any) -> str | None:
    """The order's Flexport status: B2B `orderStatus`; D2C `state.internalStatus`, with
    `CREATED/IN_PROGRESS` while fulfilment runs and `CREATED/STOPPED` when it stopped."""
    if not isinstance(body, dict):
        return None
    if kind is Kind.B2B:
        value = body.get("orderStatus")
        return value.upper() if isinstance(value, str) else None
    state = body.get("state")
    if not isinstance(state, dict) or not isinstance(state.get("internalStatus"), str):
        return None
    internal = str(state["internalStatus"]).upper()
    if internal == "CREATED":
        if str(state.get("fulfillmentStatus") or "").upper() == "STOPPED":
            return "CREATED/STOPPED"
        if state.get("fulfillmentInProgress") is True:
            return "CREATED/IN_PROGRESS"
    return internal


def tracking_of(body: Any) -> tuple[str | None, str | None]:
    """The first shipment label's tracking code and URL, if any."""
    shipments = body.get("shipments") if isinstance(body, dict) else None
    for shipment in shipments if isinstance(shipments, list) else []:
        if not isinstance(shipment, dict):
            continue
        for package in shipment.get("packages") or []:
            label = package.get("label") if isinstance(package, dict) else None
            if isinstance(label, dict) and label.get("trackingCode"):
                return str(label["trackingCode"]), label.get("trackingUrl")
        if shipment.get("trackingCode"):
            return str(shipment["trackingCode"]), shipment.get("trackingUrl")
    return None, None


def order_of(kind: Kind, provider_order_id: str, body: Any) -> Parsed[ProviderOrder] | None:
    """The order of a get (or cancel) answer of the `kind` API; None when it has no status.
    An unknown status is taken as in progress."""
    raw = raw_status(kind, body)
    if raw is None:
        return None
    status = status_of(kind, raw)
    code, url = tracking_of(body)
    found = ProviderOrder(
        provider_order_id,
        Status.IN_PROGRESS if status is None else status,
        raw,
        tracking_code=code,
        tracking_url=url,
    )
    return Parsed(found, raw if status is None else None)
