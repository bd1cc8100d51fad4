"""The Logitrail operations as the sandbox performs them: OAuth token, orders (returns live in
`returns.py`).

Handlers are plain functions of the sandbox state and the request; they raise `ApiError` for
every error answer. Bearer-token, merchant and scope checks (`authorize`) run before each
order handler, as part of performing the operation (so after faults are evaluated).
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote_plus

from aiohttp import web

from gateway.sandbox.harness import Operation, json_response, op_names
from gateway.sandbox.harness.records import found

from . import returns
from .errors import ApiError, int_param, json_body
from .state import ORDER_STATUSES, SandboxClient, SandboxOrder, SandboxState, render_order
from .validation import validate_order

SCOPE_READ = "orders:read"
SCOPE_MANAGE = "orders:manage"
SCOPE_RETURNS_READ = "order_returns:read"
SCOPE_RETURNS_MANAGE = "order_returns:manage"
MERCHANT_HEADER = "X-Logitrail-Merchant-ID"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


# auth


def _oauth_error(status: int, error: str, description: str) -> ApiError:
    headers = dict(_NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="logitrail"'
    return ApiError(
        status, error, body={"error": error, "error_description": description}, headers=headers
    )


def _client(state: SandboxState, header: str) -> SandboxClient | None:
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    login, colon, password = decoded.partition(":")
    if not colon:
        return None
    client = state.authenticate_client(login, password)
    if client is None:  # RFC 6749 §2.3.1: id and secret may be form-urlencoded first
        client = state.authenticate_client(unquote_plus(login), unquote_plus(password))
    return client


async def token(state: SandboxState, request: web.Request) -> web.Response:
    client = _client(state, request.headers.get("Authorization", ""))
    if client is None:
        raise _oauth_error(401, "invalid_client", "Invalid client or Invalid client credentials")
    form = await request.post()
    if form.get("grant_type") != "client_credentials":
        raise _oauth_error(400, "unsupported_grant_type", "grant_type must be client_credentials")
    requested = list(dict.fromkeys(str(form.get("scope", "")).split()))
    rejected = [scope for scope in requested if scope not in client.allowed_scopes]
    if rejected:
        raise _oauth_error(400, "invalid_scope", "Invalid scopes: " + " ".join(rejected))
    access_token = state.issue_token(frozenset(requested))
    body = {
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": int(state.token_ttl_s),
        "scope": " ".join(requested),
    }
    return json_response(body, headers=_NO_STORE)


def authorize(state: SandboxState, request: web.Request, scope: str) -> None:
    """401 without a live bearer token, 403 for a wrong merchant or a missing scope."""
    header = request.headers.get("Authorization") or request.headers.get("Authentication") or ""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ApiError(
            401,
            "unauthorized",
            "missing bearer token",
            headers={"WWW-Authenticate": 'Bearer realm="logitrail"'},
        )
    issued = state.token(value.strip())
    if issued is None:
        raise ApiError(
            401,
            "unauthorized",
            "invalid or expired access token",
            headers={"WWW-Authenticate": 'Bearer realm="logitrail", error="invalid_token"'},
        )
    merchant = request.headers.get(MERCHANT_HEADER, "").strip()
    if not merchant:
        raise ApiError(403, "access_denied", f"missing {MERCHANT_HEADER} header")
    if merchant != state.merchant_id:
        raise ApiError(403, "access_denied", f"merchant {merchant} is not allowed for this client")
    if scope not in issued.scopes:
        raise ApiError(403, "access_denied", f"token lacks scope {scope}")


# orders


def _order(state: SandboxState, request: web.Request) -> SandboxOrder:
    order_id = request.match_info["id"]
    return found(
        state.orders, order_id, lambda: ApiError(404, "not_found", f"order {order_id} not found")
    )


async def create(state: SandboxState, request: web.Request) -> web.Response:
    body = await json_body(request)
    merchants_order = validate_order(body)
    order = state.new_order(body, merchants_order)
    return json_response({"success": True, "order_id": order.id}, status=201)


async def update(state: SandboxState, request: web.Request) -> web.Response:
    order = _order(state, request)
    body = await json_body(request)
    merchants_order = validate_order(body)
    if order.status not in ("passive", "confirmed"):
        raise ApiError(
            400, "order_already_processing", f"order {order.id} is {order.status}; cannot update"
        )
    order.body = body
    state.register_products(body)
    order.merchants_order = merchants_order or order.merchants_order
    order.updated_at = state.clock()
    return json_response({"success": True, "order_id": order.id})


async def confirm(state: SandboxState, request: web.Request) -> web.Response:
    order = _order(state, request)
    if order.status != "passive":
        raise ApiError(400, "order_not_passive", f"order {order.id} is {order.status}, not passive")
    state.set_status(order, "confirmed")
    return json_response(
        {
            "success": True,
            "order_id": order.id,
            "tracking_code": order.tracking_code,
            "tracking_url": order.tracking_url,
        }
    )


async def get(state: SandboxState, request: web.Request) -> web.Response:
    order = _order(state, request)
    return json_response({"order": render_order(order, state.order_items(order))})


async def find(state: SandboxState, request: web.Request) -> web.Response:
    offset = int_param(request, "offset", 0, 0, 2**31)
    limit = int_param(request, "limit", 250, 1, 1000)
    status = request.query.get("status")
    if status is not None and status not in ORDER_STATUSES:
        raise ApiError(400, "status.invalid", f"status must be one of {', '.join(ORDER_STATUSES)}")
    merchants_order = request.query.get("merchants_order")
    rows = [
        order
        for order in state.orders.values()
        if (merchants_order is None or order.merchants_order == merchants_order)
        and (status is None or order.status == status)
    ]
    page = rows[offset : offset + limit]
    return json_response({"orders": [render_order(o, state.order_items(o)) for o in page]})


_CANCELLED_BY = {"passive": "deleted"} | dict.fromkeys(
    ("confirmed", "waiting_products", "problem"), "cancelled"
)
_NOT_CANCELLABLE = {"processing": "order_already_processing"} | dict.fromkeys(
    ("processed", "returning", "returned"), "order_already_processed"
)


async def cancel(state: SandboxState, request: web.Request) -> web.Response:
    order = _order(state, request)
    new_status = _CANCELLED_BY.get(order.status)
    if new_status is None:
        code = _NOT_CANCELLABLE.get(order.status, "order_already_cancelled")
        raise ApiError(400, code, f"order {order.id} is {order.status}; cannot cancel")
    state.set_status(order, new_status)
    return json_response({"success": True})


# Operation(op, method, path, handler, scope): None, the token endpoint, takes HTTP Basic.
OPERATIONS: tuple[Operation[SandboxState], ...] = (
    Operation("token", "POST", "/realms/logitrail/token", token),
    Operation("create", "POST", "/orders/_create", create, SCOPE_MANAGE),
    Operation("find", "GET", "/orders", find, SCOPE_READ),
    Operation("get", "GET", "/orders/{id}", get, SCOPE_READ),
    Operation("update", "POST", "/orders/{id}", update, SCOPE_MANAGE),
    Operation("cancel", "DELETE", "/orders/{id}", cancel, SCOPE_MANAGE),
    Operation("confirm", "POST", "/orders/{id}/_confirm", confirm, SCOPE_MANAGE),
    Operation("return_create", "POST", "/order-returns", returns.create, SCOPE_RETURNS_MANAGE),
    Operation("return_list", "GET", "/order-returns", returns.list_returns, SCOPE_RETURNS_READ),
    Operation("return_get", "GET", "/order-returns/{id}", returns.get, SCOPE_RETURNS_READ),
    Operation(
        "return_cancel", "POST", "/order-returns/{id}/cancel", returns.cancel, SCOPE_RETURNS_MANAGE
    ),
    Operation(
        "return_decision",
        "POST",
        "/order-returns/{id}/merchant-decision",
        returns.decision,
        SCOPE_RETURNS_MANAGE,
    ),
)
OPS = op_names(OPERATIONS)
