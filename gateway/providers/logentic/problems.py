"""Logentic's error answers → the gateway's error tree. Pure: the adapter logs what this returns.

Documented: the HTTP statuses; the body is not. Assumed: `{"message", "errors": {"<field>":
["…"]}}` (docs/providers/logentic.md, "Errors"). A 422 to a change saying the order is no
longer pending is `Conflict` (`not-pending`); everything else goes by HTTP status, `errors`
naming canonical fields.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from gateway.errors import Conflict, FieldError, Invalid, ProviderError
from gateway.model.orders import Line
from gateway.providers.errors import error_for_status

NAME = "logentic"

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


def to_error(op: str, status: int, body: Any, *, correlation_id: str | None) -> ProviderError:
    """The error a non-2xx answer to `op` is (`update` is also how an order is cancelled)."""
    body = body if isinstance(body, dict) else {}
    message = str(body.get("message") or f"HTTP {status}")
    if op == "update" and status == 422 and "pending" in message.lower():
        return Conflict(
            NAME, message, code="not-pending", correlation_id=correlation_id, status=status
        )
    return error_for_status(
        NAME,
        op,
        status,
        message,
        code=None,
        correlation_id=correlation_id,
        fields=field_errors(body),
    )


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


def unknown_items(missing: Sequence[tuple[int, Line]], *, stopped_after: int | None) -> Invalid:
    """The refusal of an order whose SKUs (`missing`: index, line) Logentic has no item for;
    `stopped_after`: the bound of unknown SKUs looked up, where it stopped the look-ups."""
    stopped = f" (stopped looking after {stopped_after} unknown SKUs)" if stopped_after else ""
    return Invalid(
        NAME,
        "no Logentic item for SKU " + ", ".join(sorted({m.sku for _i, m in missing})) + stopped,
        code="unknown-sku",
        fields=[
            FieldError(f"lines[{i}].sku", f"logentic has no item with external_name {line.sku!r}")
            for i, line in missing
        ],
    )
