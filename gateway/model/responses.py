"""Shapes of the facade's answers, as pydantic models: the OpenAPI document is built from them.

The handlers render plain dicts (`gateway.orders.views`); the tests validate real answers
against the schemas these models produce, so a drift between the two fails a test.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from gateway.model.orders import CanonicalOrder, Phase, Status


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
    source: str = Field(description="what reported it: api, submitter, webhook, poll")
    at: datetime
    detail: str | None


class OrderView(Closed):
    """An order as the gateway holds it."""

    id: str = Field(description="gateway id (`ord_…`)", examples=["ord_01JD5X7W2N8Q3K4M5P6R7S8T9V"])
    external_id: str
    status: Status
    provider: str
    warehouse: str
    provider_order_id: str | None = Field(description="null until the provider has the order")
    route: RouteRef
    submission: SubmissionState
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

    external_id: str | None = None
    status: Status | None = None
    provider: str | None = None
    updated_since: datetime | None = Field(
        default=None, description="ISO-8601 date-time with a time zone"
    )
    cursor: str | None = Field(default=None, description="`next_cursor` of the previous page")
    limit: int = Field(default=50, ge=1, le=200)


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
