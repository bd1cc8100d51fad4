"""Control API of the Logitrail sandbox, for processes that cannot call Python.

No auth, not recorded, never faulted. Relative to the mount point:

| route | does |
|---|---|
| `POST /_control/faults` | body = a `Fault` as JSON (its init fields) → 201 the fault with `id` |
| `GET /_control/faults` | the fault rules with their live `remaining` |
| `DELETE /_control/faults` | clear all fault rules |
| `POST /_control/release` | release held calls; optional body `{"op": "create"}` |
| `POST /_control/expire-tokens` | every token issued so far becomes invalid |
| `GET /_control/requests` | the recorded requests (optional `?op=`) |
| `GET /_control/orders` | all orders |
| `POST /_control/orders/{id}/status` | body `{"status": "processed"}`: move the order's status |
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from .errors import ApiError, json_response
from .faults import Fault

if TYPE_CHECKING:
    from .app import LogitrailSandbox

REQUESTS_PATH = "/_control/requests"

# JSON types accepted for each Fault init field (None: null allowed).
_FAULT_FIELDS: dict[str, tuple[type | None, ...]] = {
    "op": (str,),
    "count": (int, None),
    "probability": (float, int),
    "status": (int, None),
    "retry_after": (str, None),
    "body": (dict, None),
    "delay_s": (float, int),
    "after": (bool,),
    "hold": (bool,),
    "reset": (bool,),
    "mix": (list, None),
    "id": (str,),
}


def fault_from_json(payload: Any) -> Fault:
    """Build a `Fault` from its JSON form; `ApiError` 400 `invalid_fault` if it is not one."""
    if not isinstance(payload, dict):
        raise ApiError(400, "invalid_fault", "the body must be a JSON object of Fault fields")
    for name, value in payload.items():
        accepted = _FAULT_FIELDS.get(name)
        if accepted is None:
            raise ApiError(400, "invalid_fault", f"unknown Fault field {name!r}")
        ok = any(
            value is None if t is None else isinstance(value, t) and not _bool_for_number(value, t)
            for t in accepted
        )
        if not ok:
            raise ApiError(400, "invalid_fault", f"Fault field {name!r} has the wrong type")
    try:
        return Fault(**payload)
    except ValueError as exc:
        raise ApiError(400, "invalid_fault", str(exc)) from None


def _bool_for_number(value: Any, expected: type) -> bool:
    return isinstance(value, bool) and expected is not bool


def add_routes(app: web.Application, sandbox: LogitrailSandbox, *, anchor: str) -> None:
    """Add the control routes; `anchor` names the requests route (used to find the mount)."""

    async def _body(request: web.Request) -> Any:
        raw = await request.read()
        if not raw:
            return None
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise ApiError(400, "unknown", "malformed JSON body") from None

    async def add_fault(request: web.Request) -> web.Response:
        fault = sandbox.inject(fault_from_json(await _body(request)))
        return json_response(fault, status=201)

    async def list_faults(_request: web.Request) -> web.Response:
        return json_response(sandbox.faults)

    async def clear_faults(_request: web.Request) -> web.Response:
        sandbox.clear_faults()
        return json_response({"success": True})

    async def release(request: web.Request) -> web.Response:
        body = await _body(request) or {}
        op = body.get("op") if isinstance(body, dict) else None
        if op is not None and not isinstance(op, str):
            raise ApiError(400, "invalid_release", "op must be a string")
        released = sandbox.held(op or "*")
        sandbox.release(op)
        return json_response({"success": True, "released": released})

    async def expire_tokens(_request: web.Request) -> web.Response:
        sandbox.expire_tokens()
        return json_response({"success": True})

    async def list_requests(request: web.Request) -> web.Response:
        op = request.query.get("op")
        rows = [r for r in sandbox.requests if op is None or r.op == op]
        return json_response(rows)

    async def list_orders(_request: web.Request) -> web.Response:
        return json_response([dataclasses.asdict(o) for o in sandbox.orders.values()])

    async def set_status(request: web.Request) -> web.Response:
        order_id = request.match_info["id"]
        body = await _body(request)
        status = body.get("status") if isinstance(body, dict) else None
        if order_id not in sandbox.orders:
            raise ApiError(404, "not_found", f"order {order_id} not found")
        if not isinstance(status, str):
            raise ApiError(400, "status.invalid", 'body must be {"status": "<order status>"}')
        try:
            sandbox.advance(order_id, status)
        except ValueError as exc:
            raise ApiError(400, "status.invalid", str(exc)) from None
        return json_response(dataclasses.asdict(sandbox.orders[order_id]))

    name = "logitrail.control."
    app.router.add_post("/_control/faults", add_fault, name=name + "faults")
    app.router.add_get("/_control/faults", list_faults, name=name + "faults")
    app.router.add_delete("/_control/faults", clear_faults, name=name + "faults")
    app.router.add_post("/_control/release", release, name=name + "release")
    app.router.add_post("/_control/expire-tokens", expire_tokens, name=name + "expire_tokens")
    app.router.add_get(REQUESTS_PATH, list_requests, name=anchor)
    app.router.add_get("/_control/orders", list_orders, name=name + "orders")
    app.router.add_post("/_control/orders/{id}/status", set_status, name=name + "status")
