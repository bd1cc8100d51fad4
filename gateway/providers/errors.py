"""A provider's HTTP answer as a class of the error tree in `gateway.errors`.

Adapters call `error_for_status` once, at their boundary, after refining by the provider's
own code; nothing above an adapter looks at a provider's status code.
"""

from __future__ import annotations

from gateway.errors import (
    Conflict,
    FieldError,
    Forbidden,
    Invalid,
    Locked,
    NotFound,
    ProviderError,
    RateLimited,
    Unauthorized,
    Unavailable,
)


def error_for_status(
    provider: str,
    op: str,
    status: int,
    said: str,
    *,
    code: str | None,
    correlation_id: str | None,
    fields: list[FieldError] | None = None,
    retry_after: float | None = None,
) -> ProviderError:
    """Map an HTTP status to the tree; adapters refine by provider code before calling this.
    The error's message is what the provider `said`, after the `op` it answered."""
    message = f"{op}: {said}"
    if status == 429:
        return RateLimited(
            provider,
            message,
            retry_after=retry_after,
            code=code,
            correlation_id=correlation_id,
            status=status,
        )
    if status >= 500:
        return Unavailable(
            provider,
            message,
            outcome_unknown=True,
            code=code,
            correlation_id=correlation_id,
            status=status,
        )
    cls = _BY_STATUS.get(status)
    if cls is not None:
        return cls(provider, message, code=code, correlation_id=correlation_id, status=status)
    return Invalid(
        provider, message, fields=fields, code=code, correlation_id=correlation_id, status=status
    )


_BY_STATUS: dict[int, type[ProviderError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    423: Locked,
}
