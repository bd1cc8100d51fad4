"""`Operations`: what the operations endpoints (`/readyz`, `/v1/providers`, `/metrics`) read
of the store — whether it answers, and each provider's queue of submissions under way (orders,
and the parts of split orders).

Both raise what the store raises when it cannot answer; the endpoints decide what an
unreachable store means for their answer.
"""

from __future__ import annotations

from gateway.store import Health, QueueStats


class Operations:
    def __init__(self, store: Health) -> None:
        self._store = store

    async def ping(self) -> None:
        await self._store.ping()

    async def queues(self, *, now: float) -> dict[str, QueueStats]:
        """Per provider: orders and parts of split orders whose submission is open, and the age
        of the oldest."""
        return await self._store.queue_stats(now=now)
