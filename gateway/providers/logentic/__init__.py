"""Logentic (Canada): static bearer token, items by integer id, signed webhooks."""

from __future__ import annotations

from aiohttp import web

from gateway.config import ProviderSettings, Secrets
from gateway.providers.base import Provider, ProviderContext, ProviderSpec
from gateway.providers.logentic.adapter import LogenticAdapter
from gateway.providers.logentic.settings import LogenticSettings

DEMO_ITEMS = {
    # SKU: (name, width_in, depth_in, height_in, weight_lb)
    "TSHIRT-M": ("T-shirt M", 9.85, 7.88, 1.19, 0.397),
    "TSHIRT-L": ("T-shirt L", 10.5, 8.2, 1.2, 0.45),
    "MUG": ("Mug", 4.0, 4.0, 4.5, 0.8),
    "BOOT-42": ("Boot 42", 13.0, 8.7, 5.2, 3.2),
}
"""What the in-process sandbox stocks, so the demo's orders find their items."""


def _build(settings: ProviderSettings, secrets: Secrets, ctx: ProviderContext) -> Provider:
    assert isinstance(settings, LogenticSettings)
    return LogenticAdapter(settings, secrets, ctx)


def _sandbox(
    settings: ProviderSettings,
    secrets: Secrets,
    ctx: ProviderContext,
) -> web.Application:
    """The in-process simulator: the gateway's own token, warehouses, a demo catalogue, and
    webhooks back to this gateway, advancing each order through its life every few seconds."""
    from gateway.sandbox.logentic import LogenticSandbox  # noqa: PLC0415 (only when enabled)

    assert isinstance(settings, LogenticSettings)
    env = settings.webhook_secret_env
    sandbox = LogenticSandbox(
        token=secrets.reveal(settings.token_env),
        webhook_secret=secrets.reveal(env) if env else None,
        webhook_url=ctx.sandbox_webhook_url("logentic") if env else None,
        warehouses={w.warehouse_id: name for name, w in settings.warehouses.items()},
        autopilot_s=ctx.sandbox_autopilot_s,
    )
    for sku, (name, width, depth, height, weight) in DEMO_ITEMS.items():
        sandbox.add_item(
            sku,
            name=name,
            width_in=width,
            depth_in=depth,
            height_in=height,
            weight=weight,
            stock={w.warehouse_id: 100 for w in settings.warehouses.values()},
        )
    return sandbox.app


PROVIDER = ProviderSpec(name="logentic", settings=LogenticSettings, build=_build, sandbox=_sandbox)
