"""Each provider's simulator as the gateway serves it, built from that provider's config block.

The simulator takes the gateway's own credentials (the block's `*_env` secrets) as its
client's, gets a demo catalogue the demo's orders find, and sends its webhooks back to the
gateway when `ProviderContext.sandbox_webhooks_to` says where. Kept here, not in the provider
packages, so that no adapter imports a simulator.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from urllib.parse import quote

from aiohttp import web

from gateway.config import ProviderSettings
from gateway.model.secrets import Secrets
from gateway.providers.flexport.settings import FlexportSettings
from gateway.providers.logentic.settings import LogenticSettings
from gateway.providers.logitrail.settings import LogitrailSettings
from gateway.providers.spec import ProviderContext
from gateway.sandbox.flexport import FlexportSandbox
from gateway.sandbox.flexport.api import WAREHOUSES as FLEXPORT_WAREHOUSES
from gateway.sandbox.logentic import LogenticSandbox
from gateway.sandbox.logitrail import LogitrailSandbox, SandboxClient

Build = Callable[[ProviderSettings, Secrets, ProviderContext], web.Application]

# Every scope Logitrail's merchant API documents. The demo client may request any of them, so a
# misspelt scope in the config still fails with invalid_scope, as it would in production.
DOCUMENTED_SCOPES = frozenset(
    {
        "orders:read",
        "orders:manage",
        "order_returns:read",
        "order_returns:manage",
        "products:read",
        "products:manage",
        "inbound_shipments:read",
        "inbound_shipments:manage",
        "pickup-points:read",
        "pickup-points:manage",
        "pricing:read",
        "pricing:manage",
        "merchants:read",
        "merchants:manage",
        "webhooks:manage",
        "warehouse-management:read",
    }
)

DEMO_ITEMS = {
    # SKU: (name, width_in, depth_in, height_in, weight_lb)
    "TSHIRT-M": ("T-shirt M", 9.85, 7.88, 1.19, 0.397),
    "TSHIRT-L": ("T-shirt L", 10.5, 8.2, 1.2, 0.45),
    "MUG": ("Mug", 4.0, 4.0, 4.5, 0.8),
    "BOOT-42": ("Boot 42", 13.0, 8.7, 5.2, 3.2),
}
"""What the in-process Logentic sandbox stocks, so the demo's orders find their items."""

DEMO_ITEMS_APART = {
    # SKU: (name, width_in, depth_in, height_in, weight_lb, the one warehouse that holds it)
    "CAP": ("Cap", 8.0, 7.0, 4.5, 0.2, "MTL"),
    "SCARF": ("Scarf", 10.0, 8.0, 2.0, 0.35, "TOR"),
}
"""Logentic demo items each held in one warehouse only (0 units in the others), so an order
of both (`config/sample-order-split.json`) is held by no warehouse whole: the demo's split."""

DEMO_PRODUCTS = {
    # merchantSku: (logisticsSku, name)
    "TSHIRT-M": ("DSKU6DW2B4Q", "T-shirt M"),
    "TSHIRT-L": ("DSKU6DW2B4R", "T-shirt L"),
    "MUG": ("DSKU9MUG001", "Mug"),
    "BOOT-42": ("DSKU4BOOT42", "Boot 42"),
}
"""What the in-process Flexport sandbox's catalogue holds, so the demo's orders find them."""


def logitrail(
    settings: ProviderSettings, secrets: Secrets, ctx: ProviderContext
) -> web.Application:
    """Registers this gateway's own credentials as its client; with `webhook_token_env` it
    sends its webhooks back to this gateway."""
    assert isinstance(settings, LogitrailSettings)
    client = SandboxClient(
        secrets.reveal(settings.client_id_env),
        secrets.reveal(settings.client_secret_env),
        DOCUMENTED_SCOPES,
    )
    token_env = settings.webhook_token_env
    webhook_url = ctx.sandbox_webhook_url("logitrail")
    if token_env is None or webhook_url is None:
        webhook_url = None
    else:
        webhook_url += f"?token={quote(secrets.reveal(token_env), safe='')}"
    return LogitrailSandbox(
        clients=[client],
        merchant_id=settings.merchant_id,
        webhook_url=webhook_url,
        autopilot_s=ctx.sandbox_autopilot_s,
    ).app


def logentic(settings: ProviderSettings, secrets: Secrets, ctx: ProviderContext) -> web.Application:
    """The gateway's own token, warehouses, a demo catalogue, and webhooks back to this
    gateway, advancing each order through its life every few seconds."""
    assert isinstance(settings, LogenticSettings)
    env = settings.webhook_secret_env
    sandbox = LogenticSandbox(
        token=secrets.reveal(settings.token_env),
        webhook_secret=secrets.reveal(env) if env else None,
        webhook_url=ctx.sandbox_webhook_url("logentic") if env else None,
        warehouses={w.warehouse_id: name for name, w in settings.warehouses.items()},
        autopilot_s=ctx.sandbox_autopilot_s,
    )
    # An item of `DEMO_ITEMS` is held in every warehouse (`only` None).
    items: dict[str, tuple[str, float, float, float, float, str | None]] = {
        **{sku: (*item, None) for sku, item in DEMO_ITEMS.items()},
        **DEMO_ITEMS_APART,
    }
    for sku, (name, width, depth, height, weight, only) in items.items():
        sandbox.add_item(
            sku,
            name=name,
            width_in=width,
            depth_in=depth,
            height_in=height,
            weight=weight,
            stock={
                w.warehouse_id: 100 if only in (None, n) else 0
                for n, w in settings.warehouses.items()
            },
        )
    return sandbox.app


def flexport(settings: ProviderSettings, secrets: Secrets, ctx: ProviderContext) -> web.Application:
    """The gateway's own token (every scope), a demo catalogue, and ids-only webhooks back to
    this gateway as each order moves along every few seconds."""
    assert isinstance(settings, FlexportSettings)
    env = settings.webhook_secret_env
    sandbox = FlexportSandbox(
        tokens={secrets.reveal(settings.token_env): None},
        webhook_token=secrets.reveal(env) if env else None,
        webhook_token_header=settings.webhook_token_header,
        webhook_url=ctx.sandbox_webhook_url("flexport") if env else None,
        autopilot_s=ctx.sandbox_autopilot_s,
    )
    for merchant_sku, (logistics_sku, name) in DEMO_PRODUCTS.items():
        sandbox.add_product(
            merchant_sku,
            logistics_sku=logistics_sku,
            name=name,
            stock=dict.fromkeys(FLEXPORT_WAREHOUSES, 100),
        )
    # The simulated account has the returns approval exactly when the gateway is told so.
    sandbox.approve_returns(settings.returns_enabled)
    return sandbox.app


SIMULATORS: Mapping[str, Build] = {
    "logitrail": logitrail,
    "logentic": logentic,
    "flexport": flexport,
}
"""Provider name → how its simulator is built; a provider without one is not mounted."""
