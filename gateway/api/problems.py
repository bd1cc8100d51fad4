"""The one mapping from what a use-case raises or returns to what the caller gets.

An exception of `gateway.errors` that reaches a handler is answered as the RFC 9457 problem
its class's rule gives (its own rule, else its nearest ancestor's): the status, the problem
code (`type` is `/problems/<code>`), the title, and what the problem says besides — `detail`
(the exception's own words unless the rule says otherwise), field `errors`, extra members,
headers — read off the exception. The drawing in `gateway.errors` shows each class's status;
`tests/unit/test_problem_mapping.py` holds it to these rules, and checks that every class a
use-case or handler raises has one. A submit's outcome is answered by `OUTCOME_STATUS`
(`gateway.api.submits`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.api.body import validation_problem
from gateway.api.problem_rules import RULES, Rule, Said, add_rule, invalid_at, problem_of, rule_of
from gateway.errors import (
    FieldError,
    FieldProblem,
    NoWebhooks,
    OrderExists,
    Overreach,
    ProviderError,
    ReturnExists,
    StoreUnavailable,
    WebhookMalformed,
    WebhookRejected,
    WebhookTooLarge,
)
from gateway.errors.refusals import (
    ChangeBreaksRules,
    ChangeInvalid,
    ChangeRejected,
    DecisionInvalid,
    DecisionNotAllowed,
    DecisionsUnsupported,
    DeliveryNotDead,
    IdempotencyKeyReused,
    IdempotencyKeyRunning,
    NotCancellable,
    NotChangeable,
    NotHeld,
    NothingToChange,
    NotHoldable,
    NotReturnable,
    OrderNotSubmitted,
    OrderRefused,
    PinnedRouteUnknown,
    PinNotAllowed,
    ProviderRules,
    ReturnedOrderUnknown,
    ReturnNotCancellable,
    ReturnNotSubmitted,
    ReturnRefused,
    ReturnRejected,
    ReturnsUnsupported,
    RoutingInvalid,
    SplitOrderUnsupported,
    SubmissionInProgress,
    Unknown,
    Unroutable,
)
from gateway.submissions.resources import ORDERS, RETURNS


def _fields(problems: Sequence[FieldError], provider: str) -> list[FieldProblem]:
    return [FieldProblem(p.loc, p.msg, rule=provider) for p in problems]


# Providers and the store ------------------------------------------------------------------
def _provider_failed(exc: ProviderError) -> Said:
    # A provider error that reached the facade directly (not via a stored order).
    return Said(exc.message, extra={k: v for k, v in exc.describe().items() if v is not None})


def _provider_errors(cls: type[ProviderError]) -> None:
    """Each provider error by its class: retryable → 503, else 502, its `kind` the code."""
    add_rule(cls, 503 if cls.retryable else 502, cls.kind, _failed_title, _provider_failed)
    for sub in cls.__subclasses__():
        _provider_errors(sub)


def _failed_title(exc: ProviderError) -> str:
    return f"Provider {exc.provider} failed"


_provider_errors(ProviderError)
# Nothing was stored, so nothing is acknowledged: a provider redelivers its webhook, a caller
# retries (its Idempotency-Key makes that safe).
add_rule(
    StoreUnavailable,
    503,
    "store-unavailable",
    "The gateway cannot store anything right now",
    lambda _: Said("retry shortly", headers={"Retry-After": "1"}),
)

# Webhooks ---------------------------------------------------------------------------------
add_rule(WebhookRejected, 401, "webhook-unauthenticated", "Webhook not authentic")
add_rule(WebhookTooLarge, 413, "webhook-too-large", "Webhook holds too many events")
add_rule(WebhookMalformed, 400, "webhook-malformed", "Webhook body not understood")
add_rule(NoWebhooks, 404, "not-found", "No webhook endpoint for this provider")

# Any resource -----------------------------------------------------------------------------
add_rule(Unknown, 404, "not-found", lambda e: f"No such {e.noun}")
add_rule(
    IdempotencyKeyReused,
    422,
    "idempotency-key-reused",
    "Idempotency-Key was used with another body",
)
add_rule(
    IdempotencyKeyRunning,
    409,
    "request-in-progress",
    "A request with this Idempotency-Key is running",
    lambda e: Said(e.detail, headers={"Retry-After": str(e.retry_after_s)}),
)
add_rule(
    ProviderRules,
    422,
    "provider-rules",
    lambda e: f"The {e.noun} breaks rules of provider {e.provider}",
    lambda e: Said(e.detail, _fields(e.problems, e.provider), {"provider": e.provider}),
)

# Orders -----------------------------------------------------------------------------------
add_rule(
    OrderExists,
    409,
    "order-exists",
    "An order with this external_id exists",
    lambda e: Said(
        f"external_id {e.external_id!r} is already order {e.order_id} (only a rejected"
        " order's external_id can be used again)",
        extra={"order_id": e.order_id, "location": f"{ORDERS.path}/{e.order_id}"},
    ),
)
add_rule(PinNotAllowed, 403, "pin-not-allowed", "This client may not pin a route")
invalid_at("routing", PinnedRouteUnknown, "The pinned route does not exist")


def _unroutable(exc: Unroutable) -> Said:
    errors = [
        FieldProblem(
            f"routing.rules[{t['rule']}]",
            "; ".join(c["detail"] for c in t["conditions"] if not c["ok"]) or "no match",
            rule=t["rule"],
        )
        for t in exc.trace
        if not t["matched"]
    ]
    return Said(exc.detail, errors, {"trace": exc.trace})


add_rule(Unroutable, 422, "unroutable", "No routing rule takes this order", _unroutable)


def _order_refused(exc: OrderRefused) -> Said:
    extra: dict[str, Any] = {
        "order_id": exc.order_id,
        "provider": exc.provider,
        "order_status": exc.order_status,
    }
    if exc.provider_code is not None:
        extra["provider_code"] = exc.provider_code
    return Said(exc.detail, extra=extra)


add_rule(NotCancellable, 409, "not-cancellable", "The order cannot be cancelled", _order_refused)
add_rule(NotChangeable, 409, "not-changeable", "The order cannot be changed", _order_refused)
add_rule(NotHoldable, 409, "not-holdable", "The order cannot be held", _order_refused)
add_rule(NotHeld, 409, "not-held", "The order is not held", _order_refused)
add_rule(
    SplitOrderUnsupported,
    409,
    "split-order-unsupported",
    "The order is split over several parts",
    lambda e: Said(
        e.detail,
        extra={"order_id": e.order_id, "order_status": e.order_status, "action": e.action},
    ),
)
add_rule(
    SubmissionInProgress,
    409,
    "submission-in-progress",
    "The order is being submitted to its provider",
    lambda e: Said(e.detail, headers={"Retry-After": "1"}, extra={"phase": e.phase}),
)
add_rule(
    ChangeBreaksRules,
    422,
    "provider-rules",
    lambda e: f"The change breaks rules of provider {e.provider}",
    lambda e: Said(errors=_fields(e.problems, e.provider)),
)
invalid_at("body", NothingToChange, "Nothing to change")


def _invalid_change(exc: ChangeInvalid) -> Said:
    problem = validation_problem(exc.error)  # as a body that is no canonical order is told
    return Said(problem.detail, problem.errors)


add_rule(
    ChangeInvalid,
    422,
    "validation",
    lambda e: validation_problem(e.error).title,
    _invalid_change,
)
add_rule(
    ChangeRejected,
    422,
    "provider-rejected",
    lambda e: f"Provider {e.provider} rejects the change",
    lambda e: Said(
        e.detail,
        _fields(e.fields, e.provider),
        {"order_id": e.order_id, "provider": e.provider, "provider_code": e.provider_code},
    ),
)

# Returns ----------------------------------------------------------------------------------
add_rule(
    ReturnExists,
    409,
    "return-exists",
    "A return with this external_id exists",
    lambda e: Said(
        f"external_id {e.external_id!r} is already return {e.return_id}",
        extra={"return_id": e.return_id, "location": f"{RETURNS.path}/{e.return_id}"},
    ),
)
add_rule(
    Overreach,
    422,
    "validation",
    "The return's lines do not match what the order has left to return",
    lambda e: Said(str(e), e.problems, {"remaining": e.remaining}),
)
add_rule(
    ReturnedOrderUnknown,
    422,
    "order-not-found",
    "The return's order does not exist",
    lambda e: Said(e.detail, [FieldProblem("order_id", "no such order")]),
)


def _about_order(exc: NotReturnable) -> Said:
    return Said(exc.detail, extra={"order_id": exc.order_id, "order_status": exc.order_status})


add_rule(
    NotReturnable,
    409,
    "order-not-returnable",
    lambda e: f"An order that is {e.order_status} cannot be returned",
    _about_order,
)
add_rule(
    OrderNotSubmitted,
    409,
    "order-not-submitted",
    "The order's provider id is not known",
    _about_order,
)
add_rule(
    ReturnsUnsupported,
    422,
    "returns-unsupported",
    lambda e: f"Provider {e.provider} does not take returns through the gateway",
    lambda e: Said(e.detail, extra={"provider": e.provider}),
)
add_rule(
    DecisionsUnsupported,
    422,
    "decision-unsupported",
    lambda e: f"Provider {e.provider} takes no merchant decision on returns",
    lambda e: Said(e.detail, extra={"provider": e.provider}),
)
add_rule(ReturnRejected, 409, "return-rejected", "The provider rejected this return")
add_rule(
    ReturnNotSubmitted,
    409,
    "return-not-submitted",
    "The return is not at the provider yet",
    lambda e: Said(e.detail, headers={"Retry-After": "1"}),
)


def _return_refused(exc: ReturnRefused) -> Said:
    return Said(
        exc.detail,
        extra={
            "return_id": exc.return_id,
            "provider": exc.provider,
            "provider_code": exc.provider_code,
            "correlation_id": exc.correlation_id,
        },
    )


add_rule(
    ReturnNotCancellable,
    409,
    "not-cancellable",
    "The provider refuses to cancel it",
    _return_refused,
)
add_rule(
    DecisionNotAllowed,
    409,
    "decision-not-allowed",
    "The provider refuses this decision",
    _return_refused,
)
add_rule(
    DecisionInvalid, 422, "decision-invalid", "The provider rejects this decision", _return_refused
)

# Events out -------------------------------------------------------------------------------
add_rule(
    DeliveryNotDead,
    409,
    "not-dead",
    "Only a dead delivery can be retried",
    lambda e: Said(e.detail, extra={"state": e.state}),
)

# Routing replay ---------------------------------------------------------------------------
add_rule(
    RoutingInvalid,
    422,
    "routing-invalid",
    "The proposed routing is not valid",
    # Each error as `gateway check-config` words it for the same table in a config file.
    lambda e: Said(e.detail, [FieldProblem(p.loc, p.msg, rule="check-config") for p in e.problems]),
)

__all__ = ["RULES", "Rule", "Said", "problem_of", "rule_of"]  # the table, once filled in
