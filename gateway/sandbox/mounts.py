"""Where the provider simulators are served: inside the gateway, or standing alone.

`gateway serve` with `[sandbox] enabled = true` mounts each configured provider's simulator
under `/_sandbox/<provider>` of its own app, and they send their webhooks back to it.
`gateway sandbox` serves the same simulators, under the same paths, on an app of their own
(for a team testing its own client against them); they send webhooks only when told where.
"""

from __future__ import annotations

import structlog
from aiohttp import web

from gateway.config import Settings
from gateway.observability.metrics import Metrics
from gateway.providers.spec import ProviderContext

log = structlog.get_logger(__name__)

PREFIX = "/_sandbox"


def mount_simulators(app: web.Application, settings: Settings, ctx: ProviderContext) -> list[str]:
    """Mount the simulator of every configured provider that has one; their names."""
    from gateway.sandbox.simulators import SIMULATORS  # noqa: PLC0415 (loaded only to mount)

    mounted = []
    for name, block in settings.providers.items():
        build = SIMULATORS.get(name)
        if build is not None:
            app.add_subapp(f"{PREFIX}/{name}", build(block, settings.secrets, ctx))
            log.info("sandbox.mounted", provider=name, path=f"{PREFIX}/{name}")
            mounted.append(name)
    return mounted


def standalone_app(
    settings: Settings, *, self_url: str, webhooks_to: str | None
) -> tuple[web.Application, list[str]]:
    """The simulators alone on one app (`gateway sandbox`), and the providers it serves."""
    app = web.Application()
    ctx = ProviderContext(
        self_url=self_url,
        metrics=Metrics(),
        sandbox_autopilot_s=settings.sandbox.autopilot_s,
        sandbox_webhooks_to=webhooks_to,
    )
    return app, mount_simulators(app, settings, ctx)


def credential_variables(settings: Settings, provider: str) -> list[str]:
    """The variables a simulator takes its credentials from: its provider block's `*_env`."""
    block = settings.providers[provider].model_dump()
    return [v for k, v in block.items() if k.endswith("_env") and isinstance(v, str)]
