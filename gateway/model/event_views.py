"""The answers of `/v1/events` (the tenant's feed) and `/v1/deliveries` (its subscribers'
delivery state) as views, and the queries of both. An event is its own row's view
(`EventView.from_row`); a delivery is built where the store's row is seen
(`gateway.api.events`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import Field

from gateway.model.closed import Closed
from gateway.model.events import DeliveryState, EventRow
from gateway.model.query import Count, page_limit, sequence_cursor
from gateway.model.text import SubscriberId
from gateway.model.view import Stamp, View

MAX_FEED_PAGE = 500
"""The most events or deliveries one feed page holds."""


class PageQuery(Closed):
    """Query parameters of the event feeds (`GET /v1/events`, `GET /v1/deliveries`)."""

    after: Count = sequence_cursor("a `cursor` this API returned; 0: start")
    limit: Count = page_limit(100, MAX_FEED_PAGE)


class DeliveriesQuery(PageQuery):
    state: DeliveryState | None = Field(default=None, description="pending, delivered or dead")
    subscriber: SubscriberId | None = None


class DeliveryEvent(View):
    id: str
    type: str
    timestamp: Stamp
    data: dict[str, Any]


class EventView(View):
    """One event of the tenant's feed; the body subscribers receive (Standard Webhooks)."""

    id: str = Field(description="`evt_…`; the `webhook-id` subscribers dedupe on")
    type: str = Field(examples=["order.status_changed"])
    timestamp: Stamp
    data: dict[str, Any] = Field(
        description="for order events: the order, status, source, actor, detail…"
    )
    cursor: str = Field(description="pass as `after` to read on from this event")

    @classmethod
    def from_row(cls, row: EventRow) -> EventView:
        # The body subscribers are sent, and where it stands in the feed.
        return cls.model_validate({**row.payload(), "cursor": str(row.seq)})


class EventFeed(View):
    items: list[EventView]
    next_after: str = Field(description="pass as `after` for the next page")

    @classmethod
    def page(cls, rows: Sequence[EventRow], after: int) -> EventFeed:
        items = [EventView.from_row(r) for r in rows]
        return cls(items=items, next_after=items[-1].cursor if items else str(after))


class DeliveryView(View):
    subscriber: str
    event: DeliveryEvent
    cursor: str
    state: str = Field(description="pending, delivered, or dead (after the last attempt)")
    attempts: int
    next_attempt_at: Stamp | None
    last_status: int | None = Field(description="HTTP status of the last attempt; 0: no answer")
    last_error: str | None
    delivered_at: Stamp | None


class DeliveryList(View):
    items: list[DeliveryView]
    next_after: str


class RetryReceipt(View):
    subscriber: str
    event_id: str
    state: str
