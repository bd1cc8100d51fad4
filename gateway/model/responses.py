"""Shapes of the facade's answers, as pydantic models: the OpenAPI document is built from them.

The handlers render plain dicts (`gateway.orders.views`); the tests validate real answers
against the schemas these models produce, so a drift between the two fails a test.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from gateway.model.events import DeliveryState
from gateway.model.history import Source
from gateway.model.lifecycle import Outcome
from gateway.model.orders import CanonicalOrder, Phase, Status
from gateway.model.query import MAX_SEQUENCE, Count, OrderCursor, Since
from gateway.model.text import ShortText, SubscriberId

MAX_PAGE = 200
"""The most orders or returns one list page holds."""
MAX_FEED_PAGE = 500
"""The most events or deliveries one feed page holds."""

SOURCE = "what caused it: api (a client's call), webhook, poll, submitter"
ACTOR = "who: the client id (api), the provider (webhook, poll), `submitter`"


class Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RouteRef(Closed):
    rule: str = Field(description="the routing rule that took the order")
    candidate: int = Field(description="index of the chosen candidate within the rule")


class SubmissionState(Closed):
    phase: Phase
    attempts: int
    last_error: dict[str, Any] | None = Field(
        description="the provider's last answer that deferred or rejected the submission"
    )


class HistoryItem(Closed):
    status: Status
    source: Source = Field(description=SOURCE)
    actor: str = Field(description=ACTOR)
    at: datetime
    detail: str | None
    outcome: Outcome = Field(
        description="`applied`; `ignored`: news that would have moved the order backwards,"
        " never applied; `unchanged`: an action that left the status as it was (a `PATCH`)"
    )


class TrackingView(Closed):
    code: str | None
    url: str | None
    shipment_ids: list[str] = Field(description="the provider's shipment ids, as they became known")


class OrderView(Closed):
    """An order as the gateway holds it."""

    id: str = Field(description="gateway id (`ord_…`)", examples=["ord_01JD5X7W2N8Q3K4M5P6R7S8T9V"])
    external_id: str
    status: Status
    provider: str
    warehouse: str
    provider_order_id: str | None = Field(description="null until the provider has the order")
    provider_status: str | None = Field(description="the provider's own status, as last heard")
    tracking: TrackingView
    route: RouteRef
    submission: SubmissionState
    supersedes: str | None = Field(
        description="the rejected order of the same `external_id` this one corrects"
    )
    superseded_by: str | None = Field(
        description="the order that corrects this rejected one and holds its `external_id` now"
    )
    created_at: datetime
    updated_at: datetime
    order: CanonicalOrder
    history: list[HistoryItem] | None = Field(
        default=None, description="every status transition (single-order reads only)"
    )


class OrderList(Closed):
    items: list[OrderView]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


class ListOrdersQuery(Closed):
    """Query parameters of `GET /v1/orders`."""

    external_id: ShortText | None = None
    status: Status | None = None
    provider: ShortText | None = None
    updated_since: Since | None = Field(
        default=None,
        description="RFC 3339 date-time with a time zone, 0001-01-01 to 9999-12-31 in UTC",
    )
    cursor: OrderCursor | None = Field(
        default=None, description="`next_cursor` of the previous page"
    )
    limit: Count = Field(default=50, ge=1, le=MAX_PAGE)


class FieldProblemView(Closed):
    loc: str = Field(description="where: `lines[0].sku`, `header.Idempotency-Key`, …")
    msg: str
    rule: str | None = None


class Problem(BaseModel):
    """RFC 9457 problem details; `code` repeats the slug of `type`. More members may follow."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["/problems/validation"])
    title: str
    status: int
    detail: str
    instance: str
    code: str
    errors: list[FieldProblemView] | None = None


class WebhookReceipt(Closed):
    received: int = Field(description="events in the delivery")
    new: int = Field(description="events not seen before (the rest were redeliveries)")


class EventView(Closed):
    """One event of the tenant's feed; the body subscribers receive (Standard Webhooks)."""

    id: str = Field(description="`evt_…`; the `webhook-id` subscribers dedupe on")
    type: str = Field(examples=["order.status_changed"])
    timestamp: datetime
    data: dict[str, Any] = Field(
        description="for order events: the order, status, source, actor, detail…"
    )
    cursor: str = Field(description="pass as `after` to read on from this event")


class EventFeed(Closed):
    items: list[EventView]
    next_after: str = Field(description="pass as `after` for the next page")


class PageQuery(Closed):
    """Query parameters of the event feeds (`GET /v1/events`, `GET /v1/deliveries`)."""

    after: Count = Field(
        default=0, ge=0, le=MAX_SEQUENCE, description="a `cursor` this API returned; 0: start"
    )
    limit: Count = Field(default=100, ge=1, le=MAX_FEED_PAGE)


class DeliveriesQuery(PageQuery):
    state: DeliveryState | None = Field(default=None, description="pending, delivered or dead")
    subscriber: SubscriberId | None = None


class DeliveryEvent(Closed):
    id: str
    type: str
    timestamp: datetime
    data: dict[str, Any]


class DeliveryView(Closed):
    subscriber: str
    event: DeliveryEvent
    cursor: str
    state: str = Field(description="pending, delivered, or dead (after the last attempt)")
    attempts: int
    next_attempt_at: datetime | None
    last_status: int | None = Field(description="HTTP status of the last attempt; 0: no answer")
    last_error: str | None
    delivered_at: datetime | None


class DeliveryList(Closed):
    items: list[DeliveryView]
    next_after: str


class RetryReceipt(Closed):
    subscriber: str
    event_id: str
    state: str
