"""Webhooks the Logentic sandbox sends: signed as seed 001 shows, at least once, retried.

Each event is one JSON body, `{"id": <uuid4 event id>, "topic", "created_at", "data": order}`,
serialised once: retries and `redeliver` send the very same bytes and headers. Headers:
`Content-Type: application/json`, `Signature: hex(HMAC-SHA256(secret, body))` (omitted
without a secret), `Logentic-Api-Version: V1`, `Logentic-Topic`, and Guzzle's `User-Agent`.

Events of one order go out in the order they happened (each waits for the previous one's
last attempt); a non-2xx answer or a connection error is retried after each of
`retry_delays_s`. Every attempt is recorded in `deliveries`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import structlog

from .state import iso

log = structlog.get_logger(__name__)

RETRY_DELAYS_S = (0.2, 0.4, 0.8)
USER_AGENT = "GuzzleHttp/6.5.5 curl/7.79.1 PHP/7.4.24"
API_VERSION = "V1"
_TIMEOUT = aiohttp.ClientTimeout(total=10.0)


@dataclass(frozen=True)
class WebhookDelivery:
    """One POST the sandbox made: `status` 0 is a connection error; `attempt` counts from 1."""

    event_id: str
    topic: str
    body: bytes
    headers: dict[str, str]
    status: int
    at: float
    attempt: int = 1


def sign(secret: str, body: bytes) -> str:
    """Lowercase hex HMAC-SHA256 of the exact body bytes."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class _Event:
    url: str
    event_id: str
    topic: str
    body: bytes
    headers: dict[str, str]


class WebhookSender:
    def __init__(self, *, secret: str | None, url: str | None, clock: Callable[[], float]) -> None:
        self.secret = secret
        self.url = url
        self.retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S
        self.deliveries: list[WebhookDelivery] = []
        self._clock = clock
        self._events: dict[str, _Event] = {}
        self._pending: set[asyncio.Task[None]] = set()
        self._last_of_order: dict[int, asyncio.Task[None]] = {}
        self._session: aiohttp.ClientSession | None = None

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
        event = _Event(self.url, event_id, topic, body, self.headers(topic, body))
        self._events[event_id] = event
        previous = self._last_of_order.get(order_id)
        task = asyncio.create_task(self._deliver_after(previous, event))
        self._pending.add(task)
        self._last_of_order[order_id] = task
        task.add_done_callback(lambda t: self._forget(order_id, t))
        return event_id

    def _forget(self, order_id: int, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        if self._last_of_order.get(order_id) is task:
            del self._last_of_order[order_id]

    async def _deliver_after(self, previous: asyncio.Task[None] | None, event: _Event) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        delays = self.retry_delays_s
        for attempt in range(1, len(delays) + 2):
            status = await self._post(event, attempt)
            if 200 <= status < 300:
                return
            if attempt > len(delays):
                break
            await asyncio.sleep(delays[attempt - 1])
        log.warning(
            "sandbox.logentic.webhook.gave_up",
            event_id=event.event_id,
            topic=event.topic,
            attempts=len(delays) + 1,
        )

    async def redeliver(self, event_id: str) -> int:
        """Send an earlier event again, byte for byte, once (`KeyError` if never sent)."""
        event = self._events[event_id]
        return await self._post(event, 1)

    async def send(self, topic: str, payload: dict[str, Any], *, signature: str | None) -> int:
        """POST `payload` once to the current URL, signed (or with the `signature` given)."""
        if self.url is None:
            raise ValueError("webhook_url is not set")
        body = orjson.dumps(payload)
        found = payload.get("id")
        event_id = str(found) if isinstance(found, str | int) else ""
        event = _Event(self.url, event_id, topic, body, self.headers(topic, body, signature))
        if event_id:
            self._events.setdefault(event_id, event)
        return await self._post(event, 1)

    async def _post(self, event: _Event, attempt: int) -> int:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=_TIMEOUT)
        try:
            async with self._session.post(event.url, data=event.body, headers=event.headers) as r:
                status = r.status
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            status = 0
            log.info("sandbox.logentic.webhook.unreachable", url=event.url, error=repr(exc))
        self.deliveries.append(
            WebhookDelivery(
                event_id=event.event_id,
                topic=event.topic,
                body=event.body,
                headers=dict(event.headers),
                status=status,
                at=self._clock(),
                attempt=attempt,
            )
        )
        ok = 200 <= status < 300
        log.info(
            "sandbox.logentic.webhook.sent" if ok else "sandbox.logentic.webhook.failed",
            event_id=event.event_id,
            topic=event.topic,
            status=status,
            attempt=attempt,
        )
        return status

    async def drain(self) -> None:
        """Wait until every queued event was delivered or given up on."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def close(self) -> None:
        """Drop the events still queued and close the HTTP session."""
        for task in list(self._pending):
            task.cancel()
        await asyncio.gather(*self._pending, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
