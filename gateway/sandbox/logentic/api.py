"""Logentic API v1 as the sandbox performs it (the contract in `app.py`).

Handlers are plain functions of the sandbox state and the request; they raise `ApiError` for
every error answer. The bearer token (401) and, on POST/PUT, the JSON content type (400) are
checked first, as part of performing the operation (so after faults are evaluated).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import orjson
from aiohttp import web

from gateway.sandbox.harness import Operation, json_response, op_names
from gateway.sandbox.harness.records import found

from .errors import ApiError, not_found
from .state import LogenticItem, LogenticOrder, LogenticState
from .validation import item_fields, order_fields, page_params, updated_range

_WITH_BODY = frozenset({"POST", "PUT"})
R = TypeVar("R")


# request checks ----------------------------------------------------------------------------
def authorize(state: LogenticState, request: web.Request) -> None:
    """401 unless `Authorization: Bearer <the configured token>`."""
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not state.token_ok(token.strip()):
        raise ApiError(401, "Unauthenticated.")


def require_json(request: web.Request) -> None:
    if request.method in _WITH_BODY and request.content_type != "application/json":
        raise ApiError(400, "Content-Type must be application/json")


async def json_body(request: web.Request) -> Any:
    try:
        return orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise ApiError(400, "Malformed JSON body.") from None


# lists -------------------------------------------------------------------------------------
def paginate(request: web.Request, rows: list[dict[str, Any]], default_per_page: int) -> Any:
    """Logentic's list answer: `data` plus `meta.pagination`, with ABSOLUTE page links.

    The links are the request's own URL (scheme, host, port, full path, query) with
    `page=N`; `previous` is null on page 1, `next` on the last page or past it.
    """
    page, per_page = page_params(request.query, default_per_page)
    total = len(rows)
    total_pages = max(1, -(-total // per_page))
    chunk = rows[(page - 1) * per_page : page * per_page]

    def link(n: int) -> str:
        return str(request.url.update_query(page=str(n)))

    return {
        "data": chunk,
        "meta": {
            "pagination": {
                "total": total,
                "count": len(chunk),
                "per_page": per_page,
                "current_page": page,
                "total_pages": total_pages,
                "links": {
                    "previous": link(page - 1) if page > 1 else None,
                    "next": link(page + 1) if page < total_pages else None,
                },
            }
        },
    }


def _updated_within(request: web.Request) -> Callable[[float], bool]:
    start, end = updated_range(request.query)
    return lambda ts: (start is None or ts >= start) and (end is None or ts <= end)


def _by_id(table: Mapping[int, R], request: web.Request) -> R:
    return found(table, int(request.match_info["id"]), not_found)  # the route takes digits


# orders ------------------------------------------------------------------------------------
def _order(state: LogenticState, request: web.Request) -> LogenticOrder:
    return _by_id(state.orders, request)


async def create_order(state: LogenticState, request: web.Request) -> web.Response:
    fields = order_fields(await json_body(request), state, creating=True)
    order = state.create_order(fields)
    return json_response({"data": order.to_json()}, status=201)


async def list_orders(state: LogenticState, request: web.Request) -> web.Response:
    names = {n for n in request.query.get("external_name", "").split(",") if n}
    shopify = request.query.get("shopify_order_id") or None
    within = _updated_within(request)
    rows = [
        order.to_json()
        for order in sorted(state.orders.values(), key=lambda o: o.id)
        if (not names or order.external_name in names)
        and (shopify is None or order.shopify_order_id == shopify)
        and within(order.updated_at)
    ]
    return json_response(paginate(request, rows, state.per_page))


async def get_order(state: LogenticState, request: web.Request) -> web.Response:
    return json_response({"data": _order(state, request).to_json()})


async def update_order(state: LogenticState, request: web.Request) -> web.Response:
    """Any subset of the create fields, while PENDING; `{"status": "CANCELLED"}` cancels."""
    body = await json_body(request)
    order = _order(state, request)
    if order.status != "PENDING":
        message = "Only pending orders can be updated."
        raise ApiError(422, message, errors={"status": [message]})
    state.update_order(order, order_fields(body, state, creating=False))
    return json_response({"data": order.to_json()})


# items and stock ---------------------------------------------------------------------------
def _item(state: LogenticState, request: web.Request) -> LogenticItem:
    return _by_id(state.items, request)


async def list_items(state: LogenticState, request: web.Request) -> web.Response:
    sku = request.query.get("external_name") or None
    variant = request.query.get("shopify_variant_id") or None
    rows = [
        item.to_json()
        for item in sorted(state.items.values(), key=lambda i: i.id)
        if (sku is None or item.external_name == sku)
        and (variant is None or item.shopify_variant_id == variant)
    ]
    return json_response(paginate(request, rows, state.per_page))


async def get_item(state: LogenticState, request: web.Request) -> web.Response:
    return json_response({"data": _item(state, request).to_json()})


async def create_item(state: LogenticState, request: web.Request) -> web.Response:
    item = state.add_item(item_fields(await json_body(request)))
    return json_response({"data": item.to_json()}, status=201)


def _quantities(
    state: LogenticState, request: web.Request, item_ids: Iterable[int] | None
) -> web.Response:
    wanted = None if item_ids is None else set(item_ids)
    variant = request.query.get("shopify_variant_id") or None
    within = _updated_within(request)
    rows = [
        state.quantity_json(record)
        for record in sorted(state.quantities.values(), key=lambda q: q.id)
        if (wanted is None or record.item_id in wanted)
        and (variant is None or state.items[record.item_id].shopify_variant_id == variant)
        and within(record.updated_at)
    ]
    return json_response(paginate(request, rows, state.per_page))


async def list_quantities(state: LogenticState, request: web.Request) -> web.Response:
    return _quantities(state, request, None)


async def item_quantities(state: LogenticState, request: web.Request) -> web.Response:
    return _quantities(state, request, [_item(state, request).id])


OPERATIONS: tuple[Operation[LogenticState], ...] = (
    Operation("create", "POST", "/v1/orders", create_order),
    Operation("list", "GET", "/v1/orders", list_orders),
    Operation("get", "GET", r"/v1/orders/{id:\d+}", get_order),
    Operation("update", "PUT", r"/v1/orders/{id:\d+}", update_order),
    Operation("quantities", "GET", "/v1/items/item_quantities", list_quantities),
    Operation("items", "GET", "/v1/items", list_items),
    Operation("create_item", "POST", "/v1/items", create_item),
    Operation("item", "GET", r"/v1/items/{id:\d+}", get_item),
    Operation("quantities", "GET", r"/v1/items/{id:\d+}/item_quantities", item_quantities),
)
OPS = op_names(OPERATIONS)
"""create, list, get, update, items, item, create_item, quantities."""
