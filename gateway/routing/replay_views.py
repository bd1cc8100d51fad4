"""The request and the answer of `POST /v1/routing/replay` (and `gateway route --replay`)."""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from gateway.model.closed import Closed
from gateway.model.dates import Instant
from gateway.model.view import Stamp, View

MAX_LIMIT = 10_000
DEFAULT_LIMIT = 1000


class ReplayRequest(Closed):
    routing: dict[str, Any] | None = Field(
        default=None,
        description="the proposed `[routing]` table of the config file (`rules`, `default`)"
        " as JSON; left out: the routing configured now",
    )
    holds: list[Any] | None = Field(
        default=None,
        description="the proposed `[[holds]]` of the config file as JSON; left out: the hold"
        " rules configured now",
    )
    since: Instant = Field(description="orders created at or after this instant")
    until: Instant | None = Field(
        default=None, description="orders created before this instant (default: now)"
    )
    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = Field(
        default=DEFAULT_LIMIT, description="the oldest this many orders of the window"
    )

    @model_validator(mode="after")
    def _window(self) -> Self:
        if self.until is not None and self.until <= self.since:
            # a rule between two fields, which the document can only describe
            raise PydanticCustomError("date_window", "until must be later than since")
        return self

    def proposal(self) -> dict[str, Any]:
        """The sections given, as a config file would hold them."""
        given = {"routing": self.routing, "holds": self.holds}
        return {key: value for key, value in given.items() if value is not None}


class Placement(View):
    """Where an order goes: a provider's warehouse (by a rule), held, or nowhere."""

    provider: str | None = None
    warehouse: str | None = None
    rule: str | None = Field(default=None, description="the rule, `default` or `pinned`")
    candidate: int | None = None
    queued: bool = Field(
        default=False, description="no candidate is healthy now: it would wait for its provider"
    )
    held: str | None = Field(default=None, description="held before routing: the hold's reason")
    held_until: Stamp | None = Field(default=None, description="when that hold releases itself")
    reason: str | None = Field(default=None, description="why no rule takes it (unroutable)")


class ReplayedOrder(View):
    id: str
    external_id: str
    created_at: Stamp
    current: Placement = Field(description="what the stored order got")
    proposed: Placement = Field(description="what the proposed rules would give it")
    moved: bool


class Move(View):
    from_: str = Field(alias="from", description="`provider/warehouse`, `held:<reason>`")
    to: str = Field(description="`provider/warehouse`, `held:<reason>` or `unroutable`")
    count: int


class ReplaySummary(View):
    total: int
    moved: int
    moves: list[Move] = Field(description="most moved first")
    unroutable: list[str] = Field(description="ids of the orders no proposed rule takes")
    held: int = Field(description="orders the proposed hold rules would hold")


class ReplayWindow(View):
    since: Stamp
    until: Stamp
    limit: int


class ReplayAnswer(View):
    orders: list[ReplayedOrder] = Field(description="oldest first")
    summary: ReplaySummary
    window: ReplayWindow
    truncated: bool = Field(description="the window holds more orders than `limit`")
