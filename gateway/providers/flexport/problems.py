"""Flexport's `application/problem+json` answers → the gateway's error tree (Flexport's Errors).

`{type, title, detail, instance}` plus, where one applies, a six-digit `code` (`407001`
invalid order status, `4050xx` OAuth) and field errors (`invalid-params`). The response's
`x-correlation-id` is kept (the problem's `instance` where the header is missing). Pure: the
adapter logs and records what this returns.
"""

from __future__ import annotations

from typing import Any

from gateway.errors import Conflict, Forbidden, ProviderError, Unauthorized
from gateway.providers.errors import error_for_status
from gateway.providers.flexport import translate

NAME = "flexport"


def family(op: str) -> str:
    """Which scope an op needs: `d2c`, `b2b`, `returns`, `products` or `warehouses`."""
    if op.startswith("b2b_"):
        return "b2b"
    if op.startswith("return_"):
        return "returns"
    return op if op in ("products", "warehouses") else "d2c"


def to_error(
    op: str,
    status: int,
    problem: Any,
    *,
    correlation_id: str | None,
    retry_after: float | None,
    token_env: str,
    lines: list[int] | None = None,
) -> tuple[ProviderError, str | None]:
    """The error for a non-2xx answer, and the configuration-error key it sets (None: none).

    401: the token is refused — tokens do not refresh, so it is a credential problem an
    operator must fix (key `token`). 403: the token lacks the op's scope (key: its family),
    except for the start-up probe, whose scope is optional. A refused cancel is a `Conflict`.
    """
    problem = problem if isinstance(problem, dict) else {}
    message = str(problem.get("detail") or problem.get("title") or f"HTTP {status}")
    raw_code = problem.get("code")
    code = str(raw_code) if isinstance(raw_code, str | int) and raw_code != "" else None
    cid = correlation_id or (str(problem["instance"]) if problem.get("instance") else None)
    if status == 401:
        reason = (
            "flexport refused the API token (401: invalid, expired or revoked). Tokens do "
            f"not refresh: put a valid one in {token_env} and restart"
        )
        return Unauthorized(NAME, reason, code=code, correlation_id=cid, status=401), "token"
    if status == 403 and op != "warehouses":
        reason = f"flexport token lacks the scope for {op} (403): {message}"
        return Forbidden(NAME, reason, code=code, correlation_id=cid, status=403), family(op)
    if op.endswith("cancel") and status in (400, 409, 422):
        conflict = Conflict(
            NAME, message, code=code or "not-cancellable", correlation_id=cid, status=status
        )
        return conflict, None
    error = error_for_status(
        NAME,
        status,
        code=code,
        message=f"{op}: {message}",
        correlation_id=cid,
        fields=translate.field_errors(problem, lines),
        retry_after=retry_after,
    )
    return error, None
