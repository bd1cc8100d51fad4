"""Webhooks the Logitrail sandbox sends: the legacy envelope, unsigned.

Every status change of an order announces `order.info.change`; moving to `processed` announces
`order.shipped` too, with a `shipment`. Envelope: `{event_id, event_type, webhook_id, ts,
retry_count, payload: {order: {id, merchants_order, status, tracking_code, tracking_url}}}`.
Logitrail signs nothing, so the URL carries the gateway's `?token=`.

Events of one order go out in the order they happened; a failed delivery is retried after each
of `retry_delays_s` with `retry_count` + 1 and the same `event_id` (the shared
`gateway.sandbox.harness.webhooks.WebhookPoster`, which records every attempt).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import orjson

from gateway.sandbox.harness.records import utc_iso
from gateway.sandbox.harness.webhooks import OutboundWebhook, WebhookDelivery, WebhookPoster

from .state import SandboxOrder

__all__ = ["WebhookDelivery", "WebhookSender", "envelopes"]

RETRY_DELAYS_S = (0.2, 0.5, 1.0)
WEBHOOK_ID = "wh-sandbox"


def envelopes(order: SandboxOrder) -> list[tuple[str, dict[str, Any]]]:
    """(event_type, payload) of what Logitrail announces when `order` took its status."""
    payload: dict[str, Any] = {
        "order": {
            "id": order.id,
            "merchants_order": order.merchants_order or None,
            "status": order.status,
            "tracking_code": order.tracking_code,
            "tracking_url": order.tracking_url,
        }
    }
    out = [("order.info.change", payload)]
    if order.status == "processed":
        shipment = {"id": f"shp-{order.id[:12]}", "carrier_tracking_code": order.tracking_code}
        out.append(("order.shipped", {**payload, "shipment": shipment}))
    return out


class WebhookSender(WebhookPoster):
    def __init__(self, *, url: str | None, clock: Callable[[], float]) -> None:
        super().__init__("logitrail", clock=clock, timeout_s=10.0)
        self.url = url
        self.retry_delays_s = RETRY_DELAYS_S

    def announce(self, order: SandboxOrder) -> None:
        """Queue the events of `order`'s new status (nothing without a URL or event loop)."""
        if self.url is None:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # changed from plain Python, outside any loop: nobody to tell
        for event_type, payload in envelopes(order):
            event_id = str(uuid.uuid4())
            envelope = {
                "event_id": event_id,
                "event_type": event_type,
                "webhook_id": WEBHOOK_ID,
                "ts": utc_iso(self._clock()),
                "retry_count": 0,
                "payload": payload,
            }
            headers = {"Content-Type": "application/json"}
            body = orjson.dumps(envelope)
            self.queue(order.id, OutboundWebhook(self.url, event_id, event_type, body, headers))

    def attempt_of(self, event: OutboundWebhook, attempt: int) -> OutboundWebhook:
        """Logitrail counts its retries in the envelope: `retry_count` = attempt - 1."""
        if attempt == 1:
            return event
        envelope = orjson.loads(event.body)
        return replace(event, body=orjson.dumps({**envelope, "retry_count": attempt - 1}))
