"""Who did it, on every backend (see `store_url`): each history entry and event names its
`source` and `actor`; a client's cancel keeps its credit whichever report arrives first; a
change of an order's fields and a return's decision leave an entry and an event."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import asyncpg
import pytest

from gateway.model.history import CANCEL_CLAIM_S
from gateway.model.lifecycle import Outcome
from gateway.model.orders import Phase, Status
from gateway.model.returns import Decision, ReturnStatus
from gateway.store import NewReturn, ReturnStep, Store, Transition, open_store
from gateway.store.postgres import POSTGRES
from gateway.store.sqlite import SQLITE
from tests.services import PostgresDatabase
from tests.unit.test_returns_store import ORDER_BODY, RETURN_BODY
from tests.unit.test_store import NOW, new


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    s = await open_store(store_url)
    yield s
    await s.close()


async def at_provider(store: Store, order_id: str = "ord_1") -> None:
    """An order of client `c` submitted to provider `p` (api, then submitter)."""
    await store.insert_order(
        replace(new(order_id, f"E-{order_id}"), body=ORDER_BODY),  # returns are counted on it
        now=NOW,
        idempotency=None,
        lease_owner="host:1:a/b",
        lease_until=NOW + 30,
    )
    await store.advance(
        order_id,
        owner="host:1:a/b",
        step=Transition(phase=Phase.DONE, status=Status.SUBMITTED, provider_order_id="X1"),
    )


async def test_every_entry_and_event_names_its_source_and_actor(store: Store) -> None:
    await at_provider(store)
    await store.apply_status("ord_1", Status.IN_PROGRESS, source="webhook", actor="p", now=NOW)
    await store.apply_status("ord_1", Status.SHIPPED, source="poll", actor="p", now=NOW + 1)
    await store.apply_status("ord_1", Status.IN_PROGRESS, source="webhook", actor="p", now=NOW)
    await store.apply_status("ord_1", Status.DELIVERED, source="api", actor="c", now=NOW + 2)

    history = await store.history("ord_1")
    assert [(h.status, h.source, h.actor, h.outcome) for h in history] == [
        (Status.ACCEPTED, "api", "c", Outcome.APPLIED),
        (Status.SUBMITTED, "submitter", "submitter", Outcome.APPLIED),
        (Status.IN_PROGRESS, "webhook", "p", Outcome.APPLIED),
        (Status.SHIPPED, "poll", "p", Outcome.APPLIED),
        (Status.IN_PROGRESS, "webhook", "p", Outcome.IGNORED),
        (Status.DELIVERED, "api", "c", Outcome.APPLIED),
    ]
    events = await store.events_after("c", after=0, limit=10)
    assert [(e.data["status"], e.data["source"], e.data["actor"]) for e in events] == [
        ("accepted", "api", "c"),
        ("submitted", "submitter", "submitter"),
        ("in_progress", "webhook", "p"),
        ("shipped", "poll", "p"),
        ("delivered", "api", "c"),
    ]


def test_a_step_that_is_not_the_submitters_must_name_its_actor() -> None:
    with pytest.raises(ValueError, match="needs its actor"):
        Transition(phase=Phase.DONE, source="api")
    with pytest.raises(ValueError, match="needs its actor"):
        ReturnStep(status=ReturnStatus.CANCELLED, source="poll")


# a client's or an operator's cancel --------------------------------------------------------
REQUESTERS = [("api", "c", "the client"), ("console", "ops-anna", "an operator")]


@pytest.mark.parametrize("first", ["webhook", "poll"])
@pytest.mark.parametrize(("source", "actor", "who"), REQUESTERS)
async def test_a_cancellation_reported_first_by_the_provider_is_the_requesters(
    store: Store, first: str, source: str, actor: str, who: str
) -> None:
    await at_provider(store)
    await store.request_cancel("ord_1", by=(source, actor), now=NOW + 1)
    # The provider's news of the cancellation is applied before its answer to the call.
    news = await store.apply_status(
        "ord_1", Status.CANCELLED, source=first, actor="p", detail="cancelled", now=NOW + 2
    )
    answer = await store.apply_status(
        "ord_1", Status.CANCELLED, source=source, actor=actor, detail="asked", now=NOW + 3
    )

    assert (news, answer) == (Outcome.APPLIED, Outcome.UNCHANGED)
    last = (await store.history("ord_1"))[-1]
    assert (last.status, last.source, last.actor, last.outcome) == (
        Status.CANCELLED,
        source,
        actor,
        Outcome.APPLIED,
    )
    assert last.detail == f"cancelled by {who} (reported first by {first} p: cancelled)"
    assert [h.status for h in await store.history("ord_1")].count(Status.CANCELLED) == 1
    cancelled = (await store.events_after("c", after=0, limit=10))[-1]
    assert (cancelled.type, cancelled.data["source"], cancelled.data["actor"]) == (
        "order.cancelled",
        source,
        actor,
    )


async def test_the_providers_news_after_the_clients_cancel_adds_nothing(store: Store) -> None:
    await at_provider(store)
    await store.request_cancel("ord_1", by=("api", "c"), now=NOW + 1)
    await store.apply_status("ord_1", Status.CANCELLED, source="api", actor="c", now=NOW + 2)
    late = await store.apply_status(
        "ord_1", Status.CANCELLED, source="webhook", actor="p", now=NOW + 3
    )

    assert late is Outcome.UNCHANGED
    cancelled = [h for h in await store.history("ord_1") if h.status is Status.CANCELLED]
    assert [(h.source, h.actor) for h in cancelled] == [("api", "c")]
    assert [e.type for e in await store.events_after("c", after=0, limit=10)].count(
        "order.cancelled"
    ) == 1


@pytest.mark.parametrize("how", ["withdrawn", "stale", "never"])
async def test_a_cancellation_nobody_recently_asked_for_is_the_providers(
    store: Store, how: str
) -> None:
    await at_provider(store)
    if how != "never":
        await store.request_cancel("ord_1", by=("api", "c"), now=NOW)
    if how == "withdrawn":  # the provider refused the client's cancel
        await store.request_cancel("ord_1", by=None, now=NOW + 1)
    later = NOW + (CANCEL_CLAIM_S + 1 if how == "stale" else 2)
    await store.apply_status(
        "ord_1", Status.CANCELLED, source="webhook", actor="p", detail="gone", now=later
    )

    last = (await store.history("ord_1"))[-1]
    assert (last.status, last.source, last.actor, last.detail) == (
        Status.CANCELLED,
        "webhook",
        "p",
        "gone",
    )


@pytest.mark.parametrize(("source", "actor", "who"), REQUESTERS)
async def test_cancel_queued_is_the_requesters(
    store: Store, source: str, actor: str, who: str
) -> None:
    await store.insert_order(
        new("ord_q", "E-q"), now=NOW, idempotency=None, lease_owner=None, lease_until=None
    )
    await store.cancel_queued("ord_q", by=(source, actor), now=NOW + 1)
    last = (await store.history("ord_q"))[-1]
    assert (last.status, last.source, last.actor) == (Status.CANCELLED, source, actor)
    cancelled = (await store.events_after("c", after=0, limit=10))[-1]
    assert (cancelled.data["source"], cancelled.data["actor"]) == (source, actor)


# a change of the order's fields -------------------------------------------------------------
@pytest.mark.parametrize("queued", [True, False])
async def test_a_change_leaves_an_entry_and_an_order_updated_event(
    store: Store, queued: bool
) -> None:
    if queued:
        await store.insert_order(
            new("ord_1", "E-1"), now=NOW, idempotency=None, lease_owner=None, lease_until=None
        )
    else:
        await at_provider(store)
    body = '{"address": {"line1": "Aleksanterinkatu 5"}}'

    row = await store.replace_body(
        "ord_1", body, queued_only=queued, actor="c", changed=["address", "lines"], now=NOW + 5
    )

    assert row is not None
    assert row.body == body
    status = Status.ACCEPTED if queued else Status.SUBMITTED
    last = (await store.history("ord_1"))[-1]
    assert (last.status, last.source, last.actor, last.outcome, last.detail) == (
        status,
        "api",
        "c",
        Outcome.UNCHANGED,
        "changed by the client: address, lines",
    )
    event = (await store.events_after("c", after=0, limit=10))[-1]
    assert event.type == "order.updated"
    assert event.data["changed"] == ["address", "lines"]
    assert (event.data["status"], event.data["previous_status"]) == (status, status)
    assert (event.data["source"], event.data["actor"]) == ("api", "c")
    assert "Aleksanterinkatu" not in str(event.data) + str(last)  # names, never values
    # An unchanged entry is no step on the main line: the order still moves on.
    assert (
        await store.apply_status("ord_1", Status.IN_PROGRESS, source="poll", actor="p", now=NOW)
        is Outcome.APPLIED
    )


async def test_a_change_refused_while_leased_records_nothing(store: Store) -> None:
    await store.insert_order(
        new("ord_1", "E-1"), now=NOW, idempotency=None, lease_owner="w", lease_until=NOW + 60
    )
    assert (
        await store.replace_body(
            "ord_1", "{}", queued_only=True, actor="c", changed=["lines"], now=NOW + 1
        )
        is None
    )
    assert len(await store.history("ord_1")) == 1
    assert [e.type for e in await store.events_after("c", after=0, limit=10)] == ["order.accepted"]


# a return's decision ------------------------------------------------------------------------
async def registered_return(store: Store, status: ReturnStatus) -> None:
    await at_provider(store)
    await store.insert_return(
        NewReturn("ret_1", "c", "ord_1", None, "p", "X1", "customer_return", RETURN_BODY),
        now=NOW,
        idempotency=None,
        lease_owner="host:1:a/r",
        lease_until=NOW + 30,
    )
    await store.advance_return(
        "ret_1",
        owner="host:1:a/r",
        step=ReturnStep(phase=None, status=status, provider_return_id="R1", release=True),
    )


@pytest.mark.parametrize("moves", [True, False])
async def test_a_decision_leaves_an_entry_and_one_return_decided_event(
    store: Store, moves: bool
) -> None:
    await registered_return(store, ReturnStatus.AWAITING_DECISION)
    after = ReturnStatus.IN_PROGRESS if moves else ReturnStatus.AWAITING_DECISION
    seen = len(await store.events_after("c", after=0, limit=100))

    row = await store.update_return(
        "ret_1",
        ReturnStep(
            status=after,
            decision=Decision.TO_SHELF,
            source="api",
            actor="c",
            detail="decision to_shelf; p: ACCEPTED",
            event="return.decided",
        ),
    )

    assert (row.status, row.decision) == (after, Decision.TO_SHELF)
    history = await store.return_history("ret_1")
    assert [(h.status, h.source, h.actor) for h in history] == [
        (ReturnStatus.ACCEPTED, "api", "c"),
        (ReturnStatus.AWAITING_DECISION, "submitter", "submitter"),
        (after, "api", "c"),
    ]
    assert history[-1].detail == "decision to_shelf; p: ACCEPTED"
    [event] = (await store.events_after("c", after=0, limit=100))[seen:]
    assert event.type == "return.decided"
    assert (event.data["decision"], event.data["status"], event.data["previous_status"]) == (
        "to_shelf",
        after,
        "awaiting_decision",
    )
    assert (event.data["source"], event.data["actor"]) == ("api", "c")


# migration 008: entries written before it get the actor their source implies ----------------
_OLD_ROWS = [
    "INSERT INTO orders (id, client_id, external_id, provider, warehouse, route_rule,"
    " route_candidate, status, phase, body, next_attempt_at, created_at, updated_at) VALUES"
    " ('ord_A', 'shop', 'E-1', 'logitrail', 'w', 'r', 0, 'shipped', 'done', '{}', 0,"
    " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    "INSERT INTO returns (id, client_id, order_id, provider, provider_order_id, type, status,"
    " phase, body, next_attempt_at, created_at, updated_at) VALUES ('ret_A', 'shop', 'ord_A',"
    " 'logitrail', 'X', 'customer_return', 'registered', 'done', '{}', 0, CURRENT_TIMESTAMP,"
    " CURRENT_TIMESTAMP)",
    *(
        "INSERT INTO order_history (order_id, seq, status, source, at) VALUES"
        f" ('ord_A', {seq}, '{status}', '{source}', CURRENT_TIMESTAMP)"
        for seq, status, source in (
            (1, "accepted", "api"),
            (2, "submitted", "submitter"),
            (3, "in_progress", "webhook"),
            (4, "shipped", "poll"),
        )
    ),
    *(
        "INSERT INTO return_history (return_id, seq, status, source, at) VALUES"
        f" ('ret_A', {seq}, '{status}', '{source}', CURRENT_TIMESTAMP)"
        for seq, status, source in ((1, "accepted", "api"), (2, "registered", "poll"))
    ),
]


async def backfilled(url: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    store = await open_store(url)  # applies 008
    try:
        orders = [(h.status.value, h.actor) for h in await store.history("ord_A")]
        returns = [(h.status.value, h.actor) for h in await store.return_history("ret_A")]
    finally:
        await store.close()
    return orders, returns


_BACKFILLED = (
    [
        ("accepted", "shop"),
        ("submitted", "submitter"),
        ("in_progress", "logitrail"),
        ("shipped", "logitrail"),
    ],
    [("accepted", "shop"), ("registered", "logitrail")],
)


async def test_sqlite_migration_gives_old_entries_their_actor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path}/g.db"
    every = SQLITE.migrations()
    monkeypatch.setattr(SQLITE, "migrations", lambda: [m for m in every if m[0] < 8])
    await (await open_store(url)).close()
    with sqlite3.connect(tmp_path / "g.db") as db:
        for statement in _OLD_ROWS:
            db.execute(statement)
    monkeypatch.setattr(SQLITE, "migrations", lambda: every)

    assert await backfilled(url) == _BACKFILLED


async def test_postgres_migration_gives_old_entries_their_actor(
    postgres_db: PostgresDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = await postgres_db.new_schema_url()
    every = POSTGRES.migrations()
    monkeypatch.setattr(POSTGRES, "migrations", lambda: [m for m in every if m[0] < 8])
    await (await open_store(url)).close()
    conn = await asyncpg.connect(url)
    try:
        for statement in _OLD_ROWS:
            await conn.execute(statement)
    finally:
        await conn.close()
    monkeypatch.setattr(POSTGRES, "migrations", lambda: every)

    assert await backfilled(url) == _BACKFILLED
