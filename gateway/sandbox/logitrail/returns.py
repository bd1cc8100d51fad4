"""The order returns service of the Logitrail sandbox (docs/providers/logitrail.md#returns).

| op | route | scope |
|---|---|---|
| return_create | `POST /order-returns` | order_returns:manage |
| return_list | `GET /order-returns?status&type&q&original_order_id&offset&limit` | …:read |
| return_get | `GET /order-returns/{id}` | order_returns:read |
| return_cancel | `POST /order-returns/{id}/cancel` | order_returns:manage |
| return_decision | `POST /order-returns/{id}/merchant-decision` | order_returns:manage |

Behaviour as Logitrail documents it: a new return is `preinfo_received`; `items` omitted with an
`original_order` → copied from that order, `[]` → none; the list is newest first, filters
AND-ed, `status` multi-valued (comma-separated or repeated), `q` (≥ 2 characters) a
case-insensitive substring of name or merchant reference or, for a 24-hex phrase, the id; list
rows omit `items` and `services`. Cancel moves the return to `deleted` (and cancels its
inbound); it is refused with 409 when the inbound is already being processed or the return is
not `pending`/`preinfo_received`. A `to_shelf` decision on a return without an inbound creates
one from the return's items.

Decisions the documentation leaves open, made here: a decision is taken while the goods have
not been handled (`preinfo_received`, `pending`, `pending_merchant_decision`), else 409
`order_return_decision_not_allowed`; once the goods are waiting for it
(`pending_merchant_decision`) it moves the return on (`to_shelf` → `restocking_pending`,
`resend` → `resend_pending`, the others → `processing`).
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from gateway.sandbox.harness import json_response
from gateway.sandbox.harness.records import found, utc_iso

from .errors import ApiError, int_param, invalid, json_body
from .state import RETURN_STATUSES, SandboxReturn, SandboxState

RETURN_TYPES = ("customer_return", "agent_return")
DECISIONS = ("to_shelf", "shelf_for_disposal", "resend", "reject", "destroy")
INBOUND_STATUSES = ("pending", "processing", "processed", "cancelled")
CANCELLABLE = frozenset({"pending", "preinfo_received"})
DECIDABLE = frozenset({"pending", "preinfo_received", "pending_merchant_decision"})
_DECIDED_STATUS = {"to_shelf": "restocking_pending", "resend": "resend_pending"}
_HEX24 = re.compile(r"^[0-9a-f]{24}$")
_TEXT_FIELDS = ("name", "remarks", "merchant_reference", "handling_instructions")


def render(ret: SandboxReturn, *, lean: bool = False) -> dict[str, Any]:
    """The return as the detail endpoint shows it; `lean`: the list projection."""
    out: dict[str, Any] = {
        "id": ret.id,
        "name": ret.name,
        "type": ret.type,
        "status": ret.status,
        "remarks": ret.remarks,
        "original_order": {"id": ret.original_order} if ret.original_order else None,
        "merchant_reference": ret.merchant_reference,
        "handling_instructions": ret.handling_instructions,
        "created_at": utc_iso(ret.created_at),
        "updated_at": utc_iso(ret.updated_at),
        "inbound_shipment": dict(ret.inbound_shipment) if ret.inbound_shipment else None,
        "merchant_decision": {"code": ret.merchant_decision} if ret.merchant_decision else None,
    }
    if not lean:
        out["items"] = [dict(i) for i in ret.items]
        out["services"] = list(ret.services)
    return out


async def _body(request: web.Request, key: str) -> dict[str, Any]:
    body = await json_body(request)
    inner = body.get(key) if isinstance(body, dict) else None
    if not isinstance(inner, dict):
        raise invalid(f"{key}.required", f'the body must be {{"{key}": {{…}}}}')
    return inner


def _return(state: SandboxState, request: web.Request) -> SandboxReturn:
    return_id = request.match_info["id"]
    return found(
        state.returns,
        return_id,
        lambda: ApiError(404, "not_found", f"order return {return_id} not found"),
    )


def _ref_id(value: Any, what: str) -> str | None:
    if value is None:
        return None
    ref = value.get("id") if isinstance(value, dict) else None
    if not isinstance(ref, str) or not _HEX24.match(ref):
        raise invalid(f"{what}.id.invalid", f"{what}.id must be 24 lowercase hex characters")
    return ref


def _items(state: SandboxState, raw: Any, original_order: str | None) -> list[dict[str, Any]]:
    if raw is None:
        # Omitted: fetched from the original order, if there is one.
        order = state.orders.get(original_order) if original_order else None
        return [dict(i) for i in state.order_items(order)] if order else []
    if not isinstance(raw, list):
        raise invalid("items.invalid", "items must be an array")
    items = []
    for item in raw:
        if not isinstance(item, dict):
            raise invalid("items.invalid", "every item must be an object")
        product_id = _ref_id(item.get("product"), "items.product")
        sku = state.sku_of(product_id) if product_id else None
        if sku is None:
            raise invalid("items.product.not_found", f"product {product_id} not found")
        quantity = item.get("quantity")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise invalid("items.quantity.invalid", "quantity must be a positive integer")
        line_order = _ref_id(item.get("original_order"), "items.original_order")
        items.append(
            {
                "product": {"id": product_id, "sku": sku},
                "quantity": quantity,
                "original_order": {"id": line_order} if line_order else None,
                "services": list(item.get("services") or []),
            }
        )
    return items


async def create(state: SandboxState, request: web.Request) -> web.Response:
    body = await _body(request, "order_return")
    for name in _TEXT_FIELDS:
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise invalid(f"{name}.invalid", f"{name} must be a string or null")
    kind = body.get("type", "customer_return")
    if kind not in RETURN_TYPES:
        raise invalid("type.invalid", f"type must be one of {', '.join(RETURN_TYPES)}")
    original_order = _ref_id(body.get("original_order"), "original_order")
    if original_order is not None and original_order not in state.orders:
        raise invalid("original_order.not_found", f"order {original_order} not found")
    services = body.get("services", [])
    if not isinstance(services, list):
        raise invalid("services.invalid", "services must be an array")
    now = state.clock()
    ret = SandboxReturn(
        id=state.new_id(),
        name=body.get("name"),
        type=kind,
        status="preinfo_received",
        remarks=body.get("remarks"),
        original_order=original_order,
        merchant_reference=body.get("merchant_reference"),
        handling_instructions=body.get("handling_instructions"),
        items=_items(state, body.get("items"), original_order),
        services=services,
        created_at=now,
        updated_at=now,
    )
    state.returns[ret.id] = ret
    return json_response({"order_return": render(ret)}, status=201)


def _multi(request: web.Request, name: str) -> list[str]:
    return [v for raw in request.query.getall(name, []) for v in raw.split(",") if v]


async def list_returns(state: SandboxState, request: web.Request) -> web.Response:
    statuses = _multi(request, "status")
    if bad := [s for s in statuses if s not in RETURN_STATUSES]:
        raise invalid("status.invalid", f"unknown status {bad[0]!r}")
    kind = request.query.get("type")
    if kind is not None and kind not in RETURN_TYPES:
        raise invalid("type.invalid", f"type must be one of {', '.join(RETURN_TYPES)}")
    q = request.query.get("q")
    if q is not None and len(q) < 2:
        raise invalid("q.invalid", "q must be at least 2 characters")
    original = request.query.get("original_order_id")
    if original is not None and not _HEX24.match(original):
        raise invalid("original_order_id.invalid", "original_order_id must be 24 hex characters")
    offset = int_param(request, "offset", 0, 0, 9007199254740991)
    limit = int_param(request, "limit", 100, 1, 500)
    rows = [
        r
        for r in sorted(state.returns.values(), key=lambda r: (r.created_at, r.id), reverse=True)
        if (not statuses or r.status in statuses)
        and (kind is None or r.type == kind)
        and (original is None or r.original_order == original)
        and (q is None or _matches(r, q))
    ]
    return json_response(
        {
            "order_returns": [render(r, lean=True) for r in rows[offset : offset + limit]],
            "total": len(rows),
        }
    )


def _matches(ret: SandboxReturn, q: str) -> bool:
    phrase = q.lower()
    texts = (ret.name, ret.merchant_reference)
    if any(t is not None and phrase in t.lower() for t in texts):
        return True
    return bool(_HEX24.match(phrase)) and ret.id == phrase


async def get(state: SandboxState, request: web.Request) -> web.Response:
    return json_response({"order_return": render(_return(state, request))})


async def cancel(state: SandboxState, request: web.Request) -> web.Response:
    ret = _return(state, request)
    inbound = ret.inbound_shipment
    if inbound is not None and inbound["status"] in ("processing", "processed"):
        raise ApiError(
            409,
            "inbound_shipment_already_processing",
            f"the inbound shipment of order return {ret.id} is already being processed",
        )
    if ret.status not in CANCELLABLE:
        raise ApiError(
            409,
            "order_return_not_cancellable",
            f"order return {ret.id} is {ret.status}; only pending or preinfo_received returns"
            " can be cancelled",
        )
    if inbound is not None:
        inbound["status"] = "cancelled"
    state.set_return_status(ret, "deleted")
    return json_response({"order_return": render(ret)})


async def decision(state: SandboxState, request: web.Request) -> web.Response:
    ret = _return(state, request)
    body = await _body(request, "merchant_decision")
    code = body.get("code")
    if code not in DECISIONS:
        raise invalid(
            "merchant_decision.code.invalid", f"code must be one of {', '.join(DECISIONS)}"
        )
    if ret.status not in DECIDABLE:
        raise ApiError(
            409,
            "order_return_decision_not_allowed",
            f"order return {ret.id} is {ret.status}; a decision is no longer possible",
        )
    ret.merchant_decision = code
    if code == "to_shelf" and ret.inbound_shipment is None:
        ret.inbound_shipment = {"id": state.new_id(), "status": "pending"}
    if ret.status == "pending_merchant_decision":
        state.set_return_status(ret, _DECIDED_STATUS.get(code, "processing"))
    else:
        ret.updated_at = state.clock()
    return json_response({"order_return": render(ret)})
