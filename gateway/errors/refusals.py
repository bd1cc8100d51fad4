"""What a use-case refuses a caller for: each class one answer (`gateway.api.problems` gives
it), drawn with the rest of the tree in `gateway.errors`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

from pydantic import ValidationError

from gateway.errors import ConfigProblem, FieldError, GatewayError


@dataclass(eq=False)
class Refused(GatewayError):
    """A caller's request a use-case refuses, having changed nothing. `detail` says why in the
    words the caller is shown; the class says which answer it is."""

    detail: str

    def __str__(self) -> str:
        return self.detail


@dataclass(eq=False, kw_only=True)
class Unknown(Refused):
    """No such resource among the client's own (another tenant's does not exist either)."""

    noun: str
    """What was looked for: `order`, `return`, `subscriber`, `delivery`."""

    @classmethod
    def named(cls, noun: str, resource_id: str) -> Self:
        return cls(f"{noun} {resource_id} does not exist", noun=noun)


class IdempotencyKeyReused(Refused):
    """The Idempotency-Key was first used with another body."""


@dataclass(eq=False, kw_only=True)
class IdempotencyKeyRunning(Refused):
    """The first request under the Idempotency-Key has not finished."""

    retry_after_s: int


class PinNotAllowed(Refused):
    """The order pins its route, and the client may not."""


class PinnedRouteUnknown(Refused):
    """The pinned provider has no such warehouse."""


@dataclass(eq=False, kw_only=True)
class Unroutable(Refused):
    """No routing rule takes the order; `trace` is the routing trace (as explained)."""

    trace: list[dict[str, Any]]


@dataclass(eq=False, kw_only=True)
class ProviderRules(Refused):
    """What the routed provider cannot take as given, found before any call."""

    noun: str
    provider: str
    problems: Sequence[FieldError]

    @classmethod
    def broken(cls, noun: str, provider: str, problems: Sequence[FieldError]) -> Self:
        detail = "; ".join(f"{p.loc}: {p.msg}" for p in problems)
        return cls(detail, noun=noun, provider=provider, problems=problems)


class ChangeBreaksRules(ProviderRules):
    """A change after which the order breaks its provider's rules."""


@dataclass(eq=False, kw_only=True)
class OrderRefused(Refused):
    """What the order's state forbids, or its provider refuses (`provider_code`)."""

    order_id: str
    order_status: str
    provider: str
    provider_code: str | None = None


class NotCancellable(OrderRefused):
    """The order cannot be cancelled (any more)."""


class NotChangeable(OrderRefused):
    """The order cannot be changed (any more)."""


class NotHoldable(OrderRefused):
    """The order is at its provider (or on its way there): the gateway cannot hold it."""


class NotHeld(OrderRefused):
    """The order is not held before routing (any more): there is nothing to release."""


@dataclass(eq=False, kw_only=True)
class SplitOrderUnsupported(OrderRefused):
    """The order is split over several parts, and this action is not offered for split
    orders (`action`: `change`, of its lines: each part holds some of them)."""

    action: str


@dataclass(eq=False, kw_only=True)
class SubmissionInProgress(Refused):
    """A submission step is in flight: the provider may or may not hold the order yet."""

    phase: str


class NothingToChange(Refused):
    """A change that names no part of the order."""


@dataclass(eq=False, kw_only=True)
class ChangeInvalid(Refused):
    """The order as changed is not a valid canonical order."""

    error: ValidationError


@dataclass(eq=False, kw_only=True)
class ChangeRejected(Refused):
    """The provider refuses the changed order itself (an unknown SKU): the caller's input."""

    order_id: str
    provider: str
    provider_code: str | None
    fields: Sequence[FieldError]


class ReturnedOrderUnknown(Refused):
    """A return of an order that is not the client's."""


@dataclass(eq=False, kw_only=True)
class NotReturnable(Refused):
    """The order's status (or how far it got) forbids a return, or it has no provider id."""

    order_id: str
    order_status: str


class OrderNotSubmitted(NotReturnable):
    """The order's provider id is not known (not expected once it shipped)."""


@dataclass(eq=False, kw_only=True)
class ProviderLacks(Refused):
    """The provider holding the resource has no API for what was asked."""

    provider: str


class ReturnsUnsupported(ProviderLacks):
    """No returns API at the order's provider."""


class DecisionsUnsupported(ProviderLacks):
    """No merchant decision step in the provider's returns."""


class ReturnRejected(Refused):
    """The provider rejected the return: there is nothing to change."""


class ReturnNotSubmitted(Refused):
    """The return is still being sent to its provider."""


@dataclass(eq=False, kw_only=True)
class ReturnRefused(Refused):
    """The provider refuses a step of a return, with its own code and reason."""

    return_id: str
    provider: str
    provider_code: str | None
    correlation_id: str | None


class ReturnNotCancellable(ReturnRefused):
    """The provider refuses to cancel the return."""


class DecisionNotAllowed(ReturnRefused):
    """The provider refuses the decision in the return's state."""


class DecisionInvalid(ReturnRefused):
    """The provider rejects the decision itself."""


@dataclass(eq=False, kw_only=True)
class DeliveryNotDead(Refused):
    """Only a dead delivery can be retried."""

    state: str


@dataclass(eq=False, kw_only=True)
class RoutingInvalid(Refused):
    """Proposed routing (a replay's) that `gateway check-config` would refuse in a config file."""

    problems: Sequence[ConfigProblem]
