"""Every exception the gateway raises, in one tree, at the bottom of the layer stack.

`→ status` is the answer an exception gets when it reaches a handler: `gateway.api.problems`
holds the one mapping from class to status, problem code, title and members (its unit test
holds this drawing to it). A class without an arrow never reaches a caller.

```
GatewayError
├── ProblemError                   an answer `api/` builds itself (RFC 9457): its own status
├── ProviderError                  a provider call failed, uncaught by a use-case → 502
│   ├── Unauthorized               credentials or token refused (after one refresh) → 503
│   ├── Forbidden                  scope or merchant not allowed → 503
│   ├── NotFound                   no such resource at the provider → 502
│   ├── Conflict                   state forbids it (not cancellable, not passive) → 502
│   ├── Invalid(fields)            the provider refused the payload: final → 502
│   ├── RateLimited(retry_after)   429 that outlived the call's retry budget → 503
│   ├── Unavailable                5xx, timeouts, connection errors: retry later → 503
│   │   └── CircuitOpen            the gateway refused to call: breaker open → 503
│   ├── Locked                     423 account locked or frozen: retry later → 503
│   └── ConfigurationError         the gateway's own settings are wrong (invalid_scope) → 503
├── WebhookRefused                 a delivery refused: nothing of it is stored
│   ├── WebhookRejected            not authentic (bad or missing credential) → 401
│   ├── WebhookTooLarge            more events than the provider sends at once → 413
│   ├── WebhookMalformed           a body its provider's parser does not understand → 400
│   └── NoWebhooks                 no webhooks configured for that provider → 404
├── UnknownProvider                no provider package of that name (also a `LookupError`)
├── StoreUnavailable               the database is unreachable or refused → 503
│   └── MigrationBlocked           existing rows break a migration; nothing applied
├── OrderExists                    (client, external_id) taken → 409
├── ReturnExists                   (client, external_id) of a return taken → 409
├── ProviderOrderTaken             a provider order id held by another order
├── KeyTaken                       an idempotency key's deferred claim lost to another request
├── LeaseLost                      another worker took the order over
├── Overreach                      a return asks back more than is left → 422
├── Refused(detail)                a use-case refuses the caller's request, changing nothing
│   ├── Unknown(noun)              no such order, return, subscriber, delivery (of its) → 404
│   ├── IdempotencyKeyReused       the key was first used with another body → 422
│   ├── IdempotencyKeyRunning      the key's first request has not finished → 409
│   ├── PinNotAllowed              a pinned route without the `routing:pin` scope → 403
│   ├── PinnedRouteUnknown         no such warehouse at the pinned provider → 422
│   ├── Unroutable(trace)          no routing rule takes the order → 422
│   ├── ProviderRules(problems)    the provider's rules, checked before any call → 422
│   │   └── ChangeBreaksRules      … by the changed order → 422
│   ├── OrderRefused               the order's state forbids it (or its provider does)
│   │   ├── NotCancellable         an order that cannot be cancelled (any more) → 409
│   │   ├── NotChangeable          an order that cannot be changed (any more) → 409
│   │   ├── NotHoldable            an order at (or on its way to) its provider → 409
│   │   ├── NotHeld                an order not held: nothing to release → 409
│   │   └── SplitOrderUnsupported(action) a split order's lines cannot change → 409
│   ├── SubmissionInProgress       a submission step in flight: retry shortly → 409
│   ├── NothingToChange            a change naming no part of the order → 422
│   ├── ChangeInvalid(error)       the changed order is no valid order → 422
│   ├── ChangeRejected(fields)     the provider refuses the changed order → 422
│   ├── ReturnedOrderUnknown       a return of an order the client does not have → 422
│   ├── NotReturnable              the order's status (or its past) forbids a return → 409
│   │   └── OrderNotSubmitted      … its provider id is not known → 409
│   ├── ProviderLacks(provider)    the order's provider has no API for it
│   │   ├── ReturnsUnsupported     … no returns API → 422
│   │   └── DecisionsUnsupported   … no decision step in its returns → 422
│   ├── ReturnRejected             its provider rejected the return: nothing to change → 409
│   ├── ReturnNotSubmitted         the return is not at its provider yet → 409
│   ├── ReturnRefused              the provider refuses a step of a return
│   │   ├── ReturnNotCancellable   … its cancellation → 409
│   │   ├── DecisionNotAllowed     … this decision now → 409
│   │   └── DecisionInvalid        … this decision at all → 422
│   ├── DeliveryNotDead            only a dead delivery can be retried → 409
│   └── RoutingInvalid(problems)   proposed routing check-config would refuse → 422
└── ConfigError(problems)          the config file or environment has problems
```

The use-cases (`orders/`, `returns/`, `submissions/`) raise these and return domain results;
only `api/` turns either into HTTP. `Refused` and what derives from it are in
`gateway.errors.refusals`, everything else is here. A provider error a use-case expects
becomes a refusal (`Conflict` → `NotCancellable`, `NotChangeable`, `ReturnNotCancellable`,
`DecisionNotAllowed`; `Invalid` → `ChangeRejected`, `DecisionInvalid`); one it does not
expect reaches the caller as itself. The rest never reach a caller: `UnknownProvider`
becomes a `ConfigProblem`, `ConfigError` and `MigrationBlocked` end a `gateway` command
(exit 1 or 2), `ProviderOrderTaken` leaves an order to an operator, `LeaseLost` stops a
worker; a `ProviderError` met while submitting rejects the stored order (not retryable) or
schedules it again.

Provider errors are raised once, at an adapter's boundary (`providers.errors.error_for_status`
maps an HTTP status and the provider's own code); nothing above an adapter looks at a
provider's status code. `Unavailable.outcome_unknown` is true when a request may have
reached the provider before it failed (a timeout after sending, a reset, a 5xx): a create in
that state is reconciled before it is ever sent again. The simulators in `gateway.sandbox`
keep their own errors: they play the providers, and answer in each provider's format.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class GatewayError(Exception):
    """Root of the tree: `except GatewayError` never catches a bug (`KeyError`, …)."""


# Problems (RFC 9457) ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FieldProblem:
    loc: str
    msg: str
    rule: str | None = None
    """The provider rule or validation rule that was broken, where one applies."""

    def as_dict(self) -> dict[str, str]:
        out = {"loc": self.loc, "msg": self.msg}
        if self.rule:
            out["rule"] = self.rule
        return out


@dataclass(slots=True)
class ProblemError(GatewayError):
    """Built and raised by `api/` alone (a use-case raises what it means, `api/` maps it),
    rendered once by its middleware. `type` is a relative URI `/problems/<code>`; `code`
    repeats the slug so clients need not parse it."""

    status: int
    code: str
    title: str
    detail: str | None = None
    errors: list[FieldProblem] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        Exception.__init__(self, f"{self.status} {self.code}: {self.detail or self.title}")

    def body(self, instance: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": f"/problems/{self.code}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail or self.title,
            "instance": instance,
            "code": self.code,
        }
        if self.errors:
            out["errors"] = [e.as_dict() for e in self.errors]
        out.update(self.extra)
        return out


# Providers -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FieldError:
    """One field the provider (or a provider rule checked before calling) refused."""

    loc: str
    msg: str


class ProviderError(GatewayError):
    """Base of the provider errors. `retryable` says whether trying later can help."""

    retryable = False
    kind = "provider-error"

    def __init__(
        self,
        provider: str,
        message: str,
        *,
        code: str | None = None,
        correlation_id: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.message = message
        self.code = code
        self.correlation_id = correlation_id
        self.status = status

    def describe(self) -> dict[str, object]:
        """Facts safe to log and to show a caller (never credentials)."""
        return {
            "provider": self.provider,
            "error": self.kind,
            "provider_code": self.code,
            "provider_message": self.message,
            "correlation_id": self.correlation_id,
            "provider_status": self.status,
        }


class Unauthorized(ProviderError):
    # Retryable: an operator can fix credentials; orders wait rather than fail for good.
    retryable = True
    kind = "provider-unauthorized"


class Forbidden(ProviderError):
    retryable = True
    kind = "provider-forbidden"


class NotFound(ProviderError):
    kind = "provider-not-found"


class Conflict(ProviderError):
    kind = "provider-conflict"


class Invalid(ProviderError):
    kind = "provider-invalid"

    def __init__(
        self,
        provider: str,
        message: str,
        *,
        fields: list[FieldError] | None = None,
        code: str | None = None,
        correlation_id: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(provider, message, code=code, correlation_id=correlation_id, status=status)
        self.fields = fields or []


class RateLimited(ProviderError):
    retryable = True
    kind = "provider-rate-limited"

    def __init__(
        self,
        provider: str,
        message: str,
        *,
        retry_after: float | None = None,
        code: str | None = None,
        correlation_id: str | None = None,
        status: int | None = 429,
    ) -> None:
        super().__init__(provider, message, code=code, correlation_id=correlation_id, status=status)
        self.retry_after = retry_after


class Unavailable(ProviderError):
    retryable = True
    kind = "provider-unavailable"

    def __init__(
        self,
        provider: str,
        message: str,
        *,
        outcome_unknown: bool = False,
        code: str | None = None,
        correlation_id: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(provider, message, code=code, correlation_id=correlation_id, status=status)
        self.outcome_unknown = outcome_unknown


class CircuitOpen(Unavailable):
    kind = "provider-circuit-open"


class Locked(ProviderError):
    retryable = True
    kind = "provider-locked"


class ConfigurationError(ProviderError):
    """The gateway's settings for this provider are wrong; an operator must act."""

    retryable = True
    kind = "provider-configuration"


