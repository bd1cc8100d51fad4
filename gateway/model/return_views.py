"""The answers of `/v1/returns` as views (built from the store's rows by
`gateway.returns.views`), and the query of its list."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from gateway.model.closed import Closed
from gateway.model.history import Source
from gateway.model.query import Count, ReturnCursor, page_cursor, page_limit
from gateway.model.responses import ACTOR, MAX_PAGE, SOURCE
from gateway.model.returns import (
    CanonicalReturn,
    Decision,
    ReturnLine,
    ReturnPhase,
    ReturnStatus,
    ReturnType,
)
from gateway.model.text import OrderId
from gateway.model.view import Page, Stamp, StoredAs, View, history_of


class ReturnSubmissionState(View):
    phase: ReturnPhase
    attempts: int
    last_error: dict[str, Any] | None = Field(
        description="the provider's last answer that deferred or rejected the return"
    )


class ReturnPartView(View):
    """One provider return of the return: the part of a split order that shipped its lines
    (an unsplit order's return has one, part 1)."""

    part: int = Field(description="the order's part (`parts[].part` of the order) returned")
    provider: str
    provider_order_id: str = Field(description="the provider order of that part")
    provider_return_id: str | None = Field(description="null until the provider has it")
    provider_status: str | None = Field(description="the provider's own status, as last seen")
    status: ReturnStatus
    lines: list[ReturnLine] | None = Field(
        description="what this part takes back (null: every line of the order)"
    )
    submission: ReturnSubmissionState


class ReturnHistoryItem(View):
    status: ReturnStatus
    source: Source = Field(description=SOURCE)
    actor: str = Field(description=ACTOR)
    at: Stamp
    detail: str | None


class ReturnView(View):
    """A return as the gateway holds it."""

    id: str = Field(description="gateway id (`ret_…`)", examples=["ret_01JD5X7W2N8Q3K4M5P6R7S8T9V"])
    external_id: str | None = Field(description="the merchant's reference (RMA)")
    order_id: str = Field(description="the gateway id of the returned order")
    type: ReturnType
    status: ReturnStatus
    provider: str
    provider_order_id: str
    provider_return_id: str | None = Field(description="null until the provider has it")
    provider_status: str | None = Field(description="the provider's own status, as last seen")
    decision: Decision | None
    submission: ReturnSubmissionState
    created_at: Stamp
    updated_at: Stamp
    return_: Annotated[dict[str, Any], StoredAs(CanonicalReturn)] = Field(
        alias="return", description="the canonical return as sent (`lines: null`: all lines)"
    )
    parts: list[ReturnPartView] = Field(
        description="one provider return per part of a split order that shipped the lines"
        " (one element otherwise); a return spanning parts derives its `status` from"
        " theirs, and its own `provider`, `provider_order_id` are its first part's"
    )
    history: list[ReturnHistoryItem] | None = history_of("return")


class ReturnList(Page[ReturnView]):
    pass


class ListReturnsQuery(Closed):
    """Query parameters of `GET /v1/returns`."""

    order_id: OrderId | None = None
    status: ReturnStatus | None = None
    cursor: ReturnCursor | None = page_cursor()
    limit: Count = page_limit(50, MAX_PAGE)
