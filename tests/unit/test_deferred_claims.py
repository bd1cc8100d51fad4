"""A new idempotency key claimed by the transaction that stores its order
(`begin_idempotent(defer=True)`), on every backend: the claim takes the key with the order or
not at all, and a request that loses the key to another one stores nothing."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from pydantic import BaseModel

from gateway.errors import KeyTaken, OrderExists
from gateway.model.clients import Client
from gateway.store import BeginOutcome, KeyClaim, Store
from gateway.submissions.idempotency import (
    Answer,
    IdempotentSubmit,
    Settled,
    SubmitOutcome,
    Submitted,
)
from gateway.submissions.resources import ORDERS, Resource
from tests.conftest import make_settings
from tests.unit.test_store import new, second, store

__all__ = ["second", "store"]  # the store contract's own fixtures, on every backend

NOW = 1_800_000_000.0
LOCK = {"now": NOW, "lock_s": 30.0, "ttl_s": 600.0}


async def deferred(store: Store, fingerprint: str = "fp") -> KeyClaim:
    begin = await store.begin_idempotent("c", "k", fingerprint, defer=True, **LOCK)
    assert begin.outcome is BeginOutcome.NEW
    assert begin.claim is not None
    return begin.claim


async def insert(store: Store, order_id: str, external_id: str, claim: KeyClaim) -> None:
    await store.insert_order(
        new(order_id, external_id),
        now=NOW,
        idempotency=claim,
        lease_owner="L1",
        lease_until=NOW + 30,
    )


async def test_a_deferred_claim_takes_nothing_until_its_order_is_stored(
    store: Store, second: Store
) -> None:
    claim = await deferred(store)
    assert await deferred(second) == claim  # nobody holds the key yet
    await insert(store, "ord_1", "E-1", claim)
    seen = await second.begin_idempotent("c", "k", "fp", **LOCK)
    assert (seen.outcome, seen.order_id) == (BeginOutcome.IN_FLIGHT, "ord_1")


async def test_the_second_claim_of_a_key_loses_and_stores_no_order(
    store: Store, second: Store
) -> None:
    first, other = await deferred(store), await deferred(second)
    await insert(store, "ord_1", "E-1", first)
    with pytest.raises(KeyTaken):
        await insert(second, "ord_2", "E-2", other)
    assert await second.get_order("ord_2") is None


async def test_an_order_that_exists_rolls_its_claim_back(store: Store) -> None:
    await insert(store, "ord_1", "E-1", await deferred(store))
    await store.finish_idempotent("c", "k", status=201, body=b"{}")
    claim = KeyClaim("c", "k2", "fp", NOW + 30, NOW + 600)
    with pytest.raises(OrderExists):
        await insert(store, "ord_2", "E-1", claim)
    again = await store.begin_idempotent("c", "k2", "fp", defer=True, **LOCK)
    assert again.outcome is BeginOutcome.NEW  # the key was not taken


async def test_an_answer_under_a_claim_nothing_took_takes_the_key_done(
    store: Store, second: Store
) -> None:
    claim = await deferred(store)
    await store.finish_idempotent("c", "k", status=409, body=b"exists", claim=claim)
    replay = await second.begin_idempotent("c", "k", "fp", **LOCK)
    assert (replay.outcome, replay.status, replay.body) == (BeginOutcome.REPLAY, 409, b"exists")
    other = await store.begin_idempotent("c", "k", "fp2", defer=True, **LOCK)
    assert other.outcome is BeginOutcome.MISMATCH


async def test_a_key_running_in_another_process_is_read_under_its_lock(
    store: Store, second: Store
) -> None:
    """Its answer, not waited on to be durable, is seen at once: not `IN_FLIGHT`."""
    await insert(store, "ord_1", "E-1", await deferred(store))
    await store.finish_idempotent("c", "k", status=201, body=b"{}")
    replay = await second.begin_idempotent("c", "k", "fp", defer=True, **LOCK)
    assert (replay.outcome, replay.status) == (BeginOutcome.REPLAY, 201)


async def test_an_answer_under_a_claim_another_request_took_first_is_not_stored(
    store: Store, second: Store
) -> None:
    mine, theirs = await deferred(store), await deferred(second)
    await insert(second, "ord_1", "E-1", theirs)
    with pytest.raises(KeyTaken):
        await store.finish_idempotent("c", "k", status=409, body=b"exists", claim=mine)
    seen = await store.begin_idempotent("c", "k", "fp", defer=True, **LOCK)
    assert (seen.outcome, seen.order_id) == (BeginOutcome.IN_FLIGHT, "ord_1")


async def test_abandon_unlocks_the_key_its_claim_took_for_the_retry_to_resume(
    store: Store,
) -> None:
    claim = await deferred(store)
    await insert(store, "ord_1", "E-1", claim)
    await store.abandon_idempotent("c", "k", claim)
    retry = await store.begin_idempotent("c", "k", "fp", defer=True, **LOCK)
    assert (retry.outcome, retry.order_id) == (BeginOutcome.RESUME, "ord_1")


async def test_abandon_leaves_a_key_another_request_took_alone(store: Store, second: Store) -> None:
    mine = await deferred(store)
    theirs = KeyClaim("c", "k", "fp", NOW + 31, NOW + 600)  # taken a moment later
    await insert(second, "ord_1", "E-1", theirs)
    await store.abandon_idempotent("c", "k", mine)
    seen = await store.begin_idempotent("c", "k", "fp", defer=True, **LOCK)
    assert (seen.outcome, seen.order_id) == (BeginOutcome.IN_FLIGHT, "ord_1")


class Body(BaseModel):
    external_id: str = "E-1"


class Fixed:
    def time(self) -> float:
        return NOW


async def test_a_submit_that_loses_its_key_meanwhile_answers_as_the_key_says(
    store: Store, tmp_path: Path
) -> None:
    keyed = IdempotentSubmit(make_settings(tmp_path, "http://127.0.0.1:9"), store, clock=Fixed())
    client = Client("c", frozenset())

    def render(resource: Resource, settled: Settled) -> Answer:
        assert isinstance(settled, Submitted)
        return Answer(201, orjson.dumps(settled.view))

    async def resume(order_id: str) -> Submitted:  # pragma: no cover (no request died)
        raise AssertionError(order_id)

    async def stored(claim: KeyClaim | None, order_id: str, external_id: str) -> Submitted:
        assert claim is not None
        await insert(store, order_id, external_id, claim)
        return Submitted(SubmitOutcome.DONE, {"id": order_id})

    async def overtaken(claim: KeyClaim | None) -> Submitted:
        # While this request routes, another one with the same key stores its order first.
        other = await keyed.run(
            client,
            "k",
            Body(),
            ORDERS,
            resume=resume,
            submit=lambda c: stored(c, "ord_2", "E-2"),
            render=render,
            defer=True,
        )
        assert (other.replayed, other.resource_id) == (False, "ord_2")
        return await stored(claim, "ord_1", "E-1")

    mine = await keyed.run(
        client, "k", Body(), ORDERS, resume=resume, submit=overtaken, render=render, defer=True
    )
    assert (mine.replayed, mine.resource_id, mine.answer) == (
        True,
        "ord_2",
        Answer(201, b'{"id":"ord_2"}'),
    )
    assert await store.get_order("ord_1") is None