class WebhookRefused(GatewayError):
    """A delivery refused before anything of it is stored; the message says why."""


class WebhookRejected(WebhookRefused):
    """A delivery that is not authentic (bad or missing signature/token)."""


class WebhookTooLarge(WebhookRefused):
    """A delivery carrying more events than the provider sends in one."""


class WebhookMalformed(WebhookRefused):
    """A delivery its provider's parser does not understand."""


class NoWebhooks(WebhookRefused):
    """A delivery for a provider that takes no webhooks (or is not configured)."""


class UnknownProvider(GatewayError, LookupError):
    pass


# The store -------------------------------------------------------------------------------
class StoreUnavailable(GatewayError):
    """The database cannot be reached or refused the operation."""


class MigrationBlocked(StoreUnavailable):
    """Existing rows break a migration's constraint; nothing was applied."""

    def __init__(self, version: int, problems: list[str], fixes: list[str]) -> None:
        self.version = version
        self.problems = problems
        super().__init__(
            f"migration {version} refused, nothing applied: {'; '.join(problems)}. "
            + " ".join(fixes)
        )


class OrderExists(GatewayError):
    """(client, external_id) is taken; `order_id` names the order that holds it (the
    use-case that raises it again names the `external_id` too)."""

    def __init__(self, order_id: str, external_id: str | None = None) -> None:
        super().__init__(order_id)
        self.order_id = order_id
        self.external_id = external_id


