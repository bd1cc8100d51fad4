"""Webhooks the Logentic sandbox sends: signed as Logentic shows, at least once, retried.

Each event is one JSON body, `{"id": <uuid4 event id>, "topic", "created_at", "data": order}`,
serialised once: retries and `redeliver` send the very same bytes and headers. Headers:
`Content-Type: application/json`, `Signature: hex(HMAC-SHA256(secret, body))` (omitted
without a secret), `Logentic-Api-Version: V1`, `Logentic-Topic`, and Guzzle's `User-Agent`.

Ordering per order, retries and the record of every attempt are the shared
`gateway.sandbox.harness.webhooks.WebhookPoster`.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Callable
from typing import Any

import orjson

from gateway.sandbox.harness.webhooks import OutboundWebhook, WebhookDelivery, WebhookPoster

from .state import iso

__all__ = ["WebhookDelivery", "WebhookSender", "sign"]

USER_AGENT = "GuzzleHttp/6.5.5 curl/7.79.1 PHP/7.4.24"
API_VERSION = "V1"


def sign(secret: str, body: bytes) -> str:
    """Lowercase hex HMAC-SHA256 of the exact body bytes."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookSender(WebhookPoster):
    def __init__(self, *, secret: str | None, url: str | None, clock: Callable[[], float]) -> None:
        super().__init__("logentic", clock=clock, timeout_s=10.0)
        self.secret = secret
        self.url = url

    def headers(self, topic: str, body: bytes, signature: str | None = None) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if signature is None and self.secret is not None:
            signature = sign(self.secret, body)
        if signature is not None:
            headers["Signature"] = signature
        headers |= {
            "Logentic-Api-Version": API_VERSION,
            "Logentic-Topic": topic,
            "User-Agent": USER_AGENT,
        }
        return headers

    def announce(self, topic: str, order_id: int, data: dict[str, Any]) -> str | None:
        """Queue an order event (after the order's earlier ones); its id, None without a URL."""
        if self.url is None:
            return None
        event_id = str(uuid.uuid4())
        payload = {"id": event_id, "topic": topic, "created_at": iso(self._clock()), "data": data}
        body = orjson.dumps(payload)
        self.queue(
            str(order_id),
            OutboundWebhook(self.url, event_id, topic, body, self.headers(topic, body)),
        )
        return event_id

    async def send(self, topic: str, payload: dict[str, Any], *, signature: str | None) -> int:
        """POST `payload` once to the current URL, signed (or with the `signature` given)."""
        if self.url is None:
            raise ValueError("webhook_url is not set")
        body = orjson.dumps(payload)
        found = payload.get("id")
        event_id = str(found) if isinstance(found, str | int) else ""
        event = OutboundWebhook(
            self.url, event_id, topic, body, self.headers(topic, body, signature)
        )
        self.remember(event)
        return await self.post(event, 1)
