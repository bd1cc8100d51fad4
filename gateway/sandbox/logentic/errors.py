"""Logentic's error answers: `{"message": str, "errors": {field: [str]}}` (`errors` on 422 only)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

FAULT_MESSAGES = {
    429: "Too Many Attempts.",
    500: "Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class ApiError(Exception):
    """An error answer of the Logentic API."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        errors: dict[str, list[str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.body: dict[str, Any] = {"message": message}
        if errors is not None:
            self.body["errors"] = errors
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        return json_response(self.body, status=self.status, headers=self.headers)


def not_found() -> ApiError:
    return ApiError(404, "Not found.")


def fault_body(status: int) -> dict[str, object]:
    """The body of an injected error status, as Laravel words it."""
    return {"message": FAULT_MESSAGES.get(status, "Injected fault.")}


def json_response(
    payload: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(payload), content_type="application/json", headers=headers
    )
