"""The provider seam: what the gateway asks of every 3PL, and nothing more.

A provider is a package `gateway/providers/<name>/` whose `__init__` exposes
`PROVIDER: ProviderSpec`. The gateway finds it by the name of its `[providers.<name>]` config
block (see `load_spec`), so adding a provider touches no other module. The package holds
`translate.py` (pure wire mapping and the status table), `adapter.py` (the only I/O), and its
settings model, a subclass of `gateway.config.ProviderSettings`.

Its errors are the provider branch of the tree in `gateway.errors`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from gateway.errors import FieldError, UnknownProvider
from gateway.model.orders import CanonicalOrder, Status
from gateway.model.returns import CanonicalReturn, Decision, ReturnStatus
from gateway.observability.metrics import Metrics
from gateway.observability.state import ProviderState
from gateway.providers.errors import error_for_status
from gateway.transport.fleet import Fleet, LocalFleet

if TYPE_CHECKING:
    from gateway.config import ProviderSettings, Secrets

__all__ = [
    "Capabilities",
    "Provider",
    "ProviderContext",
    "ProviderEvent",
    "ProviderOrder",
    "ProviderReturn",
    "ProviderSpec",
    "ReturnSubmission",
    "ReturnsProvider",
    "StockSnapshot",
    "Submission",
    "error_for_status",
    "load_spec",
    "returns_of",
]


@dataclass(frozen=True, slots=True)
class Submission:
    """One order as a provider sees it: the canonical body plus where it goes."""

    gateway_id: str
    client_id: str
    order: CanonicalOrder
    warehouse: str
    reference: str
    """What the provider is given as the merchant's order reference and looked up by: unique
    across the provider account (tenant-qualified, `Client.reference`), never the bare
    `external_id` of a tenant (orders stored before references were qualified excepted)."""


@dataclass(frozen=True, slots=True)
class ProviderOrder:
    """The provider's view of an order, already mapped to canonical terms."""

    provider_order_id: str
    status: Status
    raw_status: str
    tracking_code: str | None = None
    tracking_url: str | None = None
    shipment_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Capabilities:
    confirm: bool = False
    """Create leaves a draft that a separate call must confirm (Logitrail)."""
    cancel: bool = False
    update: bool = False
    """`update()` changes address, recipient, lines or dates while the provider allows it."""
    stock: bool = False
    """`stock()` reports per-warehouse quantities for stock-aware routing."""
    webhooks: bool = False
    """`webhook_precheck()` and `webhook_events()` verify and parse deliveries to
    `POST /v1/webhooks/<name>`."""
    returns: bool = False
    """The provider implements `ReturnsProvider` and this account may use it."""
    return_decisions: bool = False
    """`decide_return()` exists at the provider (a merchant decision on arrived goods)."""


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """One inbound webhook event, verified, in canonical terms."""

    event_id: str
    """The provider's event id, or a hash of the body where it sends none (dedupe key)."""
    topic: str
    provider_order_id: str | None
    status: Status | None
    """The order's new canonical status if the event carries it; None → read the order."""
    raw_status: str | None = None
    tracking_code: str | None = None
    tracking_url: str | None = None
    shipment_ids: tuple[str, ...] = ()


StockSnapshot = Mapping[str, int]
"""SKU → units available in one warehouse."""


@dataclass(frozen=True, slots=True)
class ReturnSubmission:
    """One return as a provider sees it: the canonical body, and the order it refers to."""

    gateway_id: str
    client_id: str
    ret: CanonicalReturn
    order: CanonicalOrder
    """The original order as the client sent it (its lines, when the return names none)."""
    provider_order_id: str
    reference: str | None = None
    """The merchant's return reference as the provider is given it (tenant-qualified), or
    None when the return has no `external_id`."""


@dataclass(frozen=True, slots=True)
class ProviderReturn:
    """The provider's view of a return, already mapped to canonical terms."""

    provider_return_id: str
    status: ReturnStatus
    raw_status: str
    decision: Decision | None = None


@runtime_checkable
class Provider(Protocol):
    name: str
    capabilities: Capabilities

    def check(self, submission: Submission) -> list[FieldError]:
        """Provider rules the order breaks, found without any call (→ 422 before sending)."""
        ...

    async def create(self, submission: Submission) -> str:
        """Create the order; return the provider's order id."""
        ...

    async def find(self, submission: Submission) -> str | None:
        """Reconcile: the provider id of an order a previous create may have made, or None."""
        ...

    async def confirm(self, provider_order_id: str) -> ProviderOrder:
        """Confirm a draft (only when `capabilities.confirm`); idempotent once confirmed."""
        ...

    async def get(self, provider_order_id: str) -> ProviderOrder: ...

    async def cancel(self, provider_order_id: str) -> ProviderOrder:
        """Cancel at the provider (only when `capabilities.cancel`); `Conflict` if too late."""
        ...

    async def update(self, provider_order_id: str, submission: Submission) -> ProviderOrder:
        """Send the changed order (only when `capabilities.update`); `Conflict` if too late."""
        ...

    def webhook_precheck(self, headers: Mapping[str, str], query: Mapping[str, str]) -> None:
        """Refuse a delivery on its headers and query alone, before its body is read.

        Raises `WebhookRejected` when the credential is missing, or wrong where it can be
        checked without the body (a URL token, a token header); a body signature is checked
        by `webhook_events`. Only when `capabilities.webhooks`.
        """
        ...

    def webhook_events(
        self, headers: Mapping[str, str], query: Mapping[str, str], body: bytes
    ) -> list[ProviderEvent]:
        """Verify one delivery and parse its events (only when `capabilities.webhooks`).

        Raises `WebhookRejected` when it is not authentic, `WebhookTooLarge` when it holds
        more events than the provider sends at once, `ValueError` when unreadable.
        """
        ...

    async def stock(self, warehouse: str, skus: list[str]) -> StockSnapshot:
        """Units available per SKU in `warehouse` (only when `capabilities.stock`)."""
        ...

    def healthy(self) -> bool:
        """False while the circuit is open: routing then skips this provider."""
        ...

    def state(self) -> ProviderState: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


@runtime_checkable
class ReturnsProvider(Protocol):
    """Returns at a provider, implemented beside `Provider` where the provider has them.

    Kept apart from `Provider` so that a provider without a returns API implements nothing;
    `returns_of` is how the gateway asks whether one may be used.
    """

    def check_return(self, submission: ReturnSubmission) -> list[FieldError]:
        """Provider rules the return breaks, found without any call (→ 422 before sending)."""
        ...

    async def create_return(self, submission: ReturnSubmission) -> ProviderReturn:
        """Create the return at the provider."""
        ...

    async def find_return(self, submission: ReturnSubmission) -> ProviderReturn | None:
        """Reconcile: the return a previous create may have made, or None."""
        ...

    async def get_return(self, provider_return_id: str) -> ProviderReturn: ...

    async def cancel_return(self, provider_return_id: str) -> ProviderReturn:
        """Cancel; `Conflict` (with the provider's reason) when its state forbids it."""
        ...

    async def decide_return(self, provider_return_id: str, decision: Decision) -> ProviderReturn:
        """Set the merchant's decision; `Conflict`/`Invalid` when the provider refuses it."""
        ...


def returns_of(provider: Provider) -> ReturnsProvider | None:
    """The provider's returns API, if it has one and its configuration allows using it."""
    if provider.capabilities.returns and isinstance(provider, ReturnsProvider):
        return provider
    return None


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
