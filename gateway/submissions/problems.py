"""The answers a submit refuses with once the provider's view is known: its rules broken
before any call (`provider_rules`), and its refusal after the call (`rejected`, a 422 body
that still carries the resource)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.errors import FieldError, FieldProblem, ProblemError
from gateway.submissions.resources import Resource


def provider_rules(
    resource: Resource, provider: str, problems: Sequence[FieldError]
) -> ProblemError:
    return ProblemError(
        422,
        "provider-rules",
        f"The {resource.noun} breaks rules of provider {provider}",
        detail="; ".join(f"{p.loc}: {p.msg}" for p in problems),
        errors=[FieldProblem(p.loc, p.msg, rule=provider) for p in problems],
        extra={"provider": provider},
    )


def rejected(view: dict[str, Any], resource: Resource) -> dict[str, Any]:
    """422 body for a resource its provider refused: a problem under which the resource's view
    stands as `order` or `return`."""
    error = (view.get("submission") or {}).get("last_error") or {}
    reason = error.get("provider_message") or f"the provider refused the {resource.noun}"
    fields = error.get("fields") or []
    return {
        "type": "/problems/provider-rejected",
        "title": f"The provider rejected the {resource.noun}",
        "status": 422,
        "detail": f"{view['provider']}: {reason}",
        "instance": f"{resource.path}/{view['id']}",
        "code": "provider-rejected",
        "provider": view["provider"],
        "provider_code": error.get("provider_code"),
        "correlation_id": error.get("correlation_id"),
        "errors": [{"loc": f["loc"], "msg": f["msg"], "rule": view["provider"]} for f in fields],
        resource.noun: view,
    }
