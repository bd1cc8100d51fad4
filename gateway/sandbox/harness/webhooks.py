"""`WebhookPoster`: how a sandbox sends its webhooks back to the gateway.

Events of one key (an order) go out in the order they happened: each waits for the previous
one's last attempt. A refused answer or a connection error is retried after each of
`retry_delays_s`; every attempt is recorded in `deliveries`. An event is serialised once, so
retries and `redeliver` send the same bytes and headers (unless `attempt_of` says otherwise).
What the body and headers hold is the provider's: its sender subclasses this and builds
`OutboundWebhook`s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
import structlog

from gateway.sandbox.harness.autopilot import Autopilot

log = structlog.get_logger(__name__)

RETRY_DELAYS_S = (0.2, 0.4, 0.8)


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


@dataclass(frozen=True)
class OutboundWebhook:
    url: str
    event_id: str
    topic: str
    body: bytes
    headers: dict[str, str]


class WebhookPoster:
    url: str | None
    """Where the events go (None: nowhere); the provider's sender sets it."""

    def __init__(
        self,
        provider: str,
        *,
        clock: Callable[[], float],
        timeout_s: float,
        accepted: Callable[[int], bool] = lambda status: 200 <= status < 300,
    ) -> None:
        self.retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S
        self.deliveries: list[WebhookDelivery] = []
        self._provider = provider
        self._clock = clock
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._accepted = accepted
        self._events: dict[str, OutboundWebhook] = {}
        self._pending: set[asyncio.Task[None]] = set()
        self._last_of: dict[str, asyncio.Task[None]] = {}
        self._session: aiohttp.ClientSession | None = None

    def queue(self, key: str, event: OutboundWebhook) -> None:
        """Deliver `event` (retrying) after the earlier events of `key`."""
        self._events[event.event_id] = event
        previous = self._last_of.get(key)
        task = asyncio.create_task(self._deliver_after(previous, event))
        self._pending.add(task)
        self._last_of[key] = task
        task.add_done_callback(lambda t: self._forget(key, t))

    def remember(self, event: OutboundWebhook) -> None:
        """Keep a one-off event for `redeliver` (the first one of an id wins)."""
        if event.event_id:
            self._events.setdefault(event.event_id, event)

    def _forget(self, key: str, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        if self._last_of.get(key) is task:
            del self._last_of[key]

    async def _deliver_after(
        self, previous: asyncio.Task[None] | None, event: OutboundWebhook
    ) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        delays = self.retry_delays_s
        for attempt in range(1, len(delays) + 2):
            if self._accepted(await self.post(self.attempt_of(event, attempt), attempt)):
                return
            if attempt > len(delays):
                break
            await asyncio.sleep(delays[attempt - 1])
        log.warning(
            f"sandbox.{self._provider}.webhook.gave_up",
            event_id=event.event_id,
            topic=event.topic,
            attempts=len(delays) + 1,
        )

    def attempt_of(self, event: OutboundWebhook, attempt: int) -> OutboundWebhook:
        """What attempt `attempt` sends: the same bytes, unless a provider numbers its retries."""
        return event

    async def redeliver(self, event_id: str) -> int:
        """Send an earlier event again, byte for byte, once (`KeyError` if never sent)."""
        return await self.post(self._events[event_id], 1)

    async def post(self, event: OutboundWebhook, attempt: int) -> int:
        """One POST, recorded; the answer's status (0: no answer)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.post(event.url, data=event.body, headers=event.headers) as r:
                status = r.status
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            status = 0
            log.info(
                f"sandbox.{self._provider}.webhook.unreachable", url=event.url, error=repr(exc)
            )
        self.deliveries.append(
            WebhookDelivery(
                event.event_id,
                event.topic,
                event.body,
                dict(event.headers),
                status,
                self._clock(),
                attempt,
            )
        )
        outcome = "sent" if self._accepted(status) else "failed"
        log.info(
            f"sandbox.{self._provider}.webhook.{outcome}",
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


class WebhookControls:
    """What every sandbox offers a test (or the demo) over its outbound side: where webhooks go,
    the pauses before retries, redelivery, waiting for the queue, and closing it all. The
    sandbox sets `_sender` (its provider's `WebhookPoster`) and `_autopilot`."""

    _sender: WebhookPoster
    _autopilot: Autopilot

    @property
    def deliveries(self) -> list[WebhookDelivery]:
        """Every webhook POST made, retries included, in the order they were made."""
        return self._sender.deliveries

    @property
    def webhook_url(self) -> str | None:
        """Where webhooks go (None: none are sent); settable, e.g. once the gateway listens."""
        return self._sender.url

    @webhook_url.setter
    def webhook_url(self, url: str | None) -> None:
        self._sender.url = url

    @property
    def webhook_retry_delays_s(self) -> tuple[float, ...]:
        """Pauses before each retry of a failed delivery (default 0.2, 0.4, 0.8 s)."""
        return self._sender.retry_delays_s

    @webhook_retry_delays_s.setter
    def webhook_retry_delays_s(self, delays: tuple[float, ...]) -> None:
        self._sender.retry_delays_s = tuple(delays)

    async def redeliver(self, event_id: str) -> int:
        """Send an earlier event again byte for byte (same id and headers); its HTTP status.

        `KeyError` if no event with that id was ever sent.
        """
        return await self._sender.redeliver(event_id)

    async def drain_webhooks(self) -> None:
        """Wait until every queued webhook was delivered or given up on (after its retries)."""
        await self._sender.drain()

    async def close(self) -> None:
        """Stop the autopilot and the queued webhooks, close the HTTP session (also on the
        app's cleanup)."""
        await self._autopilot.close()
        await self._sender.close()
