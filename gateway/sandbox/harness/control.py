"""The control API every sandbox serves, for processes that cannot call Python.

No auth, not recorded, never faulted. Relative to the mount point:

| route | does |
|---|---|
| `POST /_control/faults` | body = a `Fault` as JSON (its init fields) → 201 the fault with `id` |
| `GET /_control/faults` | the fault rules with their live `remaining` |
| `DELETE /_control/faults` | clear all fault rules |
| `POST /_control/release` | release held calls; optional body `{"op": "create"}` |
| `GET /_control/requests` | the recorded requests (optional `?op=`) |

A sandbox adds its own (tokens, orders, stock) as `ControlRoute`s, reading bodies with
`control_body` and refusing with `ControlError` (answered `{"code", "message"}`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

import orjson
from aiohttp import web

from gateway.sandbox.harness.calls import REQUESTS_PATH, CallHarness, F, control_route_name
from gateway.sandbox.harness.errors import HttpError, json_response
from gateway.sandbox.harness.webhooks import WebhookDelivery

ControlHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ControlRoute = tuple[str, str, ControlHandler, str]
K = TypeVar("K")
V = TypeVar("V")
"""(method, path, handler, what): one control route; `what` names it (`control_route_name`)."""

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


class ControlError(HttpError):
    """A refused control request, answered `{"code", "message"}` with `status`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(status, {"code": code, "message": message}, summary=message)
        self.code = code
        self.message = message


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


async def control_object(request: web.Request) -> dict[str, Any]:
    """The body of a control request that must be a JSON object (400 `invalid_body` if not)."""
    body = await control_body(request)
    if not isinstance(body, dict):
        raise ControlError(400, "invalid_body", "the body must be a JSON object")
    return body


def status_mover(
    what: str,
    table: Mapping[K, V],
    move: Callable[[K, str], Awaitable[None] | None],
    show: Callable[[V], Any],
    *,
    key: Callable[[str], K],
    code: str,
    wanted: str,
) -> ControlHandler:
    """A `POST …/{id}/status` route taking `{"status": "<wanted>"}`: `move` the `what` whose
    `key(id)` is in `table`, then answer it as `show` does.

    A malformed body is 400 first, then an unknown id 404 `not_found`; a body without a
    status string, or a status `move` refuses (`ValueError`), is 400 `code`.
    """

    async def handle(request: web.Request) -> web.Response:
        found = key(request.match_info["id"])
        body = await control_body(request)
        status = body.get("status") if isinstance(body, dict) else None
        if found not in table:
            raise ControlError(404, "not_found", f"{what} {found} not found")
        if not isinstance(status, str):
            raise ControlError(400, code, f'body must be {{"status": "<{wanted}>"}}')
        try:
            moved = move(found, status)
            if moved is not None:
                await moved
        except ValueError as exc:
            raise ControlError(400, code, str(exc)) from None
        return json_response(show(table[found]))

    return handle


def deliveries_route(
    deliveries: list[WebhookDelivery], *, topic_key: str = "topic", headers: bool = True
) -> ControlRoute:
    """`GET /_control/deliveries`: every webhook POST made, its `body` as text (the topic under
    `topic_key`, with the request headers if `headers`)."""

    async def handle(_request: web.Request) -> web.Response:
        rows = []
        for d in deliveries:
            row: dict[str, Any] = {
                "event_id": d.event_id,
                topic_key: d.topic,
                "body": d.body.decode("utf-8", "replace"),
            }
            if headers:
                row["headers"] = d.headers
            rows.append(row | {"status": d.status, "at": d.at, "attempt": d.attempt})
        return json_response(rows)

    return ("GET", "/_control/deliveries", handle, "deliveries")


def add_control_routes(
    app: web.Application, harness: CallHarness[Any], own: Iterable[ControlRoute]
) -> None:
    """The shared control routes (table above), then the sandbox's `own`, all named so the
    harness neither records nor faults them."""

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

    shared: list[ControlRoute] = [
        ("POST", "/_control/faults", add_fault, "faults"),
        ("GET", "/_control/faults", list_faults, "faults"),
        ("DELETE", "/_control/faults", clear_faults, "faults"),
        ("POST", "/_control/release", release, "release"),
        ("GET", REQUESTS_PATH, list_requests, "requests"),
    ]
    for method, path, handler, what in [*shared, *own]:
        app.router.add_route(method, path, handler, name=control_route_name(harness.name, what))
