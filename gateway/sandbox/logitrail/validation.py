"""Validation of the order JSON (create and update), first failure wins.

Codes follow the documented `product.merchants_id.required` pattern:

| code | when |
|---|---|
| `unknown` | body is not a JSON object |
| `merchants_order.invalid` | neither a non-empty string nor `{"id", "time"}` with an id |
| `customer.required` | no `customer` object (e.g. the body was wrapped in `{"order": …}`) |
| `customer.<field>.required` | `firstName`, `lastName`, `address`, `postalCode`, `city` empty |
| `customer.countryCode.invalid` | not two upper-case letters (absent/null means `FI`) |
| `products.required` | neither `products_all` nor `products`, or an empty array |
| `products.invalid` | the lines are not an array |
| `product.invalid` | a line is not an object |
| `product.qty.required` / `product.qty.invalid` | `qty` missing / not a positive integer |
| `product.merchants_id.required` | `merchants_id` missing, empty or not a string |
| `product.weight.invalid` | line `weight` (grams) not a number ≥ 0 |
| `product.dimensions.invalid` | line `dimensions` (mm) neither "W x H x D" nor 3 numbers ≥ 0 |
| `item_source_id_missing` | some lines have `source_id`, some do not |
| `destination.invalid` | not a 24-hex pickup point id, `letter` or `home` |
| `language.invalid` | not one of `fi`, `en`, `sv` |
| `currency.invalid` | not three upper-case letters |
| `tags.invalid` | `tags`/`tags_all` not an array of strings |
"""

from __future__ import annotations

import re
from typing import Any

from .errors import ApiError, invalid
from .state import order_products

CUSTOMER_REQUIRED = ("firstName", "lastName", "address", "postalCode", "city")
LANGUAGES = frozenset({"fi", "en", "sv"})
_HEX24 = re.compile(r"[0-9a-f]{24}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_NUM = r"\s*\d+(?:\.\d+)?\s*"
_DIMENSIONS = re.compile(_NUM + r"[xX×]" + _NUM + r"[xX×]" + _NUM)


def validate_order(body: Any) -> str:
    """Raise `ApiError` (400) for the first problem; return the merchant's order id ("" if none)."""
    if not isinstance(body, dict):
        raise ApiError(400, "unknown", "the body must be a JSON object (the order JSON)")
    merchants_order = _merchants_order(body.get("merchants_order"))
    _customer(body.get("customer"))
    _products(body)
    _optional_fields(body)
    return merchants_order


def _merchants_order(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        value = value.get("id")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value
    raise invalid(
        "merchants_order.invalid",
        'merchants_order must be a non-empty string or {"id": ..., "time": ...}',
    )


def _customer(customer: Any) -> None:
    if not isinstance(customer, dict):
        raise invalid(
            "customer.required",
            "customer object is required (send the order JSON itself, not {'order': ...})",
        )
    for name in CUSTOMER_REQUIRED:
        value = customer.get(name)
        if not isinstance(value, str) or not value.strip():
            raise invalid(f"customer.{name}.required", f"customer.{name} is required")
    country = customer.get("countryCode")
    if country is not None and not (isinstance(country, str) and _COUNTRY.fullmatch(country)):
        raise invalid(
            "customer.countryCode.invalid", "customer.countryCode must be a 2-letter country code"
        )


def _products(body: dict[str, Any]) -> None:
    lines = order_products(body)
    if lines is None or lines == []:
        raise invalid("products.required", "products (or products_all) must not be empty")
    if not isinstance(lines, list):
        raise invalid("products.invalid", "products (or products_all) must be an array")
    for index, line in enumerate(lines):
        _product(index, line)
    with_source = sum(1 for line in lines if line.get("source_id") is not None)
    if 0 < with_source < len(lines):
        raise invalid(
            "item_source_id_missing",
            "some product lines have source_id and some do not; give it on every line",
        )


def _product(index: int, line: Any) -> None:
    where = f"products[{index}]"
    if not isinstance(line, dict):
        raise invalid("product.invalid", f"{where} must be an object")
    if "qty" not in line or line["qty"] is None:
        raise invalid("product.qty.required", f"{where}.qty is required")
    qty = line["qty"]
    if isinstance(qty, bool) or not isinstance(qty, int) or qty < 1:
        raise invalid("product.qty.invalid", f"{where}.qty must be a positive integer")
    merchants_id = line.get("merchants_id")
    if not isinstance(merchants_id, str) or not merchants_id.strip():
        raise invalid("product.merchants_id.required", f"{where}.merchants_id (SKU) is required")
    weight = line.get("weight")
    if weight is not None and not _non_negative(weight):
        raise invalid("product.weight.invalid", f"{where}.weight must be a number of grams >= 0")
    dimensions = line.get("dimensions")
    if dimensions is not None and not _dimensions_ok(dimensions):
        raise invalid(
            "product.dimensions.invalid",
            f'{where}.dimensions must be "W x H x D" or [w, h, d] in millimetres',
        )


def _optional_fields(body: dict[str, Any]) -> None:
    destination = body.get("destination")
    if destination is not None and not (
        isinstance(destination, str)
        and (destination in ("letter", "home") or _HEX24.fullmatch(destination))
    ):
        raise invalid(
            "destination.invalid", "destination must be a 24-hex pickup point id, letter or home"
        )
    language = body.get("language")
    if language is not None and not (isinstance(language, str) and language in LANGUAGES):
        raise invalid("language.invalid", "language must be one of fi, en, sv")
    currency = body.get("currency")
    if currency is not None and not (isinstance(currency, str) and _CURRENCY.fullmatch(currency)):
        raise invalid("currency.invalid", "currency must be a 3-letter currency code")
    for name in ("tags", "tags_all"):
        tags = body.get(name)
        if tags is not None and not (
            isinstance(tags, list) and all(isinstance(t, str) for t in tags)
        ):
            raise invalid("tags.invalid", f"{name} must be an array of strings")


def _non_negative(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def _dimensions_ok(value: Any) -> bool:
    if isinstance(value, str):
        return _DIMENSIONS.fullmatch(value) is not None
    return isinstance(value, list) and len(value) == 3 and all(_non_negative(v) for v in value)
