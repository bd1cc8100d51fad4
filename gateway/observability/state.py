"""A provider's live state as its transport reports it (`ProviderTransport.state`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProviderState:
    """What `/readyz` and `/v1/providers` show. Never a credential."""

    name: str
    circuit: str
    configuration_error: str | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    """Wall time of `last_error`."""
    token_expires_at: float | None = None
    """Wall time the cached token expires (never the token itself)."""
    gate_open_at: float | None = None
    """Wall time the Retry-After gate opens again, while it is closed."""
    in_flight: int = 0
    max_concurrency: int = 0
    max_rate: float = 0.0
    time_period: float = 0.0
    shared: str = "local"
    """How the limits above are split or shared by replicas (`Fleet.description`)."""
