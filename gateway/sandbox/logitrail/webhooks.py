"""Webhooks the Logitrail sandbox sends: the legacy envelope (logitrail.md §2), unsigned.

Every status change of an order announces `order.info.change`; moving to `processed` announces
`order.shipped` too, with a `shipment`. Envelope: `{event_id, event_type, webhook_id, ts,
retry_count, payload: {order: {id, merchants_order, status, tracking_code, tracking_url}}}`.
Logitrail signs nothing, so the URL carries the gateway's `?token=` (DESIGN §11).

Events of one order go out in the order they happened (each after the previous one's last
attempt); a failed delivery is retried after each of `retry_delays_s` with `retry_count` + 1
and the same `event_id`. Every attempt is recorded in `deliveries`.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import structlog

from .state import SandboxOrder, iso

log = structlog.get_logger(__name__)

RETRY_DELAYS_S = (0.2, 0.5, 1.0)
WEBHOOK_ID = "wh-sandbox"
_TIMEOUT = aiohttp.ClientTimeout(total=10.0)


@dataclass(frozen=True)
class WebhookDelivery:
    event_id: str
    event_type: str
    body: bytes
    status: int  # 0: no answer
    attempt: int


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


class WebhookSender:
    def __init__(self, *, url: str | None, clock: Callable[[], float]) -> None:
        self.url = url
        self.retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S
        self.deliveries: list[WebhookDelivery] = []
        self._clock = clock
        self._pending: set[asyncio.Task[None]] = set()
        self._last_of_order: dict[str, asyncio.Task[None]] = {}
        self._session: aiohttp.ClientSession | None = None

    def announce(self, order: SandboxOrder) -> None:
        """Queue the events of `order`'s new status (nothing without a URL or event loop)."""
        if self.url is None:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # changed from plain Python, outside any loop: nobody to tell
        for event_type, payload in envelopes(order):
            event = {
                "event_id": str(uuid.uuid4()),
                "event_type": event_type,
                "webhook_id": WEBHOOK_ID,
                "ts": iso(self._clock()),
                "retry_count": 0,
                "payload": payload,
            }
            previous = self._last_of_order.get(order.id)
            task = asyncio.create_task(self._deliver_after(previous, self.url, event))
            self._pending.add(task)
            self._last_of_order[order.id] = task
            task.add_done_callback(functools.partial(self._forget, order.id))

    def _forget(self, order_id: str, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        if self._last_of_order.get(order_id) is task:
            del self._last_of_order[order_id]

    async def _deliver_after(
        self, previous: asyncio.Task[None] | None, url: str, event: dict[str, Any]
    ) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        for attempt in range(1, len(self.retry_delays_s) + 2):
            body = orjson.dumps({**event, "retry_count": attempt - 1})
            status = await self._post(url, body)
            self.deliveries.append(
                WebhookDelivery(event["event_id"], event["event_type"], body, status, attempt)
            )
            if 200 <= status < 300:
                return
            if attempt > len(self.retry_delays_s):
                break
            await asyncio.sleep(self.retry_delays_s[attempt - 1])
        log.warning("sandbox.logitrail.webhook.gave_up", event_id=event["event_id"])

    async def _post(self, url: str, body: bytes) -> int:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=_TIMEOUT)
        try:
            headers = {"Content-Type": "application/json"}
            async with self._session.post(url, data=body, headers=headers) as resp:
                return resp.status
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.info("sandbox.logitrail.webhook.unreachable", error=repr(exc))
            return 0

    async def drain(self) -> None:
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._pending):
            task.cancel()
        await asyncio.gather(*self._pending, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
