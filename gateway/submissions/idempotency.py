"""`IdempotentSubmit`: the Idempotency-Key flow every submit shares — orders and returns
(IETF draft-ietf-httpapi-idempotency-key-header, Stripe semantics).

The key is scoped to (client, key) and claimed with the fingerprint of the parsed body. A
finished key answers its stored answer again (`replayed`); another body under it is
`IdempotencyKeyReused`; a key still running is `IdempotencyKeyRunning`; a key whose request
died after storing its resource answers from that resource. A new key runs the submit: its
natural-key conflict (`OrderExists`, `ReturnExists`) is stored as the key's answer. Any other
failure (an error, a cancellation) hands the key back: freed if nothing was stored, else
unlocked so that the retry answers from what was stored (the store knows which: the resource
is linked to its key in one commit).

Where the status is chosen: the submit itself ends in a domain result (`Submitted`: how far it
got, and the view) or the conflict; `api/` hands in `render`, which turns either into the
answer (status and body), and that answer is what the key keeps — the stored record is the
answer a replay must repeat byte for byte. The same `render` answers a key resumed from its
stored resource, so a key whose request died is answered as a fresh one would have been.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeAlias

from pydantic import BaseModel

from gateway.clock import Clock
from gateway.config import Settings
from gateway.errors import KeyTaken, OrderExists, ReturnExists
from gateway.errors.refusals import IdempotencyKeyReused, IdempotencyKeyRunning
from gateway.model.clients import Client
from gateway.observability.metrics import Metrics
from gateway.store import BeginOutcome, IdempotencyRecords, KeyClaim
from gateway.submissions.fingerprint import fingerprint
from gateway.submissions.resources import Resource


class SubmitOutcome(StrEnum):
    """How far a submit got while its caller waited."""

    DONE = "done"
    """The provider holds it."""
    QUEUED = "queued"
    """Stored; the submission goes on in the background."""
    REJECTED = "rejected"
    """The provider refused it for good."""


@dataclass(frozen=True, slots=True)
class Submitted:
    """A submit's result: how far it got, and the resource's view as stored then."""

    outcome: SubmitOutcome
    view: dict[str, Any]


Settled: TypeAlias = Submitted | OrderExists | ReturnExists
"""What a key's answer is rendered from: the submit's result, or the natural key's holder."""


@dataclass(frozen=True, slots=True)
class Answer:
    """A key's answer as `render` made it: what a replay sends again."""

    status: int
    body: bytes


Render: TypeAlias = Callable[[Resource, Settled], Answer]


@dataclass(frozen=True, slots=True)
class Keyed:
    """What a submit under a key answers: the key's answer, the resource it is about (None: no
    resource was created), and whether it is a replay."""

    answer: Answer
    resource: Resource
    resource_id: str | None
    replayed: bool = False


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
        store: IdempotencyRecords,
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
        resume: Callable[[str], Awaitable[Submitted]],
        submit: Callable[[KeyClaim | None], Awaitable[Submitted]],
        render: Render,
        defer: bool = False,
    ) -> Keyed:
        """`submit(claim)` creates the resource (taking `claim`, when there is one, in the
        transaction that stores it); `resume(id)` reads one that a request which died or
        failed after storing it left behind; `render` makes the answer the key keeps.
        `defer`: a new key is not claimed before `submit`, but by what `submit` stores — one
        transaction less before the provider call; a request that loses the key to another
        one meanwhile answers as the key then says."""
        idem = self._settings.idempotency
        begin = await self._store.begin_idempotent(
            client.id,
            key,
            fingerprint(body),
            now=self._clock.time(),
            lock_s=self._settings.submission.lease_s,
            ttl_s=idem.ttl_s,
            defer=defer,
        )
        if begin.outcome is not BeginOutcome.NEW:
            self._count(_OUTCOME_LABEL[begin.outcome])
        if begin.outcome is BeginOutcome.REPLAY:
            assert begin.status is not None
            assert begin.body is not None
            return Keyed(Answer(begin.status, begin.body), resource, begin.order_id, replayed=True)
        if begin.outcome is BeginOutcome.MISMATCH:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was first used with a different request body; "
                f"use a new key for a different {resource.noun}"
            )
        if begin.outcome is BeginOutcome.IN_FLIGHT:
            raise IdempotencyKeyRunning(
                "the first request with this key has not finished; retry later",
                retry_after_s=idem.in_flight_retry_after_s,
            )
        claim = begin.claim
        try:
            settled: Settled
            try:
                if begin.outcome is BeginOutcome.RESUME:
                    # The request that stored it did not answer: answer from what it stored.
                    assert begin.order_id is not None
                    settled = await resume(begin.order_id)
                else:
                    settled = await submit(claim)
            except (OrderExists, ReturnExists) as exc:
                self._count(f"{resource.noun}_exists")
                settled = exc
            answer = render(resource, settled)
            # A submit that stored its resource took the claim; one that ended before did not.
            untaken = None if isinstance(settled, Submitted) else claim
            await self._store.finish_idempotent(
                client.id, key, status=answer.status, body=answer.body, claim=untaken
            )
        except KeyTaken:
            # Another request with this key stored first, and nothing of ours was: answer as
            # the key says now (no claim deferred this time, so this happens once at most).
            return await self.run(
                client, key, body, resource, resume=resume, submit=submit, render=render
            )
        except BaseException:
            await self._store.abandon_idempotent(client.id, key, claim)
            raise
        created = settled.view["id"] if isinstance(settled, Submitted) else None
        return Keyed(answer, resource, created)

    def _count(self, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.idempotent(outcome)
