"""The answer of `POST /v1/routing/explain`, as a view."""

from __future__ import annotations

from pydantic import Field

from gateway.model.view import Stamp, View
from gateway.routing.evaluate import Decision, RuleTrace


class HoldDecision(View):
    reason: str = Field(description="the hold rule's name, or `hold_until`")
    until: Stamp | None = Field(description="when the order would release itself; null: never")


class RoutingExplanation(View):
    decision: Decision | None = Field(description="null when no rule takes the order")
    reason: str | None
    trace: list[RuleTrace] = Field(description="every rule tried, in order, and why")
    hold: HoldDecision | None = Field(
        default=None,
        description="the hold the order would be stored under, before routing (null: none);"
        " `decision` is then where a release now would send it",
    )
    holds: list[RuleTrace] = Field(
        default_factory=list, description="every hold rule tried, in order, and why"
    )
