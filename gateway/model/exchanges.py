"""How a provider exchange (one HTTP attempt made for an order or return) looks to callers:
`GET /v1/orders/{id}/exchanges`, `GET /v1/returns/{id}/exchanges`."""

from __future__ import annotations

from pydantic import Field

from gateway.model.closed import Closed
from gateway.model.query import Count, page_limit, sequence_cursor
from gateway.model.view import Page, Stamp, View

MAX_EXCHANGE_PAGE = 200


class ExchangesQuery(Closed):
    """Query parameters of the exchange lists (newest first)."""

    cursor: Count = sequence_cursor("`next_cursor` of the previous page; 0: start")
    limit: Count = page_limit(50, MAX_EXCHANGE_PAGE)


class ExchangeView(View):
    """One HTTP attempt to a provider: what was sent and what it answered, credentials
    removed, each body cut at `audit.body_limit_bytes`."""

    id: int
    at: Stamp
    provider: str
    operation: str = Field(description="the adapter's name of the call (`create`, `confirm`, …)")
    method: str
    path: str = Field(description="path and query, secret-like query values removed")
    part: int | None = Field(description="the split part the call was for, if any")
    attempt: int = Field(description="1 for the first try of a call, 2 for its first retry, …")
    outcome: str = Field(examples=["ok", "http_error", "timeout", "unreachable"])
    request_body: str | None
    request_truncated: bool
    response_status: int | None = Field(description="null when no answer came")
    response_body: str | None
    response_truncated: bool
    latency_ms: float
    correlation_id: str | None


class ExchangeList(Page[ExchangeView]):
    pass
