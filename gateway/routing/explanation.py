"""The answer of `POST /v1/routing/explain`, as a view."""

from __future__ import annotations

from pydantic import Field

from gateway.model.view import View
from gateway.routing.evaluate import Decision, RuleTrace


class RoutingExplanation(View):
    decision: Decision | None = Field(description="null when no rule takes the order")
    reason: str | None
    trace: list[RuleTrace] = Field(description="every rule tried, in order, and why")
