"""Error answers of the Logitrail sandbox: `{"code", "message"}`, OAuth errors excepted."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from gateway.sandbox.harness import ErrorStyle, HttpError


class ApiError(HttpError):
    """An error answer: `{"code", "message"}` unless `body` is given (OAuth errors)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str = "",
        *,
        body: dict[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(
            status,
            body if body is not None else {"code": code, "message": message},
            headers=headers,
            summary=f"{status} {code}: {message}",
        )
        self.code = code


STYLE = ErrorStyle(
    wrong_method=lambda request, allow: ApiError(
        405, "method_not_allowed", f"{request.method} not allowed; use {allow}"
    ),
    no_route=lambda request: ApiError(
        404, "not_found", f"no route {request.method} {request.path}"
    ),
    http_error=lambda exc: ApiError(exc.status, "unknown", exc.reason),
    internal=lambda: ApiError(500, "unknown", "internal error"),
    fault_body=lambda _status: {"code": "unknown", "message": "injected fault"},
)


def invalid(code: str, message: str) -> ApiError:
    """A 400 validation error, e.g. `invalid("product.qty.invalid", "...")`."""
    return ApiError(400, code, message)


def int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    """Query parameter `name` as an integer in [low, high], else a 400 `<name>.invalid`."""
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ApiError(400, f"{name}.invalid", f"{name} must be an integer in [{low}, {high}]")
    return value


async def json_body(request: web.Request) -> Any:
    """The request's JSON body; 400 `unknown` if it is malformed."""
    try:
        return orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise ApiError(400, "unknown", "malformed JSON body") from None
