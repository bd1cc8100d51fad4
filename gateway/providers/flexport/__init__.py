"""Flexport (Logistics API 2026-02): bearer token, D2C orders and B2B outbounds, ids-only
webhooks, idempotency keys."""

from __future__ import annotations

from aiohttp import web

from gateway.config import ProviderSettings, Secrets
from gateway.providers.base import Provider, ProviderContext, ProviderSpec
from gateway.providers.flexport.adapter import FlexportAdapter
from gateway.providers.flexport.settings import FlexportSettings

DEMO_PRODUCTS = {
    # merchantSku: (logisticsSku, name)
    "TSHIRT-M": ("DSKU6DW2B4Q", "T-shirt M"),
    "TSHIRT-L": ("DSKU6DW2B4R", "T-shirt L"),
    "MUG": ("DSKU9MUG001", "Mug"),
    "BOOT-42": ("DSKU4BOOT42", "Boot 42"),
}
"""What the in-process sandbox's catalogue holds, so the demo's orders find their products."""


def _build(settings: ProviderSettings, secrets: Secrets, ctx: ProviderContext) -> Provider:
    assert isinstance(settings, FlexportSettings)
    return FlexportAdapter(settings, secrets, ctx)


def _sandbox(settings: ProviderSettings, secrets: Secrets, ctx: ProviderContext) -> web.Application:
    """The in-process simulator: the gateway's own token (every scope), a demo catalogue,
    and ids-only webhooks back to this gateway as each order moves along every few seconds."""
    from gateway.sandbox.flexport import FlexportSandbox  # noqa: PLC0415 (only when enabled)

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
        sandbox.add_product(merchant_sku, logistics_sku=logistics_sku, name=name)
    # The simulated account has the returns approval exactly when the gateway is told so.
    sandbox.approve_returns(settings.returns_enabled)
    return sandbox.app


PROVIDER = ProviderSpec(name="flexport", settings=FlexportSettings, build=_build, sandbox=_sandbox)
