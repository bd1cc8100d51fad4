"""Logitrail (Finland): OAuth2 client credentials, passive orders confirmed in a second call."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from gateway.config import ProviderSettings, Secrets
from gateway.providers.base import Provider, ProviderContext, ProviderSpec
from gateway.providers.logitrail.adapter import LogitrailAdapter
from gateway.providers.logitrail.settings import LogitrailSettings

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


def _build(settings: ProviderSettings, secrets: Secrets, ctx: ProviderContext) -> Provider:
    assert isinstance(settings, LogitrailSettings)
    return LogitrailAdapter(settings, secrets, ctx)


def _sandbox(settings: ProviderSettings, secrets: Secrets, ctx: ProviderContext) -> web.Application:
    """The in-process simulator, registering this gateway's own credentials as its client;
    with `webhook_token_env` it sends its webhooks back to this gateway."""
    from gateway.sandbox.logitrail import LogitrailSandbox, SandboxClient  # noqa: PLC0415

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


PROVIDER = ProviderSpec(
    name="logitrail", settings=LogitrailSettings, build=_build, sandbox=_sandbox
)
