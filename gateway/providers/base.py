"""The provider seam: what the gateway asks of every 3PL, and nothing more.

Every provider implements `Provider`. What only some can do is a capability: a flag in
`Capabilities` and a protocol of its own (`OrderCanceller`, `OrderUpdater`, `StockSource`,
`WebhookReceiver`, `ReturnsProvider`, `ReturnDecider`), found through its lookup
(`canceller_of`, `updater_of`, `stock_of`, `webhooks_of`, `returns_of`, `decisions_of`;
`cached_stock_of` for the `CachedStock` a `StockSource` may also offer):
an adapter implements only what it supports, and the flag says whether its configuration
allows using it. A provider package's layout: docs/architecture.md, "Adding a provider";
how it is found and built: `gateway.providers.spec`.

An order the provider holds is named by a `ProviderOrderRef`: its id and the small mapping
of strings the provider asked to keep with it, which the store keeps on the order's row and
every later call hands back.

Its errors are the provider branch of the tree in `gateway.errors`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar, runtime_checkable

from gateway.errors import FieldError
from gateway.model.orders import CanonicalOrder, Status, StockSnapshot
from gateway.model.returns import CanonicalReturn, Decision, ReturnStatus
from gateway.observability.state import ProviderState

__all__ = [
    "CachedStock",
    "Capabilities",
    "OrderCanceller",
    "OrderUpdater",
    "Parsed",
    "Provider",
    "ProviderEvent",
    "ProviderOrder",
    "ProviderOrderRef",
    "ProviderReturn",
    "ReturnDecider",
    "ReturnSubmission",
    "ReturnsProvider",
    "StockSnapshot",
    "StockSource",
    "Submission",
    "WebhookReceiver",
    "cached_stock_of",
    "canceller_of",
    "decisions_of",
    "returns_of",
    "stock_of",
    "updater_of",
    "webhooks_of",
]

T = TypeVar("T")


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
class ProviderOrderRef:
    """An order at its provider, as the gateway keeps it between calls."""

    id: str
    """The provider's order id."""
    data: Mapping[str, str] = field(default_factory=dict)
    """What the provider asked to be handed back with the id on every later call, stored on
    the order's row (Flexport: which of its APIs holds the order). Empty for a provider that
    needs nothing, and for orders stored before it was kept: the adapter then does without."""


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
    """What this provider, as configured, may be asked beyond `Provider`: each flag but
    `confirm` enables the protocol of the same name, which the adapter then implements."""

    confirm: bool = False
    """Create leaves a draft that a separate call must confirm (Logitrail)."""
    cancel: bool = False
    """`OrderCanceller`: `cancel()` at the provider."""
    update: bool = False
    """`OrderUpdater`: `update()` changes address, recipient, lines or dates while the
    provider allows it."""
    stock: bool = False
    """`StockSource`: `stock()` reports per-warehouse quantities for stock-aware routing."""
    webhooks: bool = False
    """`WebhookReceiver`: `webhook_precheck()` and `webhook_events()` verify and parse
    deliveries to `POST /v1/webhooks/<name>`."""
    returns: bool = False
    """`ReturnsProvider`: the adapter's `returns` part, and this account may use it."""
    return_decisions: bool = False
    """`ReturnDecider`: `decide_return()` exists at the provider (a merchant decision on
    arrived goods)."""


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


@dataclass(frozen=True, slots=True)
class Parsed(Generic[T]):
    """A provider's answer read into canonical terms by a pure `translate` function."""

    value: T
    unknown_status: str | None = None
    """The provider's status where its status table lacks it (`value` then holds the
    fallback status): the adapter logs it."""


@runtime_checkable
class Provider(Protocol):
    name: str
    capabilities: Capabilities

    def check(self, submission: Submission) -> list[FieldError]:
        """Provider rules the order breaks, found without any call (→ 422 before sending)."""
        ...

    async def create(self, submission: Submission) -> ProviderOrderRef:
        """Create the order; return the provider's order."""
        ...

    async def find(self, submission: Submission) -> ProviderOrderRef | None:
        """Reconcile: the order a previous create may have made, or None."""
        ...

    async def confirm(self, ref: ProviderOrderRef) -> ProviderOrder:
        """Confirm a draft (called only when `capabilities.confirm`); idempotent once
        confirmed. A provider without drafts answers with the order as it is."""
        ...

    async def get(self, ref: ProviderOrderRef) -> ProviderOrder: ...

    def healthy(self) -> bool:
        """False while the circuit is open: routing then skips this provider."""
        ...

    def state(self) -> ProviderState: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


