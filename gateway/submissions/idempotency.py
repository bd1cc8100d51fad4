"""`IdempotentSubmit`: the Idempotency-Key flow every submit shares — orders and returns
(IETF draft-ietf-httpapi-idempotency-key-header, Stripe semantics).

The key is scoped to (client, key) and claimed with the fingerprint of the parsed body. A
finished key answers its stored response again (`Idempotent-Replayed: true`); another body under
it is 422; a key still running is 409 with `Retry-After`; a key whose request died after storing
its resource answers from that resource. A new key runs the submit: its natural-key conflict
(`<noun>-exists`) is stored as the key's answer. Any other failure (an error, a cancellation)
hands the key back: freed if nothing was stored, else unlocked so that the retry answers from
what was stored (the store knows which: the resource is linked to its key in one commit).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import BaseModel

from gateway.clock import Clock
from gateway.config import Settings
from gateway.errors import ProblemError
from gateway.model.clients import Client
from gateway.observability.metrics import Metrics
from gateway.store import BeginOutcome, Store
from gateway.submissions.fingerprint import fingerprint
from gateway.submissions.problems import rejected
from gateway.submissions.resources import Resource


@dataclass(frozen=True, slots=True)
class Answer:
    """What the facade sends back: status, JSON body bytes, extra headers."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


_OUTCOME_LABEL = {
    BeginOutcome.REPLAY: "replayed",
    BeginOutcome.MISMATCH: "conflict",
    BeginOutcome.IN_FLIGHT: "in_progress",
    BeginOutcome.RESUME: "resumed",
}


class IdempotentSubmit:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        clock: Clock,
        metrics: Metrics | None = None,
    ) -> None:
        """`metrics`: where the key's outcomes are counted (None: not counted)."""
        self._settings = settings
        self._store = store
        self._clock = clock
        self._metrics = metrics

    async def run(
        self,
        client: Client,
        key: str,
        body: BaseModel,
        resource: Resource,
        *,
        resume: Callable[[str], Awaitable[Answer]],
        submit: Callable[[], Awaitable[Answer]],
    ) -> Answer:
        """`submit()` creates the resource and answers for it; `resume(id)` answers for a
        resource that a request which died or failed after storing it left behind."""
        idem = self._settings.idempotency
        begin = await self._store.begin_idempotent(
            client.id,
            key,
            fingerprint(body),
            now=self._clock.time(),
            lock_s=self._settings.submission.lease_s,
            ttl_s=idem.ttl_s,
        )
        if begin.outcome is not BeginOutcome.NEW:
            self._count(_OUTCOME_LABEL[begin.outcome])
        if begin.outcome is BeginOutcome.REPLAY:
            assert begin.status is not None
            assert begin.body is not None
            return Answer(
                begin.status,
                begin.body,
                {"Idempotent-Replayed": "true", **resource.location(begin.order_id)},
            )
        if begin.outcome is BeginOutcome.MISMATCH:
            raise ProblemError(
                422,
                "idempotency-key-reused",
                "Idempotency-Key was used with another body",
                detail="this Idempotency-Key was first used with a different request body; "
                f"use a new key for a different {resource.noun}",
            )
        if begin.outcome is BeginOutcome.IN_FLIGHT:
            raise ProblemError(
                409,
                "request-in-progress",
                "A request with this Idempotency-Key is running",
                detail="the first request with this key has not finished; retry later",
                headers={"Retry-After": str(idem.in_flight_retry_after_s)},
            )
        try:
            if begin.outcome is BeginOutcome.RESUME:
                # The request that stored it did not answer: answer from what it stored.
                assert begin.order_id is not None
                return await resume(begin.order_id)
            return await submit()
        except ProblemError as problem:
            if problem.code != f"{resource.noun}-exists":
                await self._store.abandon_idempotent(client.id, key)
                raise
            self._count(f"{resource.noun}_exists")
            raw = orjson.dumps(problem.body(instance=resource.path))
            await self._store.finish_idempotent(client.id, key, status=problem.status, body=raw)
            raise
        except BaseException:
            await self._store.abandon_idempotent(client.id, key)
            raise

    async def answer(
        self, client: Client, key: str, resource: Resource, status: int, view: dict[str, Any]
    ) -> Answer:
        """Store the answer for `view` under the key (a 422 as the `provider-rejected`
        problem), so that a replay answers the same status and body."""
        raw = orjson.dumps(rejected(view, resource) if status == 422 else view)
        await self._store.finish_idempotent(client.id, key, status=status, body=raw)
        return Answer(status, raw, resource.location(view["id"]))

    def _count(self, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.idempotent(outcome)
