"""Error answers of the Logitrail sandbox and the JSON response helper."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web


class ApiError(Exception):
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
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.body: dict[str, Any] = body if body is not None else {"code": code, "message": message}
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        return json_response(self.body, status=self.status, headers=self.headers)


def json_response(
    payload: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status,
        body=orjson.dumps(payload),
        content_type="application/json",
        headers=headers,
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
