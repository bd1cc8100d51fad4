"""Request bodies as the Flexport sandbox checks them (docs/providers/flexport.md).

Missing or mistyped fields are `400` ("Input on the request did not pass validation"), rules
about valid data are `422`; both name every failing field in `invalid-params`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from aiohttp import web

from .errors import ApiError

MAX_B2B_ITEMS = 1000
SHIPPING_PARTNERS = ("FLEXPORT", "SELLER", "THIRD_PARTY", "RECEIVER", "COLLECT")
SHIPPING_TYPES = ("LTL", "FTL", "PARCEL")
SHIPPING_SPEEDS = ("ONE_DAY", "TWO_DAY", "THREE_DAY", "STANDARD")
UOMS = ("EACH", "CASE")


async def json_body(request: web.Request) -> Any:
    if request.content_type != "application/json":
        raise ApiError(415, "Content-Type must be application/json.")
    try:
        return orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise ApiError(400, "Malformed syntax in the request.") from None


class Problems:
    def __init__(self) -> None:
        self.bad: list[dict[str, str]] = []
        self.invalid: list[dict[str, str]] = []

    def missing(self, name: str, reason: str = "is required") -> None:
        self.bad.append({"name": name, "reason": reason})

    def rule(self, name: str, reason: str) -> None:
        self.invalid.append({"name": name, "reason": reason})

    def raise_any(self) -> None:
        if self.bad:
            raise ApiError(
                400, "Input on the request did not pass validation.", invalid_params=self.bad
            )
        if self.invalid:
            raise ApiError(422, "The request contains invalid data.", invalid_params=self.invalid)


def text(p: Problems, body: dict[str, Any], key: str, where: str, *, required: bool) -> None:
    value = body.get(key)
    if value is None or value == "":
        if required:
            p.missing(f"{where}{key}")
    elif not isinstance(value, str):
        p.missing(f"{where}{key}", "must be a string")


def quantity(p: Problems, item: dict[str, Any], where: str) -> None:
    value = item.get("quantity")
    if isinstance(value, bool) or not isinstance(value, int | float):
        p.missing(f"{where}.quantity", "is required and must be a number")
    elif value <= 0:
        p.rule(f"{where}.quantity", "must be greater than 0")


def items(p: Problems, value: Any, name: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The objects of the required, non-empty array `name` (`value`), each with where it is,
    e.g. `lineItems[0]`; what is not an array or an object is a problem."""
    if not isinstance(value, list) or not value:
        p.missing(name, "is required and must not be empty")
        return
    for i, item in enumerate(value):
        where = f"{name}[{i}]"
        if isinstance(item, dict):
            yield where, item
        else:
            p.missing(where, "must be an object")


def d2c_order(body: Any, known_skus: set[str]) -> dict[str, Any]:
    """`CreateOrderInput`: `externalOrderId`, `address{address1, city, countryCode}`,
    `lineItems[{logisticsSku, quantity}]` are required."""
    p = Problems()
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    text(p, body, "externalOrderId", "", required=True)
    address = body.get("address")
    if not isinstance(address, dict):
        p.missing("address")
    else:
        for key in ("address1", "city", "countryCode"):
            text(p, address, key, "address.", required=True)
        for key in ("address2", "provinceCode", "zip", "name", "company", "phone"):
            text(p, address, key, "address.", required=False)
        if address.get("countryCode") == "US" and not address.get("provinceCode"):
            p.rule("address.provinceCode", "a US address needs its 2-letter state")
    for where, item in items(p, body.get("lineItems"), "lineItems"):
        text(p, item, "logisticsSku", f"{where}.", required=True)
        quantity(p, item, where)
        sku = item.get("logisticsSku")
        if isinstance(sku, str) and sku and sku not in known_skus:
            p.rule(f"{where}.logisticsSku", f"unknown logisticsSku {sku}")
    p.raise_any()
    return body


