"""Webhooks the Flexport sandbox sends: ids only, token-authenticated, at least once.

Each event is one JSON body: the envelope `logisticsAccountId`, `logisticsEventId` (uuid4),
`logisticsEventType`, `logisticsEventTime`, plus `orderId` and `externalOrderId` (and the
shipment's `id` for Shipment.* events) — never the order itself (Flexport: "webhook payloads
carry identifiers, not full order state"). The subscription's authMethod is TOKEN: the token
goes in `token_header`. Serialised once: retries and `redeliver` send the same bytes.

Events of one order go out in the order they happened; anything but 200 (Flexport: "Receiver
must answer 200") or a connection error is retried after each of `retry_delays_s`
(Flexport: ≈5 min, then exponential, 10 attempts; shortened here). Ordering, retries and
the record of every attempt are the shared `gateway.sandbox.harness.webhooks.WebhookPoster`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import orjson

from gateway.sandbox.harness.webhooks import OutboundWebhook, WebhookDelivery, WebhookPoster

from .state import ACCOUNT_ID, iso

__all__ = ["WebhookDelivery", "WebhookSender"]

USER_AGENT = "Flexport-Webhooks/2026-02"


class WebhookSender(WebhookPoster):
    def __init__(
        self,
        *,
        token: str | None,
        token_header: str,
        url: str | None,
        clock: Callable[[], float],
    ) -> None:
        # "respond with HTTP 200 within 5 seconds"
        super().__init__("flexport", clock=clock, timeout_s=5.0, accepted=lambda s: s == 200)
        self.token = token
        self.token_header = token_header
        self.url = url

    def headers(self, token: str | None = None) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        token = token if token is not None else self.token
        if token is not None:
            headers[self.token_header] = token
        return headers

    def announce(self, event_type: str, ids: dict[str, Any]) -> str | None:
        """Queue an event (after the order's earlier ones); its id, None without a URL."""
        if self.url is None:
            return None
        event_id = str(uuid.uuid4())
        payload = {
            "logisticsAccountId": ACCOUNT_ID,
            "logisticsEventId": event_id,
            "logisticsEventType": event_type,
            "logisticsEventTime": iso(self._clock()),
            **ids,
        }
        event = OutboundWebhook(
            self.url, event_id, event_type, orjson.dumps(payload), self.headers()
        )
        self.queue(str(ids.get("orderId")), event)
        return event_id

    async def send(self, payload: Any, *, token: str | None) -> int:
        """POST `payload` once to the current URL with `token` (None: the configured one)."""
        if self.url is None:
            raise ValueError("webhook_url is not set")
        found = payload.get("logisticsEventId") if isinstance(payload, dict) else None
        event_type = payload.get("logisticsEventType") if isinstance(payload, dict) else None
        event = OutboundWebhook(
            self.url,
            str(found or ""),
            str(event_type or ""),
            orjson.dumps(payload),
            self.headers(token),
        )
        return await self.post(event, 1)
