"""How the gateway finds a provider package and builds its adapter.

A provider is a package `gateway/providers/<name>/` whose `__init__` exposes
`PROVIDER: ProviderSpec`; `load_spec` finds it by the name of its `[providers.<name>]` config
block, so adding a provider touches no other module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gateway.clock import Clock, SystemClock
from gateway.errors import UnknownProvider
from gateway.observability.audit import Recorder
from gateway.observability.metrics import Metrics
from gateway.transport.fleet import Fleet, LocalFleet

if TYPE_CHECKING:
    from gateway.config import ProviderSettings
    from gateway.model.secrets import Secrets
    from gateway.providers.base import Provider


@dataclass(frozen=True, slots=True)
class ProviderContext:
    """What the gateway hands a provider when it builds one."""

    self_url: str
    """The gateway's own base URL, for `base_url`s given as a path (in-process sandbox)."""
    sandbox_autopilot_s: float | None = None
    """`[sandbox] autopilot_s`: in-process sandboxes advance each order every so often."""
    sandbox_webhooks_to: str | None = None
    """A sandbox sends its webhooks to the gateway at this base URL
    (`<url>/v1/webhooks/<name>`); None: it sends none (`gateway sandbox` without a gateway)."""
    metrics: Metrics = field(default_factory=Metrics)
    """The app's metrics: pass `metrics.provider(name)` to the transport and token cache."""
    fleet: Fleet = field(default_factory=LocalFleet)
    """How rate limits, the Retry-After gate and OAuth tokens are split or shared between
    replicas: hand it to `ProviderTransport` and `TokenCache` (`fleet=ctx.fleet`)."""
    clock: Clock = field(default_factory=SystemClock)
    """The app's clock: the adapter's time, its caches' and its transport's (`clock=`)."""
    audit: Recorder | None = None
    """Where provider exchanges made for an order or return are recorded (`audit=`)."""

    def sandbox_webhook_url(self, provider: str) -> str | None:
        """Where the sandbox of `provider` posts its webhooks, or None."""
        if self.sandbox_webhooks_to is None:
            return None
        return f"{self.sandbox_webhooks_to.rstrip('/')}/v1/webhooks/{provider}"


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """How the gateway discovers a provider package."""

    name: str
    settings: type[ProviderSettings]
    build: Callable[[ProviderSettings, Secrets, ProviderContext], Provider]


def load_spec(name: str) -> ProviderSpec:
    """The `ProviderSpec` of package `gateway.providers.<name>`."""
    if not name.isidentifier():
        raise UnknownProvider(name)
    try:
        module = importlib.import_module(f"gateway.providers.{name}")
    except ModuleNotFoundError as exc:
        if exc.name in (f"gateway.providers.{name}",):
            raise UnknownProvider(name) from None
        raise
    spec = getattr(module, "PROVIDER", None)
    if not isinstance(spec, ProviderSpec):
        raise UnknownProvider(name)
    return spec
