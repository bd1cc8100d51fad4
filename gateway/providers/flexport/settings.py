"""`[providers.flexport]` keys on top of the common provider keys."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from gateway.config import EnvName, ProviderSettings, WarehouseSettings
from gateway.model.orders import Kind, Speed


class FlexportWarehouse(WarehouseSettings):
    """One Flexport fulfilment channel. Flexport picks the origin warehouse itself (Flexport:
    "the origin warehouse is resolved automatically"), so a gateway "warehouse" names which
    API the order goes to: `kind = "d2c"` (orders), `"b2b"` (outbounds, `/orders/rs`), or
    unset: the order's own `kind` decides."""

    kind: Kind | None = None
    stock_warehouses: tuple[Annotated[str, StringConstraints(min_length=1)], ...] = ()
    """Flexport warehouse codes (as `GET /warehouses/active` lists them, e.g. `ATL1`) whose
    `available` units are this warehouse's stock for stock-aware routing. Empty: the
    account's whole `available` (Flexport picks the origin warehouse itself). Naming codes
    narrows the stock check only: Flexport still picks where the order ships from."""


class FlexportSettings(ProviderSettings):
    api_version: Annotated[str, StringConstraints(pattern=r"^(\d{4}-\d{2}|unstable)$")] = "2026-02"
    """Paths are `/logistics/api/<api_version>/…` under `base_url`."""
    token_env: EnvName
    webhook_secret_env: EnvName | None = None
    """Shared token Flexport is registered to send (authMethod TOKEN, in `webhook_token_header`,
    or BASIC_AUTH's password); without it `/v1/webhooks/flexport` is 404."""
    webhook_token_header: str = "X-Flexport-Webhook-Token"  # noqa: S105 (a header name)
    warehouses: Mapping[str, FlexportWarehouse]
    product_ids: Literal["catalog", "sku"] = "catalog"
    """How a line's SKU becomes a `logisticsSku`: `catalog` looks the merchant SKU up in the
    Products API (cached); `sku` means the storefront's SKUs already are logistics SKUs."""
    catalog_ttl_s: Annotated[float, Field(ge=0)] = 600.0
    """How long a products snapshot serves lookups; an unknown SKU refreshes it sooner."""
    catalog_refresh_min_s: Annotated[float, Field(ge=0)] = 30.0
    """An unknown SKU reloads the catalogue at most this often (a typo must not page the
    whole catalogue on every order)."""
    per_page: Annotated[int, Field(ge=1, le=100)] = 100
    """Rows per page of the Products API lists, and products per per-warehouse stock call."""
    stock_cache_ttl_s: Annotated[float, Field(ge=0)] = 30.0
    """How long an inventory read serves stock-aware routing."""
    ship_methods: Mapping[Speed, str] = Field(default_factory=dict)
    """D2C `shipMethod` per canonical `delivery.speed`; unmapped speeds send none (Flexport
    then applies its own SLA rule)."""
    b2b_shipping_partner: Literal["FLEXPORT", "SELLER"] = "FLEXPORT"
    b2b_shipping_type: Literal["PARCEL", "LTL", "FTL"] = "PARCEL"
    returns_enabled: bool = False
    """Flexport returns need account approval: offer `/v1/returns` for Flexport
    orders only once the account has it; otherwise they are `422 returns-unsupported`."""
    probe_token: bool = True
    """Call `GET /warehouses/active` at start-up, so a refused token shows in /readyz at once."""
