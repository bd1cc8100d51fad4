"""`/v1/events` (the tenant's feed) and `/v1/deliveries` (its subscribers' delivery state).

The feed is at least once and ordered: events come in the order they were written, so the
events of one order are in order; `after` is the `cursor` of the last event processed
(0 or absent: from the start). A tenant sees only its own events and its own subscribers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from gateway.api.auth import require
from gateway.api.keys import SETTINGS, STORE
from gateway.api.orders import json_response
from gateway.api.spec import describe
from gateway.model.problems import FieldProblem, ProblemError
from gateway.model.responses import (
    DeliveriesQuery,
    DeliveryList,
    EventFeed,
    PageQuery,
    RetryReceipt,
)
from gateway.store import DeliveryRow, DeliveryState

routes = web.RouteTableDef()

MAX_LIMIT = 500
DEFAULT_LIMIT = 100


@routes.get("/v1/events")
@describe(
    "This tenant's event feed, oldest first (at least once, in order)",
    tag="events",
    query=PageQuery,
    responses={200: EventFeed},
    problems=(400,),
    scopes=("orders:read",),
)
async def feed(request: web.Request) -> web.Response:
    client = require(request, "orders:read")
    after, limit = _page(request.query)
    rows = await request.app[STORE].events_after(client.id, after=after, limit=limit)
    items = [{**r.payload(), "cursor": str(r.seq)} for r in rows]
    return json_response(
        {"items": items, "next_after": items[-1]["cursor"] if items else str(after)}
    )


@routes.get("/v1/deliveries")
@describe(
    "Delivery state of this tenant's events to its subscribers (dead letters included)",
    tag="events",
    query=DeliveriesQuery,
    responses={200: DeliveryList},
    problems=(400,),
    scopes=("orders:read",),
)
async def deliveries(request: web.Request) -> web.Response:
    client = require(request, "orders:read")
    after, limit = _page(request.query)
    state = None
    if "state" in request.query:
        try:
            state = DeliveryState(request.query["state"])
        except ValueError:
            raise _bad_query(
                "query.state", "must be one of " + ", ".join(s.value for s in DeliveryState)
            ) from None
    mine = _subscribers(request, client.id)
    wanted = request.query.get("subscriber")
    if wanted is not None:
        mine = [s for s in mine if s == wanted]
    rows = await request.app[STORE].list_deliveries(mine, state=state, after=after, limit=limit)
    items = [_delivery_view(r) for r in rows]
    return json_response(
        {"items": items, "next_after": items[-1]["cursor"] if items else str(after)}
    )


@routes.post("/v1/deliveries/{subscriber}/{event_id}/retry")
@describe(
    "Send a dead-lettered event to its subscriber again",
    tag="events",
    responses={200: RetryReceipt},
    problems=(404, 409),
    scopes=("orders:write",),
)
async def retry(request: web.Request) -> web.Response:
    client = require(request, "orders:write")
    subscriber, event_id = request.match_info["subscriber"], request.match_info["event_id"]
    if subscriber not in _subscribers(request, client.id):
        raise ProblemError(
            404, "not-found", "No such subscriber", detail=f"subscriber {subscriber} is not yours"
        )
    now = datetime.now(UTC).timestamp()
    if not await request.app[STORE].retry_delivery(subscriber, event_id, now=now):
        raise ProblemError(
            409,
            "not-dead",
            "Only a dead delivery can be retried",
            detail=f"event {event_id} is not dead-lettered for subscriber {subscriber}",
        )
    return json_response({"subscriber": subscriber, "event_id": event_id, "state": "pending"})


def _subscribers(request: web.Request, client_id: str) -> list[str]:
    return [s.id for s in request.app[SETTINGS].subscribers if s.client == client_id]


def _delivery_view(row: DeliveryRow) -> dict[str, Any]:
    return {
        "subscriber": row.subscriber,
        "event": row.event.payload(),
        "cursor": str(row.event.seq),
        "state": row.state.value,
        "attempts": row.attempts,
        "next_attempt_at": _iso(row.next_attempt_at)
        if row.state is DeliveryState.PENDING
        else None,
        "last_status": row.last_status,
        "last_error": row.last_error,
        "delivered_at": _iso(row.delivered_at) if row.delivered_at else None,
    }


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _page(query: MultiMapping[str]) -> tuple[int, int]:
    raw_after = query.get("after", "0")
    if not raw_after.isdigit():
        raise _bad_query("query.after", "must be a cursor this API returned")
    raw_limit = query.get("limit", str(DEFAULT_LIMIT))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise _bad_query("query.limit", f"must be an integer 1–{MAX_LIMIT}")
    return int(raw_after), int(raw_limit)


def _bad_query(loc: str, msg: str) -> ProblemError:
    return ProblemError(
        400,
        "invalid-query",
        "Invalid query parameters",
        detail=f"{loc} {msg}",
        errors=[FieldProblem(loc, msg)],
    )
