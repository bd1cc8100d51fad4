"""Flexport's `application/problem+json` answers → the gateway's error tree (Flexport's Errors).

`{type, title, detail, instance}` plus, where one applies, a six-digit `code` (`407001`
invalid order status, `4050xx` OAuth) and field errors (`invalid-params`). The response's
`x-correlation-id` is kept (the problem's `instance` where the header is missing). Pure: the
adapter logs and records what this returns.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from gateway.errors import Conflict, FieldError, Forbidden, Invalid, ProviderError, Unauthorized
from gateway.providers.errors import error_for_status

NAME = "flexport"

FIELD_LOCS: dict[str, str] = {
    "externalOrderId": "external_id",
    "externalId": "external_id",
    "address.name": "recipient.first_name",
    "address.company": "recipient.company",
    "address.phone": "recipient.phone",
    "address.address1": "address.line1",
    "address.address2": "address.line2",
    "address.city": "address.city",
    "address.zip": "address.postal_code",
    "address.provinceCode": "address.region",
    "address.countryCode": "address.country_code",
    "shipToAddress.name": "recipient.first_name",
    "shipToAddress.company": "recipient.company",
    "shipToAddress.phone": "recipient.phone",
    "shipToAddress.email": "recipient.email",
    "shipToAddress.street1": "address.line1",
    "shipToAddress.street2": "address.line2",
    "shipToAddress.city": "address.city",
    "shipToAddress.zip": "address.postal_code",
    "shipToAddress.state": "address.region",
    "shipToAddress.country": "address.country_code",
    "lineItems": "lines",
    "orderItems": "lines",
    "shipBy": "not_before",
    "promisedDeliveryByTime": "not_after",
}
"""Flexport field (as a problem's `invalid-params` names it) → canonical field."""

_INDEX = re.compile(r"\[\d+\]|\.\d+(?=\.|$)")


def family(op: str) -> str:
    """Which scope an op needs: `d2c`, `b2b`, `returns`, `products` or `warehouses`."""
    if op.startswith("b2b_"):
        return "b2b"
    if op.startswith("return_"):
        return "returns"
    if op in ("products", "inventory", "inventory_by_warehouse"):
        return "products"
    return "warehouses" if op == "warehouses" else "d2c"


def to_error(
    op: str,
    status: int,
    problem: Any,
    *,
    correlation_id: str | None,
    retry_after: float | None,
    token_env: str,
    lines: Sequence[int] | None = None,
) -> tuple[ProviderError, str | None]:
    """The error for a non-2xx answer, and the configuration-error key it sets (None: none).

    401: the token is refused — tokens do not refresh, so it is a credential problem an
    operator must fix (key `token`). 403: the token lacks the op's scope (key: its family),
    except for the start-up probe, whose scope is optional. A refused cancel is a `Conflict`.
    """
    problem = problem if isinstance(problem, dict) else {}
    message = str(problem.get("detail") or problem.get("title") or f"HTTP {status}")
    raw_code = problem.get("code")
    code = str(raw_code) if isinstance(raw_code, str | int) and raw_code != "" else None
    cid = correlation_id or (str(problem["instance"]) if problem.get("instance") else None)
    if status == 401:
        reason = (
            "flexport refused the API token (401: invalid, expired or revoked). Tokens do "
            f"not refresh: put a valid one in {token_env} and restart"
        )
        return Unauthorized(NAME, reason, code=code, correlation_id=cid, status=401), "token"
    if status == 403 and op != "warehouses":
        reason = f"flexport token lacks the scope for {op} (403): {message}"
        return Forbidden(NAME, reason, code=code, correlation_id=cid, status=403), family(op)
    if op.endswith("cancel") and status in (400, 409, 422):
        conflict = Conflict(
            NAME, message, code=code or "not-cancellable", correlation_id=cid, status=status
        )
        return conflict, None
    error = error_for_status(
        NAME,
        op,
        status,
        message,
        code=code,
        correlation_id=cid,
        fields=field_errors(problem, lines),
        retry_after=retry_after,
    )
    return error, None


def field_errors(problem: Any, line_indexes: Sequence[int] | None = None) -> list[FieldError]:
    """A problem's `invalid-params: [{name, reason}]` (RFC 7807's extension) or `errors`
    (`[{field, message}]` or `{field: [messages]}`) as canonical field errors.

    `line_indexes[i]` is the canonical line of sent item `i` (items are merged by SKU)."""
    if not isinstance(problem, dict):
        return []
    pairs: list[tuple[str, str]] = []
    raw = problem.get("invalid-params", problem.get("invalidParams", problem.get("errors")))
    if isinstance(raw, list):
        for entry in raw:
            if isinstance(entry, dict):
                name = entry.get("name") or entry.get("field") or entry.get("pointer") or ""
                why = entry.get("reason") or entry.get("message") or entry.get("detail") or ""
                pairs.append((str(name), str(why)))
    elif isinstance(raw, dict):
        for name, why in raw.items():
            text = "; ".join(map(str, why)) if isinstance(why, list) else str(why)
            pairs.append((str(name), text))
    out = []
    for name, why in pairs:
        loc = _loc(name, line_indexes or [])
        out.append(
            FieldError(loc, f"flexport: {name}: {why}" if loc != name else f"flexport: {why}")
        )
    return out


def _loc(name: str, line_indexes: Sequence[int]) -> str:
    """`orderItems[3].productData.gtin` → `lines[3]`; `shipToAddress.state` → `address.region`."""
    match = re.match(r"^(lineItems|orderItems)[\[.](\d+)", name)
    if match:
        sent = int(match.group(2))
        return f"lines[{line_indexes[sent] if sent < len(line_indexes) else sent}]"
    key = _INDEX.sub("", name.lstrip("/").replace("/", "."))
    return FIELD_LOCS.get(key) or FIELD_LOCS.get(key.split(".")[0]) or name


def unknown_products(missing: Sequence[tuple[int, str]]) -> Invalid:
    """The refusal of a D2C order whose SKUs (`missing`: line index, SKU) Flexport has no
    product for."""
    return Invalid(
        NAME,
        "no Flexport product for SKU " + ", ".join(sorted({s for _i, s in missing})),
        code="unknown-sku",
        fields=[
            FieldError(f"lines[{i}].sku", f"flexport has no product with merchantSku {sku!r}")
            for i, sku in missing
        ],
    )
