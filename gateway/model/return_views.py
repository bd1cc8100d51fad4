"""Shapes of the `/v1/returns` answers, as pydantic models (for the OpenAPI document; the
handlers render plain dicts in `gateway.returns.views`, and tests validate real answers
against these, so the two cannot drift apart)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from gateway.model.history import Source
from gateway.model.query import Count, ReturnCursor
from gateway.model.responses import ACTOR, MAX_PAGE, SOURCE
from gateway.model.returns import CanonicalReturn, Decision, ReturnPhase, ReturnStatus, ReturnType
from gateway.model.text import OrderId


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReturnSubmissionState(_Closed):
    phase: ReturnPhase
    attempts: int
    last_error: dict[str, Any] | None = Field(
        description="the provider's last answer that deferred or rejected the return"
    )


class ReturnHistoryItem(_Closed):
    status: ReturnStatus
    source: Source = Field(description=SOURCE)
    actor: str = Field(description=ACTOR)
    at: datetime
    detail: str | None


class ReturnView(_Closed):
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
    created_at: datetime
    updated_at: datetime
    return_: CanonicalReturn = Field(
        alias="return", description="the canonical return as sent (`lines: null`: all lines)"
    )
    history: list[ReturnHistoryItem] | None = Field(
        default=None, description="every status transition (single-return reads only)"
    )


class ReturnList(_Closed):
    items: list[ReturnView]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


class ListReturnsQuery(_Closed):
    """Query parameters of `GET /v1/returns`."""

    order_id: OrderId | None = None
    status: ReturnStatus | None = None
    cursor: ReturnCursor | None = Field(
        default=None, description="`next_cursor` of the previous page"
    )
    limit: Count = Field(default=50, ge=1, le=MAX_PAGE)
