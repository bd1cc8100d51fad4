"""Flexport's returns API as the sandbox performs it (docs/providers/flexport.md#returns).

| op | route (below `/logistics/api/{version}`) | scope |
|---|---|---|
| return_create | `POST /returns` | write_logistics_returns |
| return_list | `GET /returns?externalReturnId=&rma=&status=&limit=` | read_logistics_returns |
| return_get | `GET /returns/{id}` | read_logistics_returns |
| return_cancel | `POST /returns/{id}/cancel` | write_logistics_returns |

Returns need account approval: until `FlexportSandbox.approve_returns()` every
returns call answers 403. Create requires `rma`, `externalReturnId` (unique: a second one is
409), `returnItems[{identifier, type LOGISTICS_SKU|SKU, quantity ≥ 1}]` naming known products,
and `sourceAddress` unless an `externalLabel` is given; the return starts `CREATED` with a
label Flexport bought. Cancel is refused (409) once the goods were received.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from gateway.sandbox.harness import json_response
from gateway.sandbox.harness.records import found

from .errors import ApiError
from .return_record import FlexportReturn
from .validation import Problems, items, json_body, quantity, text

if TYPE_CHECKING:
    from .state import FlexportState

CANCELLABLE = frozenset({"CREATED", "SHIPPED"})
ITEM_TYPES = ("LOGISTICS_SKU", "SKU")


def _approved(state: FlexportState) -> None:
    if not state.returns_approved:
        raise ApiError(
            403,
            "Returns are not enabled for this account: submit a support ticket to request access.",
        )


def _validated(state: FlexportState, body: Any) -> dict[str, Any]:
    p = Problems()
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    for key in ("rma", "externalReturnId"):
        text(p, body, key, "", required=True)
    for where, item in items(p, body.get("returnItems"), "returnItems"):
        text(p, item, "identifier", f"{where}.", required=True)
        quantity(p, item, where)
        if item.get("type") not in ITEM_TYPES:
            p.missing(f"{where}.type", f"must be one of {', '.join(ITEM_TYPES)}")
        elif isinstance(item.get("identifier"), str) and not state.knows(item):
            p.rule(f"{where}.identifier", f"unknown product {item['identifier']}")
    if body.get("externalLabel") is None and not isinstance(body.get("sourceAddress"), dict):
        p.missing("sourceAddress", "is required without an externalLabel")
    p.raise_any()
    return body


def _return(state: FlexportState, request: web.Request) -> FlexportReturn:
    raw = request.match_info["id"]
    return found(state.returns, int(raw), lambda: ApiError(404, f"Cannot find return {raw}"))


async def create(state: FlexportState, request: web.Request) -> web.Response:
    _approved(state)
    body = _validated(state, await json_body(request))
    if any(r.external_return_id == body["externalReturnId"] for r in state.returns.values()):
        raise ApiError(
            409, f"A return with externalReturnId {body['externalReturnId']} already exists."
        )
    return json_response(state.create_return(body).to_json(), status=201)


async def get(state: FlexportState, request: web.Request) -> web.Response:
    _approved(state)
    return json_response(_return(state, request).to_json())


async def list_returns(state: FlexportState, request: web.Request) -> web.Response:
    _approved(state)
    query = request.query
    try:
        limit = int(query.get("limit", "50"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 100:
        raise ApiError(400, "limit must be within 1..100.")
    rows = [
        r
        for r in state.returns.values()
        if query.get("externalReturnId") in (None, r.external_return_id)
        and query.get("rma") in (None, r.body["rma"])
        and query.get("status") in (None, r.status)
    ]
    return json_response([r.to_json() for r in rows[:limit]])


async def cancel(state: FlexportState, request: web.Request) -> web.Response:
    _approved(state)
    ret = _return(state, request)
    if ret.status != "CANCELLED":
        if ret.status not in CANCELLABLE:
            raise ApiError(
                409,
                f"Return {ret.id} can no longer be cancelled: it was received ({ret.status}).",
            )
        state.set_return_status(ret, "CANCELLED")
    return json_response(ret.to_json())
