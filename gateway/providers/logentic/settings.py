"""`[providers.logentic]` keys (DESIGN §11) on top of the common provider keys."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import Field

from gateway.config import EnvName, ProviderSettings, WarehouseSettings


class LogenticWarehouse(WarehouseSettings):
    warehouse_id: Annotated[int, Field(ge=1)]
    """Logentic's integer id of the warehouse (seed 001: `warehouse_id` is an integer)."""


class LogenticSettings(ProviderSettings):
    token_env: EnvName
    webhook_secret_env: EnvName | None = None
    """Shared secret of the `Signature` HMAC; without it `/v1/webhooks/logentic` is 404."""
    warehouses: Mapping[str, LogenticWarehouse]
    per_page: Annotated[int, Field(ge=1, le=100)] = 100
    item_cache_ttl_s: Annotated[float, Field(ge=0)] = 600.0
    """How long a SKU → item_id answer is trusted; a SKU not in the cache is always looked up."""
    stock_cache_ttl_s: Annotated[float, Field(ge=0)] = 30.0
    """How long an item_quantities snapshot serves stock-aware routing."""
    create_missing_items: bool = False
    """Create an item for a SKU Logentic does not know (needs the line's dimensions and
    weight); off by default: an unknown SKU is refused."""
    weight_unit: Literal["lb", "oz", "kg", "g"] = "lb"
    """The account's item weight unit (seed 001: "confirm account-specific unit expectations")."""
    signature_header: str = "Signature"
    topic_header: str = "Logentic-Topic"
