"""The answers `/v1/returns` refuses with, and the checks that find them (no I/O)."""

from __future__ import annotations

from typing import Any

from gateway.errors import Conflict, Invalid, Overreach, ProblemError
from gateway.store import OrderRow, ReturnRow


def not_returnable(order: OrderRow, reason: str) -> ProblemError:
    status = order.status.value
    return ProblemError(
        409,
        "order-not-returnable",
        f"An order that is {status} cannot be returned",
        detail=f"order {order.id} is {status}: {reason}",
        extra={"order_id": order.id, "order_status": status},
    )


def overreach(exc: Overreach) -> ProblemError:
    return ProblemError(
        422,
        "validation",
        "The return's lines do not match what the order has left to return",
        detail="; ".join(f"{p.loc}: {p.msg}" for p in exc.problems),
        errors=exc.problems,
        extra={"remaining": exc.remaining},
    )


def unsupported(provider: str) -> ProblemError:
    return ProblemError(
        422,
        "returns-unsupported",
        f"Provider {provider} does not take returns through the gateway",
        detail=f"the order is held by {provider}, which offers no returns API to this account",
        extra={"provider": provider},
    )


def decisions_unsupported(provider: str) -> ProblemError:
    return ProblemError(
        422,
        "decision-unsupported",
        f"Provider {provider} takes no merchant decision on returns",
        detail=f"{provider}'s returns API has no decision step; it handles the goods itself",
        extra={"provider": provider},
    )


def return_exists(return_id: str, external_id: str) -> ProblemError:
    return ProblemError(
        409,
        "return-exists",
        "A return with this external_id exists",
        detail=f"external_id {external_id!r} is already return {return_id}",
        extra={"return_id": return_id, "location": f"/v1/returns/{return_id}"},
    )


def refused(
    row: ReturnRow, code: str, title: str, exc: Conflict | Invalid, *, status: int = 409
) -> ProblemError:
    return ProblemError(
        status,
        code,
        title,
        detail=f"{row.provider}: {exc.message}",
        extra={
            "return_id": row.id,
            "provider": row.provider,
            "provider_code": exc.code,
            "correlation_id": exc.correlation_id,
        },
    )


def rejected(view: dict[str, Any]) -> dict[str, Any]:
    """422 body for a return the provider refused: a problem that still carries the return."""
    error = view["submission"]["last_error"] or {}
    fields = error.get("fields") or []
    return {
        "type": "/problems/provider-rejected",
        "title": "The provider rejected the return",
        "status": 422,
        "detail": f"{view['provider']}: {error.get('provider_message') or 'refused'}",
        "instance": f"/v1/returns/{view['id']}",
        "code": "provider-rejected",
        "provider": view["provider"],
        "provider_code": error.get("provider_code"),
        "correlation_id": error.get("correlation_id"),
        "errors": [{"loc": f["loc"], "msg": f["msg"], "rule": view["provider"]} for f in fields],
        "return": view,
    }
