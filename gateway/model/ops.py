"""The answers of the operations endpoints (`/healthz`, `/readyz`, `/v1/providers`) as views
(built from the providers' live state by `gateway.api.ops`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from gateway.model.view import View

ProviderStatus = Literal["ok", "degraded", "misconfigured"]


class Liveness(View):
    status: Literal["ok"]


class Limiter(View):
    max_rate: float
    time_period: float
    max_concurrency: int
    in_flight: int
    shared: str = Field(
        description="how the limits are split or shared between replicas (`local`, Redis, …)"
    )


class Queue(View):
    depth: int = Field(
        description="orders, and parts of split orders, for this provider whose submission is"
        " not finished"
    )
    oldest_age_s: float = Field(description="seconds since the oldest of them was accepted")


class ProviderView(View):
    name: str
    status: ProviderStatus
    reasons: list[str]
    healthy: bool = Field(description="routing sends here (circuit not open)")
    circuit: Literal["closed", "half_open", "open"]
    retry_after_until: str | None = Field(
        description="when the Retry-After gate opens again, while a 429 holds it shut"
    )
    limiter: Limiter
    token_expires_at: str | None = Field(description="expiry of the cached token (never the token)")
    configuration_error: str | None
    last_error: str | None
    last_error_at: str | None
    queue: Queue | None = Field(description="null when the store cannot be read")


class ProviderList(View):
    providers: list[ProviderView]


class Readiness(View):
    status: Literal["ready", "not_ready"]
    degraded: list[str] = Field(description="providers that fail or throttle (orders queue)")
    checks: dict[str, Any] = Field(description="`store` and `providers.<name>` with a status each")
