"""The one error tree for everything a provider call can end in.

```
ProviderError                 provider, code, message, correlation_id, status
├── Unauthorized              credentials or token refused (after one refresh)
├── Forbidden                 scope or merchant not allowed
├── NotFound                  no such resource at the provider
├── Conflict                  state forbids it (not cancellable, not passive)
├── Invalid(fields)           the provider rejected the payload: a business answer, final
├── RateLimited(retry_after)  429 that outlived the call's retry budget
├── Unavailable               5xx, timeouts, connection errors — retry later
│   └── CircuitOpen           the gateway refused to call: breaker open
├── Locked                    423 account locked/frozen — retry later
└── ConfigurationError        the gateway's own settings are wrong (invalid_scope, …)
```

Adapters raise these, once, at their boundary (`error_for_status` maps an HTTP status and the
provider's own code); nothing above an adapter looks at a provider's status code. The API
layer turns them into problem+json; the submitter decides from the class alone whether an
order is rejected for good (`Invalid`), or retried later (everything `retryable`).

`Unavailable.outcome_unknown` is true when a request may have reached the provider before it
failed (a timeout after sending, a reset, a 5xx): a create in that state is reconciled before
it is ever sent again.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldError:
    """One field the provider (or a provider rule checked before calling) refused."""

    loc: str
    msg: str


class ProviderError(Exception):
    """Base of the tree. `retryable` says whether trying later can help."""

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


def error_for_status(
    provider: str,
    status: int,
    *,
    code: str | None,
    message: str,
    correlation_id: str | None,
    fields: list[FieldError] | None = None,
    retry_after: float | None = None,
) -> ProviderError:
    """Map an HTTP status to the tree; adapters refine by provider code before calling this."""
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
