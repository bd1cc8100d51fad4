"""The control API every sandbox serves, for processes that cannot call Python.

No auth, not recorded, never faulted. Relative to the mount point:

| route | does |
|---|---|
| `POST /_control/faults` | body = a `Fault` as JSON (its init fields) → 201 the fault with `id` |
| `GET /_control/faults` | the fault rules with their live `remaining` |
| `DELETE /_control/faults` | clear all fault rules |
| `POST /_control/release` | release held calls; optional body `{"op": "create"}` |
| `GET /_control/requests` | the recorded requests (optional `?op=`) |

A sandbox adds its own (tokens, orders, stock) with `add_control_route`, reading bodies with
`control_body` and refusing with `ControlError` (answered `{"code", "message"}`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from gateway.sandbox.harness.calls import REQUESTS_PATH, CallHarness, F, control_route_name

ControlHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]

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


class ControlError(Exception):
    """A refused control request, answered `{"code", "message"}` with `status`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> web.Response:
        return json_response({"code": self.code, "message": self.message}, status=self.status)


def json_response(payload: Any, *, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(payload), content_type="application/json")


def fault_from_json(payload: Any, fault_type: type[F], ops: frozenset[str]) -> F:
    """Build a fault from its JSON form; `ControlError` 400 `invalid_fault` if it is not one."""
    if not isinstance(payload, dict):
        raise ControlError(400, "invalid_fault", "the body must be a JSON object of Fault fields")
    for name, value in payload.items():
        accepted = _FAULT_FIELDS.get(name)
        if accepted is None:
            raise ControlError(400, "invalid_fault", f"unknown Fault field {name!r}")
        ok = any(
            value is None if t is None else isinstance(value, t) and not _bool_for_number(value, t)
            for t in accepted
        )
        if not ok:
            raise ControlError(400, "invalid_fault", f"Fault field {name!r} has the wrong type")
    op = payload.get("op", "*")
    if op != "*" and op not in ops:
        raise ControlError(400, "invalid_fault", f"unknown op {op!r}; one of {sorted(ops)} or '*'")
    try:
        return fault_type(**payload)
    except ValueError as exc:
        raise ControlError(400, "invalid_fault", str(exc)) from None


def _bool_for_number(value: Any, expected: type) -> bool:
    return isinstance(value, bool) and expected is not bool


async def control_body(request: web.Request) -> Any:
    """The JSON body of a control request (None if empty); `ControlError` 400 if malformed."""
    raw = await request.read()
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ControlError(400, "unknown", "malformed JSON body") from None


def add_control_route(
    app: web.Application,
    harness: CallHarness[Any],
    method: str,
    path: str,
    handler: ControlHandler,
    *,
    what: str,
) -> None:
    """Add a control route (named so the harness neither records nor faults it)."""

    async def run(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ControlError as error:
            return error.response()

    app.router.add_route(method, path, run, name=control_route_name(harness.name, what))


def add_control_routes(app: web.Application, harness: CallHarness[Any]) -> None:
    """The shared control routes (table above)."""

    async def add_fault(request: web.Request) -> web.Response:
        fault = fault_from_json(await control_body(request), harness.fault_type, harness.ops)
        return json_response(harness.inject(fault), status=201)

    async def list_faults(_request: web.Request) -> web.Response:
        return json_response(harness.faults)

    async def clear_faults(_request: web.Request) -> web.Response:
        harness.clear_faults()
        return json_response({"success": True})

    async def release(request: web.Request) -> web.Response:
        body = await control_body(request) or {}
        op = body.get("op") if isinstance(body, dict) else None
        if op is not None and not isinstance(op, str):
            raise ControlError(400, "invalid_release", "op must be a string")
        released = harness.held(op or "*")
        harness.release(op)
        return json_response({"success": True, "released": released})

    async def list_requests(request: web.Request) -> web.Response:
        op = request.query.get("op")
        return json_response([r for r in harness.requests if op is None or r.op == op])

    add_control_route(app, harness, "POST", "/_control/faults", add_fault, what="faults")
    add_control_route(app, harness, "GET", "/_control/faults", list_faults, what="faults")
    add_control_route(app, harness, "DELETE", "/_control/faults", clear_faults, what="faults")
    add_control_route(app, harness, "POST", "/_control/release", release, what="release")
    add_control_route(app, harness, "GET", REQUESTS_PATH, list_requests, what="requests")