def b2b_order(body: Any, *, today: date) -> dict[str, Any]:
    """`POST /orders/rs`: `type` B2B, `orderItems`, `shipToAddress`, and Flexport's rules."""
    p = Problems()
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    kind = body.get("type")
    if kind is None:
        p.missing("type")
    elif kind != "B2B":
        p.rule("type", "only B2B is supported (EDI and DROP_SHIP are not yet)")
    text(p, body, "externalId", "", required=False)
    ship_to = body.get("shipToAddress")
    if not isinstance(ship_to, dict):
        p.missing("shipToAddress")
    else:
        for key in ("name", "street1", "city", "zip", "state", "country"):
            text(p, ship_to, key, "shipToAddress.", required=True)
    _b2b_items(p, body.get("orderItems"))
    _ship_by(p, body.get("shipBy"), today)
    _transport(p, body.get("transportationDetails"))
    p.raise_any()
    return body


def _b2b_items(p: Problems, lines: Any) -> None:
    if isinstance(lines, list) and len(lines) > MAX_B2B_ITEMS:
        p.rule("orderItems", f"a maximum of {MAX_B2B_ITEMS} line items are allowed per order")
    seen: dict[str, str] = {}
    for where, item in items(p, lines, "orderItems"):
        quantity(p, item, where)
        uom = item.get("quantityUOM")
        if uom not in UOMS:
            p.missing(f"{where}.quantityUOM", "is required: EACH or CASE")
        ident = item.get("logisticsSku")
        data = item.get("productData")
        if not ident:
            if not isinstance(data, dict) or not data.get("sku"):
                p.missing(f"{where}.productData.sku", "is required when logisticsSku is absent")
                continue
            ident = f"sku:{data['sku']}"
            gtin = data.get("gtin")
            if gtin is not None and (isinstance(gtin, bool) or not isinstance(gtin, int)):
                p.missing(f"{where}.productData.gtin", "must be an integer, not a string")
        if ident in seen:
            p.rule(
                f"{where}",
                f"duplicate SKU: already on {seen[ident]}; combine the quantities",
            )
        seen.setdefault(str(ident), where)


def _ship_by(p: Problems, value: Any, today: date) -> None:
    if value is None:
        return
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        p.missing("shipBy", "must be an ISO-8601 UTC timestamp")
        return
    earliest, days = today, 0
    while days < 3:
        earliest += timedelta(days=1)
        days += earliest.weekday() < 5
    if when.astimezone(UTC).date() < earliest:
        p.rule("shipBy", "must be at least three business days after the current UTC date")


def _transport(p: Problems, details: Any) -> None:
    if details is None:
        return
    if not isinstance(details, dict):
        p.missing("transportationDetails", "must be an object")
        return
    partner, kind = details.get("shippingPartner"), details.get("shippingType")
    if partner not in SHIPPING_PARTNERS:
        p.missing("transportationDetails.shippingPartner", f"one of {', '.join(SHIPPING_PARTNERS)}")
    if kind not in SHIPPING_TYPES:
        p.missing("transportationDetails.shippingType", f"one of {', '.join(SHIPPING_TYPES)}")
    speed = details.get("shippingSpeed")
    if speed is not None:
        if speed not in SHIPPING_SPEEDS:
            p.missing("transportationDetails.shippingSpeed", f"one of {', '.join(SHIPPING_SPEEDS)}")
        elif (partner, kind) != ("FLEXPORT", "PARCEL"):
            p.rule(
                "transportationDetails.shippingSpeed",
                "only valid when shippingPartner is FLEXPORT and shippingType is PARCEL",
            )
    if partner in ("THIRD_PARTY", "RECEIVER", "COLLECT"):
        if kind != "PARCEL":
            p.rule("transportationDetails.shippingType", f"{partner} ships PARCEL only")
        if partner != "COLLECT" and not isinstance(details.get("carrierAccountDetails"), dict):
            p.rule("transportationDetails.carrierAccountDetails", f"is required for {partner}")


def page_of(request: web.Request) -> tuple[int, int]:
    """`?limit=` (default 20, at most 100) and `&offset=` of a listing, as Flexport pages."""
    try:
        limit = int(request.query.get("limit", "20"))
        offset = int(request.query.get("offset", "0"))
    except ValueError:
        raise ApiError(400, "limit and offset must be integers.") from None
    if not 1 <= limit <= 100 or offset < 0:
        raise ApiError(400, "limit must be within 1..100 and offset at least 0.")
    return limit, offset
