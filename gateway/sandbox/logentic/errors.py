"""Logentic's error answers: `{"message": str, "errors": {field: [str]}}` (`errors` on 422 only)."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.sandbox.harness import ErrorStyle, HttpError

FAULT_MESSAGES = {
    429: "Too Many Attempts.",
    500: "Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class ApiError(HttpError):
    """An error answer of the Logentic API."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        errors: dict[str, list[str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        body: dict[str, object] = {"message": message}
        if errors is not None:
            body["errors"] = errors
        super().__init__(status, body, headers=headers, summary=f"{status}: {message}")


def not_found() -> ApiError:
    return ApiError(404, "Not found.")


STYLE = ErrorStyle(
    wrong_method=lambda request, allow: ApiError(
        405,
        f"The {request.method} method is not supported for this route. Supported methods: {allow}.",
    ),
    no_route=lambda _request: not_found(),
    http_error=lambda exc: ApiError(exc.status, exc.reason),
    internal=lambda: ApiError(500, "Server Error"),
    # The body of an injected error status, as Laravel words it.
    fault_body=lambda status: {"message": FAULT_MESSAGES.get(status, "Injected fault.")},
)
