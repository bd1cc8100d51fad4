"""`ScriptedServer`: a real HTTP server on a real socket that answers from a script.

The narrow transport tests use it instead of a mocking library: each route has a queue of
replies (status, headers, JSON, a delay, or a dropped connection) and every request it saw
is kept for assertions.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict


@dataclass(frozen=True)
class Reply:
    status: int = 200
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    drop: bool = False
    """Abort the connection instead of answering (the client sees a disconnect)."""


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: CIMultiDict[str]
    body: bytes
    query: dict[str, str]


class ScriptedServer:
    def __init__(self) -> None:
        self._script: dict[tuple[str, str], deque[Reply]] = {}
        self._repeat: dict[tuple[str, str], Reply] = {}
        self.seen: list[Seen] = []
        self.url = ""

    def on(self, method: str, path: str, *replies: Reply, then: Reply | None = None) -> None:
        """Answer the next requests to `method path` with `replies`, then `then` forever."""
        key = (method.upper(), path)
        self._script.setdefault(key, deque()).extend(replies)
        if then is not None:
            self._repeat[key] = then

    def count(self, method: str, path: str) -> int:
        return sum(1 for s in self.seen if (s.method, s.path) == (method.upper(), path))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append(
            Seen(
                request.method,
                request.path,
                CIMultiDict(request.headers),
                body,
                dict(request.query),
            )
        )
        key = (request.method, request.path)
        queue = self._script.get(key)
        reply = queue.popleft() if queue else self._repeat.get(key)
        if reply is None:
            return web.json_response({"error": "unscripted"}, status=599)
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        if reply.drop:
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=499)
        data = b"" if reply.json is None else orjson.dumps(reply.json)
        return web.Response(
            status=reply.status, body=data, headers=reply.headers, content_type="application/json"
        )


@asynccontextmanager
async def scripted() -> AsyncIterator[ScriptedServer]:
    fake = ScriptedServer()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake._handle)
    server = TestServer(app)
    await server.start_server()
    fake.url = str(server.make_url("")).rstrip("/")
    try:
        yield fake
    finally:
        await server.close()
