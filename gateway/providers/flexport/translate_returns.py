"""Canonical return ⇄ Flexport return (docs/providers/flexport.md): the requests, and the
answers read back. Pure: no I/O, no aiohttp.

Returns need account approval at Flexport ("Parcels, Returns — Account approval";
not in Flexport's own sandbox), so the gateway offers them only where `returns_enabled` says
the account has it. Decisions made here once:
- `externalReturnId` is the gateway's return id (unique; what a lost create is found by);
  `rma` is the return's tenant-qualified reference, else the gateway's id too (Flexport
  requires one).
- Items are merchant SKUs (`type: SKU`), so no catalogue lookup is needed. Flexport does not
  copy lines from the order: a return without lines is sent with the order's lines.
- `sourceAddress` is the order's delivery address (where the goods come back from), in the
  shape of an order's `address` (Flexport does not document the `DeliverrAddress` fields);
  Flexport then buys the label (no `externalLabel`).
- Flexport has no merchant decision on returns: decisions are refused before any call. The
  return `type` (customer/agent) has no Flexport field either; the gateway keeps it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from gateway.model.orders import CanonicalOrder
from gateway.model.returns import CanonicalReturn, ReturnStatus
from gateway.providers.base import Parsed, ProviderReturn
from gateway.providers.flexport.statuses import return_status_of
from gateway.providers.flexport.translate import address_of, idempotent


def to_return(
    gateway_id: str,
    ret: CanonicalReturn,
    order: CanonicalOrder,
    provider_order_id: str,
    *,
    reference: str | None,
) -> dict[str, Any]:
    """The body of `POST /returns` (merchant SKUs, quantities merged per SKU)."""
    lines = ret.lines if ret.lines is not None else order.lines
    quantities: Counter[str] = Counter()
    for line in lines:
        quantities[line.sku] += line.quantity
    return {
        "rma": reference or gateway_id,
        "externalReturnId": gateway_id,
        "returnItems": [
            {"identifier": sku, "type": "SKU", "quantity": quantity}
            for sku, quantity in quantities.items()
        ],
        "sourceAddress": address_of(order),
        "logisticsOrderId": provider_order_id,
    }


def return_of(body: Any) -> dict[str, Any] | None:
    """A return object (numeric `id`, string `status`), or None if `body` is not one."""
    if isinstance(body, dict) and isinstance(body.get("return"), dict):
        body = body["return"]
    if not isinstance(body, dict):
        return None
    rid, status = body.get("id"), body.get("status")
    if isinstance(rid, bool) or not isinstance(rid, int | str) or not isinstance(status, str):
        return None
    return body


def returns_of(body: Any) -> list[dict[str, Any]] | None:
    """The rows of a list answer: a JSON array, or `{data|returns: [...]}` (both are seen)."""
    rows = body
    if isinstance(body, dict):
        rows = body.get("data", body.get("returns"))
    if not isinstance(rows, list):
        return None
    return [r for r in rows if return_of(r) is not None]


def find_params(gateway_id: str) -> dict[str, str]:
    """The query of `GET /returns` that finds a return by the gateway's id."""
    return {"externalReturnId": gateway_id}


def cancel_headers(provider_return_id: str) -> dict[str, str]:
    """The headers of `POST /returns/{id}/cancel`: a resent cancel is the same call."""
    return idempotent(f"ret-{provider_return_id}", "cancel")


def provider_return(ret: dict[str, Any]) -> Parsed[ProviderReturn]:
    """A return object (as `return_of` found it) in canonical terms; an unknown status is
    taken as in progress."""
    raw = str(ret["status"])
    status = return_status_of(raw)
    found = ProviderReturn(
        str(ret["id"]), ReturnStatus.IN_PROGRESS if status is None else status, raw
    )
    return Parsed(found, raw if status is None else None)


def answered_return(body: Any) -> Parsed[ProviderReturn] | None:
    """The return of a create, get or cancel answer; None when it holds none."""
    ret = return_of(body)
    return None if ret is None else provider_return(ret)


def found_returns(body: Any, gateway_id: str) -> list[Parsed[ProviderReturn]] | None:
    """The returns a list answer holds with `externalReturnId` = `gateway_id`; None when the
    answer holds no list."""
    rows = returns_of(body)
    if rows is None:
        return None
    return [provider_return(r) for r in rows if r.get("externalReturnId") == gateway_id]
