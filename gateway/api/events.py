"""`/v1/events` (the tenant's feed) and `/v1/deliveries` (its subscribers' delivery state).

The feed is at least once and ordered: events come in the order they were written, so the
events of one order are in order; `after` is the `cursor` of the last event processed
(0 or absent: from the start). A tenant sees only its own events and its own subscribers.
"""

from __future__ import annotations

from functools import partial

from aiohttp import web

from gateway.api.answers import json_response
from gateway.api.auth import require
from gateway.api.keys import CLOCK, FEED
from gateway.api.params import read_query
from gateway.api.spec import EVENT_ID, SUBSCRIBER, describe
from gateway.model.event_views import (
    DeliveriesQuery,
    DeliveryList,
    DeliveryView,
    EventFeed,
    PageQuery,
    RetryReceipt,
)
from gateway.model.events import DeliveryState
from gateway.model.view import instant
from gateway.store import DeliveryRow

routes = web.RouteTableDef()

_read = partial(describe, tag="events", scopes=("orders:read",))
"""`describe` of a route that reads the tenant's feed or its delivery state."""


@routes.get("/v1/events")
@_read(
    "This tenant's event feed, oldest first (at least once, in order)",
    query=PageQuery,
    responses={200: EventFeed},
)
async def feed(request: web.Request) -> web.Response:
    client = require(request)
    page = read_query(request, PageQuery)
    rows = await request.app[FEED].events(client, after=page.after, limit=page.limit)
    return json_response(EventFeed.page(rows, page.after))


@routes.get("/v1/deliveries")
@_read(
    "Delivery state of this tenant's events to its subscribers (dead letters included)",
    query=DeliveriesQuery,
    responses={200: DeliveryList},
)
async def deliveries(request: web.Request) -> web.Response:
    client = require(request)
    query = read_query(request, DeliveriesQuery)
    rows = await request.app[FEED].deliveries(
        client,
        subscriber=query.subscriber,
        state=query.state,
        after=query.after,
        limit=query.limit,
    )
    items = [_delivery(r) for r in rows]
    return json_response(
        DeliveryList(items=items, next_after=items[-1].cursor if items else str(query.after))
    )


@routes.post("/v1/deliveries/{subscriber}/{event_id}/retry")
@describe(
    "Send a dead-lettered event to its subscriber again",
    tag="events",
    path={"subscriber": SUBSCRIBER, "event_id": EVENT_ID},
    responses={200: RetryReceipt},
    problems=(404, 409),
    scopes=("orders:write",),
)
async def retry(request: web.Request) -> web.Response:
    client = require(request)
    subscriber, event_id = request.match_info["subscriber"], request.match_info["event_id"]
    now = request.app[CLOCK].time()
    await request.app[FEED].retry(client, subscriber, event_id, now=now)
    return json_response(RetryReceipt(subscriber=subscriber, event_id=event_id, state="pending"))


def _delivery(row: DeliveryRow) -> DeliveryView:
    pending = row.state is DeliveryState.PENDING
    return DeliveryView.model_validate(
        {
            "subscriber": row.subscriber,
            "event": row.event.payload(),
            "cursor": str(row.event.seq),
            "state": row.state.value,
            "attempts": row.attempts,
            "next_attempt_at": instant(row.next_attempt_at) if pending else None,
            "last_status": row.last_status,
            "last_error": row.last_error,
            "delivered_at": instant(row.delivered_at) if row.delivered_at else None,
        }
    )
