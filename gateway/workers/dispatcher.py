"""`EventDispatcher`: the outbox's events to each `[[subscribers]]` endpoint, as Standard
Webhooks — at least once, in order per order, retried with backoff, dead-lettered.

A round, per subscriber:
1. `fan_out`: the tenant's events written since the subscriber's cursor that match its
   `events` patterns become pending deliveries (the cursor moves in the same transaction);
2. `claim_deliveries`: the oldest pending delivery of each order that is due, leased so that
   no other replica sends it meanwhile; later events of that order wait for it;
3. each is POSTed with `webhook-id` (the event id: receivers dedupe on it), `webhook-timestamp`
   and `webhook-signature: v1,<base64 HMAC-SHA256>` made by the `standardwebhooks` package.
   2xx → delivered; anything else (a redirect too: never followed) → retried after
   full-jitter backoff, and after `max_attempts` the delivery is `dead`: visible in
   `GET /v1/deliveries`, retried only on request, and the order's later events go on.
Rounds repeat while deliveries are due, so an order's events follow each other without
waiting a whole interval apiece.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from datetime import UTC, datetime

import aiohttp
import orjson
import structlog
from standardwebhooks.webhooks import Webhook

from gateway.clock import Clock
from gateway.config import EventSettings, SubscriberSettings, resolve_url
from gateway.model.secrets import Secrets
from gateway.observability.metrics import Metrics
from gateway.store import DeliveryRow, Dispatch
from gateway.transport.backoff import backoff_delay

log = structlog.get_logger(__name__)

FAN_OUT_BATCH = 1000
MAX_ROUNDS = 50
"""Rounds one `dispatch` call runs at most before it yields to the next interval."""
USER_AGENT = "order-routing-gateway/0.1 (Standard Webhooks)"


class Subscriber:
    """One configured endpoint with its signer."""

    def __init__(self, settings: SubscriberSettings, secrets: Secrets, self_url: str) -> None:
        self.settings = settings
        self.id = settings.id
        self.url = resolve_url(settings.url, self_url)
        self.signer = Webhook(secrets.reveal(settings.secret_env))

    def sign(self, event_id: str, at: datetime, body: str) -> dict[str, str]:
        return {
            "webhook-id": event_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": self.signer.sign(event_id, at, body),
            "content-type": "application/json",
            "user-agent": USER_AGENT,
        }


class EventDispatcher:
    def __init__(
        self,
        store: Dispatch,
        subscribers: Sequence[SubscriberSettings],
        settings: EventSettings,
        secrets: Secrets,
        *,
        self_url: str,
        metrics: Metrics | None = None,
        clock: Clock,
        rng: random.Random | None = None,
    ) -> None:
        self._store = store
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 (jitter)
        self.subscribers = [Subscriber(s, secrets, self_url) for s in subscribers]
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def dispatch(self) -> int:
        """Deliver what is due to every subscriber; how many deliveries were attempted."""
        if not self.subscribers:
            return 0
        counts = await asyncio.gather(*(self._subscriber(s) for s in self.subscribers))
        return sum(counts)

    async def _subscriber(self, sub: Subscriber) -> int:
        s = sub.settings
        await self._store.fan_out(
            sub.id, s.client, s.events, now=self._clock.time(), limit=FAN_OUT_BATCH
        )
        attempted = 0
        for _ in range(MAX_ROUNDS):
            now = self._clock.time()
            due = await self._store.claim_deliveries(
                sub.id,
                now=now,
                lease_until=now + self._settings.lease_s,
                limit=self._settings.batch,
            )
            if not due:
                break
            results = await asyncio.gather(*(self._send(sub, d) for d in due))
            attempted += len(due)
            if not any(results):
                break  # the endpoint is failing: leave the rest to their backoff
        return attempted

    async def _send(self, sub: Subscriber, delivery: DeliveryRow) -> bool:
        event = delivery.event
        body = orjson.dumps(event.payload()).decode()
        headers = sub.sign(event.id, datetime.fromtimestamp(self._clock.time(), UTC), body)
        status, error = 0, None
        try:
            session = self._session_for()
            timeout = aiohttp.ClientTimeout(total=sub.settings.timeout_s)
            async with session.post(
                sub.url, data=body, headers=headers, timeout=timeout, allow_redirects=False
            ) as resp:
                status = resp.status
                if not 200 <= status < 300:
                    error = f"HTTP {status}"
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
        ok = error is None
        attempt = delivery.attempts + 1
        retry_at = None
        if not ok and attempt < sub.settings.max_attempts:
            retry_at = self._clock.time() + backoff_delay(
                attempt,
                base=sub.settings.backoff_base_s,
                cap=sub.settings.backoff_max_s,
                rng=self._rng,
            )
        await self._store.finish_delivery(
            sub.id,
            event.seq,
            now=self._clock.time(),
            ok=ok,
            status=status,
            error=error,
            retry_at=retry_at,
        )
        fields = {"subscriber": sub.id, "event_id": event.id, "type": event.type}
        if self._metrics is not None:
            outcome = "delivered" if ok else "dead" if retry_at is None else "retry"
            self._metrics.webhook_out(sub.id, outcome)
        if ok:
            log.info("subscriber.delivered", attempt=attempt, **fields)
        elif retry_at is None:
            log.warning("subscriber.dead_letter", attempts=attempt, error=error, **fields)
        else:
            log.info("subscriber.retry", attempt=attempt, error=error, **fields)
        return ok

    def _session_for(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session
