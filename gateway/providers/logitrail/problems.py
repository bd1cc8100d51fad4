"""Logitrail's error answers → the gateway's error tree. Pure: the adapter logs what this returns.

Errors are `{"code", "message"}` (legacy Error handling; assumed of the current API too). A
400 with `order_not_passive` or an `order_already_*` code is `Conflict`, everything else goes
by HTTP status; a dotted field code (`customer.firstName.required`) names the canonical field.
"""

from __future__ import annotations

from typing import Any

from gateway.errors import Conflict, FieldError, ProviderError
from gateway.providers.errors import error_for_status

NAME = "logitrail"

CONFLICT_CODES = frozenset(
    {
        "order_not_passive",
        "order_already_processing",
        "order_already_processed",
        "order_already_cancelled",
    }
)

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


def to_error(op: str, status: int, body: Any, *, correlation_id: str | None) -> ProviderError:
    """The error a non-2xx answer to `op` is."""
    body = body if isinstance(body, dict) else {}
    code = body.get("code") if isinstance(body.get("code"), str) else None
    message = str(body.get("message") or code or f"HTTP {status}")
    if status == 400 and code in CONFLICT_CODES:
        return Conflict(NAME, message, code=code, correlation_id=correlation_id, status=status)
    return error_for_status(
        NAME,
        op,
        status,
        message,
        code=code,
        correlation_id=correlation_id,
        fields=field_errors(code, message),
    )


def field_errors(code: str | None, message: str) -> list[FieldError]:
    """`customer.firstName.required` → a field error on `recipient.first_name`."""
    if not code or "." not in code:
        return []
    provider_field = code.rsplit(".", 1)[0]
    loc = FIELD_LOCS.get(provider_field, provider_field)
    return [FieldError(loc, f"logitrail: {message or code}")]