@runtime_checkable
class OrderCanceller(Protocol):
    async def cancel(self, ref: ProviderOrderRef) -> ProviderOrder:
        """Cancel at the provider; `Conflict` if too late."""
        ...


@runtime_checkable
class OrderUpdater(Protocol):
    async def update(self, ref: ProviderOrderRef, submission: Submission) -> ProviderOrder:
        """Send the changed order; `Conflict` if too late."""
        ...


@runtime_checkable
class StockSource(Protocol):
    async def stock(self, warehouse: str, skus: list[str]) -> StockSnapshot:
        """Units available per SKU in `warehouse`."""
        ...


@runtime_checkable
class CachedStock(Protocol):
    """Stock as a `StockSource` last read it, for routing replay: what was known, not now."""

    def cached_stock(self, warehouse: str, skus: list[str]) -> StockSnapshot | None:
        """Units per SKU in `warehouse` from the stock cache alone, however old (past its
        TTL too), never calling the provider; None when nothing the answer needs was ever
        read."""
        ...


@runtime_checkable
class WebhookReceiver(Protocol):
    def webhook_precheck(self, headers: Mapping[str, str], query: Mapping[str, str]) -> None:
        """Refuse a delivery on its headers and query alone, before its body is read.

        Raises `WebhookRejected` when the credential is missing, or wrong where it can be
        checked without the body (a URL token, a token header); a body signature is checked
        by `webhook_events`.
        """
        ...

    def webhook_events(
        self, headers: Mapping[str, str], query: Mapping[str, str], body: bytes
    ) -> list[ProviderEvent]:
        """Verify one delivery and parse its events.

        Raises `WebhookRejected` when it is not authentic, `WebhookTooLarge` when it holds
        more events than the provider sends at once, `ValueError` when unreadable.
        """
        ...


@runtime_checkable
class ReturnsProvider(Protocol):
    """Returns at a provider: the `returns` part of an adapter whose provider has them."""

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


@runtime_checkable
class ReturnDecider(Protocol):
    async def decide_return(self, provider_return_id: str, decision: Decision) -> ProviderReturn:
        """Set the merchant's decision; `Conflict`/`Invalid` when the provider refuses it."""
        ...


def canceller_of(provider: Provider) -> OrderCanceller | None:
    """The provider, if it cancels orders through its API."""
    on = provider.capabilities.cancel
    return provider if on and isinstance(provider, OrderCanceller) else None


def updater_of(provider: Provider) -> OrderUpdater | None:
    """The provider, if it changes orders through its API."""
    return provider if provider.capabilities.update and isinstance(provider, OrderUpdater) else None


def stock_of(provider: Provider) -> StockSource | None:
    """The provider, if stock-aware routing may ask it for stock."""
    return provider if provider.capabilities.stock and isinstance(provider, StockSource) else None


def cached_stock_of(provider: Provider) -> CachedStock | None:
    """The provider, if it is a stock source that can answer from its cache alone."""
    source = stock_of(provider)
    return source if isinstance(source, CachedStock) else None


def webhooks_of(provider: Provider) -> WebhookReceiver | None:
    """The provider, if `POST /v1/webhooks/<name>` is configured for it."""
    on = provider.capabilities.webhooks
    return provider if on and isinstance(provider, WebhookReceiver) else None


def returns_of(provider: Provider) -> ReturnsProvider | None:
    """The provider's returns part, if it has one and its configuration allows using it."""
    part = getattr(provider, "returns", None)
    return part if provider.capabilities.returns and isinstance(part, ReturnsProvider) else None


def decisions_of(provider: Provider) -> ReturnDecider | None:
    """The provider's returns part, if it takes merchant decisions on returns."""
    part = returns_of(provider)
    on = provider.capabilities.return_decisions
    return part if on and isinstance(part, ReturnDecider) else None
