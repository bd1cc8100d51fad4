"""Webhooks the Flexport sandbox sends: ids only, token-authenticated, at least once.

Each event is one JSON body: the envelope `logisticsAccountId`, `logisticsEventId` (uuid4),
`logisticsEventType`, `logisticsEventTime`, plus `orderId` and `externalOrderId` (and the
shipment's `id` for Shipment.* events) — never the order itself (seed 004: "webhook payloads
carry identifiers, not full order state"). The subscription's authMethod is TOKEN: the token
goes in `token_header`. Serialised once: retries and `redeliver` send the same bytes.

Events of one order go out in the order they happened; a non-200 answer or a connection
error is retried after each of `retry_delays_s` (Flexport: ≈5 min, then exponential, 10
attempts; shortened here). Every attempt is recorded in `deliveries`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import structlog

from .state import ACCOUNT_ID, iso

log = structlog.get_logger(__name__)

RETRY_DELAYS_S = (0.2, 0.4, 0.8)
USER_AGENT = "Flexport-Webhooks/2026-02"
_TIMEOUT = aiohttp.ClientTimeout(total=5.0)  # "respond with HTTP 200 within 5 seconds"


@dataclass(frozen=True)
class WebhookDelivery:
    """One POST the sandbox made: `status` 0 is a connection error; `attempt` counts from 1."""

    event_id: str
    event_type: str
    body: bytes
    headers: dict[str, str]
    status: int
    at: float
    attempt: int = 1


@dataclass(frozen=True)
class _Event:
    url: str
    event_id: str
    event_type: str
    body: bytes
    headers: dict[str, str]


class WebhookSender:
    def __init__(
        self,
        *,
        token: str | None,
        token_header: str,
        url: str | None,
        clock: Callable[[], float],
    ) -> None:
        self.token = token
        self.token_header = token_header
        self.url = url
        self.retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S
        self.deliveries: list[WebhookDelivery] = []
        self._clock = clock
        self._events: dict[str, _Event] = {}
        self._pending: set[asyncio.Task[None]] = set()
        self._last_of_order: dict[str, asyncio.Task[None]] = {}
        self._session: aiohttp.ClientSession | None = None

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
        event = _Event(self.url, event_id, event_type, orjson.dumps(payload), self.headers())
        self._events[event_id] = event
        key = str(ids.get("orderId"))
        previous = self._last_of_order.get(key)
        task = asyncio.create_task(self._deliver_after(previous, event))
        self._pending.add(task)
        self._last_of_order[key] = task
        task.add_done_callback(lambda t: self._forget(key, t))
        return event_id

    def _forget(self, key: str, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        if self._last_of_order.get(key) is task:
            del self._last_of_order[key]

    async def _deliver_after(self, previous: asyncio.Task[None] | None, event: _Event) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        delays = self.retry_delays_s
        for attempt in range(1, len(delays) + 2):
            if await self._post(event, attempt) == 200:  # "Receiver must answer 200"
                return
            if attempt > len(delays):
                break
            await asyncio.sleep(delays[attempt - 1])
        log.warning(
            "sandbox.flexport.webhook.gave_up", event_id=event.event_id, attempts=len(delays) + 1
        )

    async def redeliver(self, event_id: str) -> int:
        """Send an earlier event again, byte for byte, once (`KeyError` if never sent)."""
        return await self._post(self._events[event_id], 1)

    async def send(self, payload: Any, *, token: str | None) -> int:
        """POST `payload` once to the current URL with `token` (None: the configured one)."""
        if self.url is None:
            raise ValueError("webhook_url is not set")
        found = payload.get("logisticsEventId") if isinstance(payload, dict) else None
        event_type = payload.get("logisticsEventType") if isinstance(payload, dict) else None
        event = _Event(
            self.url,
            str(found or ""),
            str(event_type or ""),
            orjson.dumps(payload),
            self.headers(token),
        )
        return await self._post(event, 1)

    async def _post(self, event: _Event, attempt: int) -> int:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=_TIMEOUT)
        try:
            async with self._session.post(event.url, data=event.body, headers=event.headers) as r:
                status = r.status
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            status = 0
            log.info("sandbox.flexport.webhook.unreachable", url=event.url, error=repr(exc))
        self.deliveries.append(
            WebhookDelivery(
                event.event_id,
                event.event_type,
                event.body,
                dict(event.headers),
                status,
                self._clock(),
                attempt,
            )
        )
        log.info(
            "sandbox.flexport.webhook.sent" if status == 200 else "sandbox.flexport.webhook.failed",
            event_id=event.event_id,
            event_type=event.event_type,
            status=status,
            attempt=attempt,
        )
        return status

    async def drain(self) -> None:
        """Wait until every queued event was delivered or given up on."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._pending):
            task.cancel()
        await asyncio.gather(*self._pending, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
