"""Flexport's error answers: `application/problem+json` (RFC 7807), as Flexport shows them.

`{"type": "https://docs.logistics-api.flexport.com/2026-02/#section/Errors/404-Not-Found",
"title": "Not Found", "detail": "Cannot find order 49201824029", "instance": "<uuid>"}`, plus a
six-digit `code` where one applies and, for field-level validation, RFC 7807's own
`invalid-params: [{name, reason}]` extension. Every response carries `x-correlation-id` (the
harness adds it).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from gateway.sandbox.harness import ErrorStyle, HttpError

PROBLEM_JSON = "application/problem+json"
DOCS = "https://docs.logistics-api.flexport.com/2026-02/#section/Errors/"
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    423: "Locked",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def problem(
    status: int,
    detail: str,
    *,
    code: int | None = None,
    invalid_params: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    title = TITLES.get(status, "Error")
    body: dict[str, Any] = {
        "type": DOCS + f"{status}-{title.replace(' ', '-')}",
        "title": title,
        "detail": detail,
        "instance": str(uuid.uuid4()),
    }
    if code is not None:
        body["code"] = code
    if invalid_params:
        body["invalid-params"] = invalid_params
    return body


class ApiError(HttpError):
    """An error answer of the Flexport API."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        code: int | None = None,
        invalid_params: list[dict[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(
            status,
            problem(status, detail, code=code, invalid_params=invalid_params),
            headers=headers,
            content_type=PROBLEM_JSON,
            summary=f"{status}: {detail}",
        )


def fault_body(status: int) -> dict[str, object]:
    """The body of an injected error status."""
    detail = {
        429: "Too many requests in a given amount of time; see Retry-After.",
        423: "Access to the Logistics API is locked and denied.",
    }.get(status, "An internal error has occurred while processing the request.")
    return problem(status, detail)


STYLE = ErrorStyle(
    # Flexport lists a wrong method and a non-existent path under 400 Bad Request.
    wrong_method=lambda _request, _allow: ApiError(400, "Incorrect HTTP method used."),
    no_route=lambda _request: ApiError(400, "Non-existent URL path used."),
    http_error=lambda exc: HttpError(
        exc.status,
        {"title": exc.reason, "detail": exc.text or exc.reason},
        content_type=PROBLEM_JSON,
    ),
    internal=lambda: ApiError(500, "An internal error has occurred."),
    fault_body=fault_body,
    fault_content_type=PROBLEM_JSON,
)
