"""The answers of `/v1/orders` as views (built from the store's rows by
`gateway.orders.views`), the query of its list, and the shapes every route shares (`Problem`,
`WebhookReceipt`)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from gateway.model.closed import Closed
from gateway.model.dates import Instant
from gateway.model.history import Source
from gateway.model.lifecycle import Outcome
from gateway.model.orders import CanonicalOrder, Phase, Status
from gateway.model.query import Count, OrderCursor, Since, page_cursor, page_limit
from gateway.model.text import ShortText
from gateway.model.view import Page, Stamp, StoredAs, View, history_of

MAX_PAGE = 200
"""The most orders or returns one list page holds."""

SOURCE = "what caused it: api (a client's call), webhook, poll, submitter"
ACTOR = "who: the client id (api), the provider (webhook, poll), `submitter`"


class RouteRef(View):
    rule: str = Field(description="the routing rule that took the order")
    candidate: int = Field(description="index of the chosen candidate within the rule")


class SubmissionState(View):
    phase: Phase
    attempts: int
    last_error: dict[str, Any] | None = Field(
        description="the provider's last answer that deferred or rejected the submission"
    )


class PartLineView(View):
    sku: str
    quantity: int


class PartTracking(View):
    code: str | None
    url: str | None


class PartView(View):
    """One part of an order: what one provider and warehouse ship of it."""

    part: int = Field(description="1, 2, …; part 1 is the order's top-level provider/warehouse")
    provider: str
    warehouse: str
    provider_order_id: str | None = Field(description="null until the provider has the part")
    status: Status
    lines: list[PartLineView] = Field(description="the units of each SKU this part ships")
    tracking: PartTracking = Field(description="the part's parcel, as its provider last said it")
    submission: SubmissionState


class HistoryItem(View):
    status: Status
    source: Source = Field(description=SOURCE)
    actor: str = Field(description=ACTOR)
    at: Stamp
    detail: str | None
    outcome: Outcome = Field(
        description="`applied`; `ignored`: news that would have moved the order backwards,"
        " never applied; `unchanged`: an action that left the status as it was (a `PATCH`)"
    )


class TrackingView(View):
    code: str | None
    url: str | None
    shipment_ids: list[str] = Field(description="the provider's shipment ids, as they became known")


class HoldState(View):
    reason: str = Field(description="the hold rule's name, `hold_until`, or the caller's reason")
    since: Stamp
    until: Stamp | None = Field(description="when it releases itself; null: only on request")


class OrderView(View):
    """An order as the gateway holds it."""

    id: str = Field(description="gateway id (`ord_…`)", examples=["ord_01JD5X7W2N8Q3K4M5P6R7S8T9V"])
    external_id: str
    status: Status
    provider: str | None = Field(description="null while held before routing")
    warehouse: str | None = Field(description="null while held before routing")
    provider_order_id: str | None = Field(description="null until the provider has the order")
    provider_status: str | None = Field(description="the provider's own status, as last heard")
    tracking: TrackingView
    route: RouteRef | None = Field(description="null while held before routing")
    hold: HoldState | None = Field(description="why and until when the order is held; null if not")
    late_at: Stamp | None = Field(
        description="when the order was found not shipped by its `ship_by` (`order.late`)"
    )
    submission: SubmissionState
    parts: list[PartView] = Field(
        default_factory=list,
        description="where the order is fulfilled, part by part: one element when it is not"
        " split, none while it is held or not yet routed",
    )
    supersedes: str | None = Field(
        description="the rejected order of the same `external_id` this one corrects"
    )
    superseded_by: str | None = Field(
        description="the order that corrects this rejected one and holds its `external_id` now"
    )
    created_at: Stamp
    updated_at: Stamp
    order: Annotated[dict[str, Any], StoredAs(CanonicalOrder)]
    history: list[HistoryItem] | None = history_of("order")


class OrderList(Page[OrderView]):
    pass


class ListOrdersQuery(Closed):
    """Query parameters of `GET /v1/orders`."""

    external_id: ShortText | None = None
    status: Status | None = None
    provider: ShortText | None = None
    updated_since: Since | None = Field(
        default=None,
        description="RFC 3339 date-time with a time zone, 0001-01-01 to 9999-12-31 in UTC",
    )
    cursor: OrderCursor | None = page_cursor()
    limit: Count = page_limit(50, MAX_PAGE)
    late: bool | None = Field(
        default=None, description="true: only orders late now (not shipped by `ship_by`)"
    )


class HoldRequest(Closed):
    """`POST /v1/orders/{id}/hold`."""

    reason: ShortText
    until: Instant | None = Field(default=None, description="release it by itself then")


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


class WebhookReceipt(View):
    received: int = Field(description="events in the delivery")
    new: int = Field(description="events not seen before (the rest were redeliveries)")
