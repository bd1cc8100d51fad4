"""Error answers every sandbox gives, each worded the way its provider words them.

`HttpError` is an answer raised from a handler: a status, a JSON body of a content type, and
headers. A provider's own `ApiError` subclasses it to build the body its way. `ErrorStyle`
says how the provider words what no handler of its raises (a wrong method, a route that
does not exist, another aiohttp error, a crash) and the body of an injected fault status;
`answer` runs a handler and turns every error into such an answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

log = structlog.get_logger(__name__)

JSON = "application/json"


def json_response(
    payload: Any,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    content_type: str = JSON,
) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(payload), content_type=content_type, headers=headers
    )


class HttpError(Exception):
    """An error answer: `body` as JSON of `content_type`, with `headers`."""

    def __init__(
        self,
        status: int,
        body: Any,
        *,
        headers: Mapping[str, str] | None = None,
        content_type: str = JSON,
        summary: str = "",
    ) -> None:
        super().__init__(summary or str(status))
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
        self.content_type = content_type

    def response(self) -> web.Response:
        return json_response(
            self.body, status=self.status, headers=self.headers, content_type=self.content_type
        )


@dataclass(frozen=True)
class ErrorStyle:
    """How one provider words the errors its handlers do not raise themselves.

    - `wrong_method(request, allow)`: a route exists, not with this method (the answer gets
      an `Allow` header listing `allow`);
    - `no_route(request)`: no route has this path;
    - `http_error(exc)`: any other error aiohttp raised;
    - `internal()`: a handler crashed;
    - `fault_body(status)`: the body of an injected error status, of `fault_content_type`.
    """

    wrong_method: Callable[[web.Request, str], HttpError]
    no_route: Callable[[web.Request], HttpError]
    http_error: Callable[[web.HTTPException], HttpError]
    internal: Callable[[], HttpError]
    fault_body: Callable[[int], Mapping[str, object]]
    fault_content_type: str = JSON


async def answer(
    request: web.Request, handler: Handler, style: ErrorStyle, sandbox: str
) -> web.StreamResponse:
    """Run `handler`, turning every error (its own or aiohttp's routing ones) into an answer."""
    try:
        return await handler(request)
    except HttpError as error:
        return error.response()
    except web.HTTPMethodNotAllowed as exc:
        allow = ", ".join(sorted(exc.allowed_methods))
        refusal = style.wrong_method(request, allow)
        refusal.headers["Allow"] = allow
        return refusal.response()
    except web.HTTPNotFound:
        return style.no_route(request).response()
    except web.HTTPException as exc:
        return style.http_error(exc).response()
    except Exception:
        log.exception(f"sandbox.{sandbox}.handler.failed", path=request.path)
        return style.internal().response()
