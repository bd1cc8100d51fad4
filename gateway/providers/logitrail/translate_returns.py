"""Canonical return ⇄ Logitrail `order_return`: the requests, and the answers read back.
Pure: no I/O, no aiohttp. The contract: docs/providers/logitrail.md, "Returns".

Decisions Logitrail's documentation leaves open, made here once:
- A return's `name` is the gateway's return id (the reconciliation key, `q` searches it);
  `merchant_reference` is the return's tenant-qualified reference.
- Return lines go as Logitrail product ids read off the original order, and no lines means
  `items` left out (Logitrail copies them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.errors import FieldError
from gateway.model.returns import CanonicalReturn, Decision, ReturnStatus
from gateway.providers.base import Parsed, ProviderReturn
from gateway.providers.logitrail.statuses import return_status_of
from gateway.providers.logitrail.translate import HEX24

FIND_LIMIT = "500"
"""The most returns one list page holds (Logitrail's documented maximum)."""


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
    optional = {
        "merchant_reference": reference,
        "remarks": ret.remarks,
        "handling_instructions": ret.handling_instructions,
    }
    body |= {k: v for k, v in optional.items() if v is not None}
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


def find_params(gateway_id: str, provider_order_id: str) -> dict[str, str]:
    """The query of `GET /order-returns` that finds a return of an order by the gateway's id
    (its `name`)."""
    return {"q": gateway_id, "original_order_id": provider_order_id, "limit": FIND_LIMIT}


def to_decision(decision: Decision) -> dict[str, Any]:
    """The body of `POST /order-returns/{id}/merchant-decision`."""
    return {"merchant_decision": {"code": decision.value}}


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
            if isinstance(sku, str) and isinstance(pid, str) and HEX24.match(pid):
                out[sku] = pid
    return out


def order_product_ids(body: Any) -> dict[str, str]:
    """`product_ids_of` the order of a `GET /orders/{id}` answer (`{"order": {...}}`)."""
    return product_ids_of(body.get("order") if isinstance(body, dict) else None)


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


def provider_return(ret: dict[str, Any]) -> Parsed[ProviderReturn]:
    """A return object (as `return_of` found it) in canonical terms; an unknown status is
    taken as in progress."""
    raw = str(ret["status"])
    status = return_status_of(raw)
    found = ProviderReturn(
        str(ret["id"]),
        ReturnStatus.IN_PROGRESS if status is None else status,
        raw,
        decision_of(ret),
    )
    return Parsed(found, raw if status is None else None)


def answered_return(body: Any) -> Parsed[ProviderReturn] | None:
    """The return of a create, get, cancel or decision answer; None when it holds none."""
    ret = return_of(body)
    return None if ret is None else provider_return(ret)


def found_returns(body: Any, gateway_id: str) -> list[Parsed[ProviderReturn]] | None:
    """The returns a list answer holds named `gateway_id`, newest first (Logitrail's order);
    None when the answer holds no list."""
    rows = returns_of(body)
    if rows is None:
        return None
    return [provider_return(r) for r in rows if r.get("name") == gateway_id]


def _is_return(ret: dict[str, Any]) -> bool:
    rid, status = ret.get("id"), ret.get("status")
    return isinstance(rid, str) and bool(HEX24.match(rid)) and isinstance(status, str)