class ProviderOrderTaken(GatewayError):
    """The provider order id is held by another gateway order: never adopted (a unique index
    on (provider, provider_order_id) backs this)."""

    def __init__(self, provider: str, provider_order_id: str, holder: str | None) -> None:
        super().__init__(f"{provider} order {provider_order_id} is held by {holder}")
        self.provider = provider
        self.provider_order_id = provider_order_id
        self.holder = holder


class ReturnExists(GatewayError):
    """(client, external_id) of a return is taken; `return_id` names the return holding it
    (and `external_id` the key, as for `OrderExists`)."""

    def __init__(self, return_id: str, external_id: str | None = None) -> None:
        super().__init__(return_id)
        self.return_id = return_id
        self.external_id = external_id


class KeyTaken(GatewayError):
    """An idempotency key's deferred claim lost: another request took the key first, and what
    the claim came with was not stored."""


class LeaseLost(GatewayError):
    """Another worker took the order over: stop touching it."""


class Overreach(GatewayError):
    """The return asks back more than the order has left to return; nothing was stored."""

    def __init__(self, problems: list[FieldProblem], remaining: Mapping[str, int]) -> None:
        super().__init__("; ".join(f"{p.loc}: {p.msg}" for p in problems))
        self.problems = problems
        self.remaining = dict(remaining)
        """Per SKU of the order, how many units can still come back."""


# The config file -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ConfigProblem:
    loc: str
    msg: str
    variable: str | None = None
    """Set when the problem is in the environment, not the file: the variable it is about."""
    missing: bool = False
    """The variable is not set (or empty), as opposed to set to an unusable value."""

    def __str__(self) -> str:
        return f"{self.loc}: {self.msg}" if self.loc else self.msg


class ConfigError(GatewayError):
    def __init__(self, problems: list[ConfigProblem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems
