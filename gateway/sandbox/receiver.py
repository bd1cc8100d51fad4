"""`/_sandbox/receiver/<name>`: a subscriber endpoint for the demo, served by the gateway.

A `[[subscribers]]` block whose `url` is `/_sandbox/receiver/<name>` gets this gateway's
events here, so the demo shows push delivery without a server of your own. The receiver does
what a subscriber must: it verifies each delivery with that subscriber's secret (Standard
Webhooks) and answers 204, or 401 when the signature does not verify (the gateway retries,
then dead-letters). `GET /_sandbox/receiver/<name>` lists what it took, oldest first: the
last `KEEP` deliveries, each `{webhook_id, received_at, event}`. Nothing is stored on disk.
"""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog
from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from gateway.config import Settings

log = structlog.get_logger(__name__)

PATH = "/_sandbox/receiver"
KEEP = 1000


def receiver_app(settings: Settings) -> web.Application:
    """The receiver of every subscriber whose `url` points at `PATH/<name>`."""
    verifiers: dict[str, Webhook] = {}
    for sub in settings.subscribers:
        if sub.url.startswith(f"{PATH}/"):
            verifiers[sub.url.removeprefix(f"{PATH}/")] = Webhook(
                settings.secrets.reveal(sub.secret_env)
            )
    received: dict[str, deque[dict[str, Any]]] = {name: deque(maxlen=KEEP) for name in verifiers}

    def named(request: web.Request) -> str:
        name = request.match_info["name"]
        if name not in verifiers:
            raise web.HTTPNotFound(
                text=f"no [[subscribers]] url is {PATH}/{name}", content_type="text/plain"
            )
        return name

    async def take(request: web.Request) -> web.Response:
        name = named(request)
        body = await request.read()
        try:
            verifiers[name].verify(body, dict(request.headers))
        except WebhookVerificationError as exc:
            log.info("sandbox.receiver.rejected", receiver=name, error=str(exc))
            raise web.HTTPUnauthorized(text=str(exc), content_type="text/plain") from None
        received[name].append(
            {
                "webhook_id": request.headers["webhook-id"],
                "received_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "event": orjson.loads(body),
            }
        )
        return web.Response(status=204)

    async def show(request: web.Request) -> web.Response:
        items = list(received[named(request)])
        return web.Response(body=orjson.dumps({"items": items}), content_type="application/json")

    app = web.Application()
    app.router.add_post("/{name}", take)
    app.router.add_get("/{name}", show)
    return app
