"""`[providers.logentic]` keys on top of the common provider keys."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import Field

from gateway.config import EnvName, ProviderSettings, WarehouseSettings


class LogenticWarehouse(WarehouseSettings):
    warehouse_id: Annotated[int, Field(ge=1)]
    """Logentic's integer id of the warehouse (`warehouse_id` is an integer)."""


class LogenticSettings(ProviderSettings):
    token_env: EnvName
    webhook_secret_env: EnvName | None = None
    """Shared secret of the `Signature` HMAC; without it `/v1/webhooks/logentic` is 404."""
    warehouses: Mapping[str, LogenticWarehouse]
    per_page: Annotated[int, Field(ge=1, le=100)] = 100
    item_cache_ttl_s: Annotated[float, Field(ge=0)] = 600.0
    """How long a SKU → item_id answer is trusted."""
    item_miss_ttl_s: Annotated[float, Field(ge=0, le=3600)] = 60.0
    """How long a SKU Logentic has no item for is remembered as missing (0: not at all), so
    orders repeating it are refused without a look-up each; an item created meanwhile is
    found once this has passed."""
    max_unknown_skus: Annotated[int, Field(ge=1, le=1000)] = 10
    """Unknown SKUs one order may make the gateway look up: past this many the order is
    refused (422 naming those found missing) without asking about the rest, so one tenant's
    order cannot spend the account's shared rate limit on a thousand look-ups."""
    stock_cache_ttl_s: Annotated[float, Field(ge=0)] = 30.0
    """How long an item_quantities snapshot serves stock-aware routing."""
    create_missing_items: bool = False
    """Create an item for a SKU Logentic does not know (needs the line's dimensions and
    weight); off by default: an unknown SKU is refused."""
    weight_unit: Literal["lb", "oz", "kg", "g"] = "lb"
    """The account's item weight unit (Logentic: the unit is account-specific)."""
    signature_header: str = "Signature"
    topic_header: str = "Logentic-Topic"
