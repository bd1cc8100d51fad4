"""`[providers.logitrail]` keys on top of the common provider keys."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import Field, field_validator

from gateway.config import EnvName, ProviderSettings, WarehouseSettings, http_url


class LogitrailWarehouse(WarehouseSettings):
    """Logitrail has no warehouse list: one configured name per merchant account."""


class LogitrailSettings(ProviderSettings):
    token_url: str
    client_id_env: EnvName
    client_secret_env: EnvName
    merchant_id: Annotated[str, Field(min_length=1)]
    scopes: list[str] = Field(default_factory=lambda: ["orders:read", "orders:manage"])
    """Exact scope strings; a scope the client may not request is a configuration error."""
    returns_enabled: bool = True
    """Offer the order returns service through `/v1/returns`."""
    returns_scopes: list[str] = Field(
        default_factory=lambda: ["order_returns:read", "order_returns:manage"]
    )
    """Scopes of the token returns calls use: a token of their own, fetched on first use, so
    an account without the returns service keeps its orders working."""
    webhook_token_env: EnvName | None = None
    token_skew_s: Annotated[float, Field(ge=0)] = 30.0
    """Refresh this long before the token's `expires_in` runs out."""
    prefetch_token: bool = True
    """Fetch a token at start-up, so bad credentials or scopes show in /readyz at once."""
    warehouses: Mapping[str, LogitrailWarehouse] = Field(
        default_factory=lambda: {"FI-VANTAA": LogitrailWarehouse()}
    )

    @field_validator("token_url")
    @classmethod
    def _token_url(cls, value: str) -> str:
        return http_url(value)
