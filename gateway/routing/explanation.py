"""The answer of `POST /v1/routing/explain`, as a model (for the OpenAPI document)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from gateway.routing.evaluate import Decision, RuleTrace


class RoutingExplanation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Decision | None = Field(description="null when no rule takes the order")
    reason: str | None
    trace: list[RuleTrace] = Field(description="every rule tried, in order, and why")
