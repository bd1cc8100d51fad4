"""The store's returns half, run against every backend (SQLite and PostgreSQL; see
`store_url`): natural key, tenants, lists, leases, status history — and what several processes
on one database must never do (two leases on one return, one RMA stored twice)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from gateway.errors import LeaseLost, Overreach, ReturnExists
from gateway.model.orders import CanonicalOrder
from gateway.model.returns import Decision, ReturnPhase, ReturnStatus
from gateway.store import (
    BeginOutcome,
    NewOrder,
    NewReturn,
    ReturnFilter,
    ReturnStep,
    Store,
    open_store,
)
from tests.conftest import eventually, order

NOW = 1_800_000_000.0
ORDER_BODY = CanonicalOrder.model_validate(
    order("E-1", lines=[{"sku": "TSHIRT-M", "quantity": 100}])
).model_dump_json()
"""What the store settles returns against: 100 × TSHIRT-M."""
RETURN_BODY = (
    '{"order_id": "ord_01KB0000000000000000000000", "lines": [{"sku": "TSHIRT-M", "quantity": 1}]}'
)
"""One unit back (the gateway id in it is not the row's: the store goes by the row's)."""


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    s = await open_store(store_url)
    for client in ("c", "d"):
        await s.insert_order(
            NewOrder(f"ord_{client}", client, f"E-{client}", "p", "w", "r", 0, ORDER_BODY),
            now=NOW,
            idempotency=None,
            lease_owner=None,
            lease_until=None,
        )
    yield s
    await s.close()


@pytest.fixture
async def second(store: Store, store_url: str) -> AsyncIterator[Store]:
    """Another process's view of the same database (its own connection or pool)."""
    s = await open_store(store_url)
    yield s
    await s.close()


def new(
    return_id: str, client: str = "c", external_id: str | None = None, body: str = RETURN_BODY
) -> NewReturn:
    return NewReturn(
        id=return_id,
        client_id=client,
        order_id=f"ord_{client}",
        external_id=external_id,
        provider="p",
        provider_order_id="po-1",
        type="customer_return",
        body=body,
    )


async def insert(store: Store, ret: NewReturn, owner: str | None = None) -> None:
    await store.insert_return(
        ret,
        now=NOW,
        idempotency=None,
        lease_owner=owner,
        lease_until=None if owner is None else NOW + 30,
    )


async def test_insert_starts_accepted_and_pending_with_history(store: Store) -> None:
    await insert(store, new("ret_1"))
    row = await store.get_return("ret_1")
    assert row is not None
    assert (row.status, row.phase, row.provider_return_id) == (
        ReturnStatus.ACCEPTED,
        ReturnPhase.PENDING,
        None,
    )
    assert [(h.status, h.source) for h in await store.return_history("ret_1")] == [
        (ReturnStatus.ACCEPTED, "api")
    ]


async def test_external_id_is_unique_per_client_only_when_given(store: Store) -> None:
    await insert(store, new("ret_1", external_id="RMA"))
    await insert(store, new("ret_2"))
    await insert(store, new("ret_3"))  # no external id: any number of them
    await insert(store, new("ret_4", client="d", external_id="RMA"))
    with pytest.raises(ReturnExists) as exc:
        await insert(store, new("ret_5", external_id="RMA"))
    assert exc.value.return_id == "ret_1"


async def test_insert_links_the_idempotency_key_for_resume(store: Store) -> None:
    await store.begin_idempotent("c", "k", "fp", now=NOW, lock_s=1, ttl_s=60)
    await store.insert_return(
        new("ret_1"), now=NOW, idempotency=("c", "k"), lease_owner=None, lease_until=None
    )
    again = await store.begin_idempotent("c", "k", "fp", now=NOW + 2, lock_s=1, ttl_s=60)
    assert (again.outcome, again.order_id) == (BeginOutcome.RESUME, "ret_1")


async def test_a_tenant_sees_only_its_returns(store: Store) -> None:
    await insert(store, new("ret_1"))
    await insert(store, new("ret_2", client="d"))
    assert await store.get_return("ret_1", client_id="d") is None
    assert await store.get_return("ret_1", client_id="c") is not None
    listed = await store.list_returns("d", ReturnFilter())
    assert [r.id for r in listed] == ["ret_2"]


async def test_list_is_newest_first_with_filters_and_keyset(store: Store) -> None:
    for n in range(1, 5):
        await insert(store, new(f"ret_{n}"))
    await store.update_return("ret_2", ReturnStep(status=ReturnStatus.REGISTERED))

    everything = await store.list_returns("c", ReturnFilter(limit=10))
    after = await store.list_returns("c", ReturnFilter(before_id="ret_3", limit=10))
    registered = await store.list_returns("c", ReturnFilter(status=ReturnStatus.REGISTERED))
    other_order = await store.list_returns("c", ReturnFilter(order_id="ord_d"))

    assert [r.id for r in everything] == ["ret_4", "ret_3", "ret_2", "ret_1"]
    assert [r.id for r in after] == ["ret_2", "ret_1"]
    assert [r.id for r in registered] == ["ret_2"]
    assert other_order == []


async def test_advance_needs_the_lease(store: Store) -> None:
    await insert(store, new("ret_1"), owner="me")
    with pytest.raises(LeaseLost):
        await store.advance_return(
            "ret_1", owner="someone", step=ReturnStep(phase=ReturnPhase.CREATING)
        )
    row = await store.advance_return(
        "ret_1",
        owner="me",
        step=ReturnStep(
            phase=ReturnPhase.DONE,
            status=ReturnStatus.REGISTERED,
            provider_return_id="pr-1",
            provider_status="preinfo_received",
            release=True,
        ),
    )
    assert (row.phase, row.status, row.provider_return_id) == (
        ReturnPhase.DONE,
        ReturnStatus.REGISTERED,
        "pr-1",
    )


async def test_claim_due_leases_open_returns_once(store: Store) -> None:
    await insert(store, new("ret_1"))
    await insert(store, new("ret_2"), owner="busy")
    first = await store.claim_due_returns(owner="a", now=NOW + 1, lease_until=NOW + 60, limit=10)
    second = await store.claim_due_returns(owner="b", now=NOW + 1, lease_until=NOW + 60, limit=10)
    assert {r.id for r in first} == {"ret_1"}
    assert second == []


async def test_a_final_status_is_never_left(store: Store) -> None:
    await insert(store, new("ret_1"))
    await store.update_return(
        "ret_1", ReturnStep(status=ReturnStatus.CANCELLED, source="api", actor="c")
    )
    row = await store.update_return(
        "ret_1",
        ReturnStep(
            status=ReturnStatus.REGISTERED, decision=Decision.RESEND, source="poll", actor="p"
        ),
    )
    assert row.status is ReturnStatus.CANCELLED
    assert row.decision is Decision.RESEND
    assert [h.status for h in await store.return_history("ret_1")] == [
        ReturnStatus.ACCEPTED,
        ReturnStatus.CANCELLED,
    ]


async def test_open_returns_are_the_submitted_unfinished_ones(store: Store) -> None:
    await insert(store, new("ret_1"))
    await insert(store, new("ret_2"), owner="me")
    await insert(store, new("ret_3"), owner="me")
    for rid, status in (("ret_2", ReturnStatus.REGISTERED), ("ret_3", ReturnStatus.COMPLETED)):
        await store.advance_return(
            rid, owner="me", step=ReturnStep(phase=ReturnPhase.DONE, status=status)
        )
    found = await store.open_returns(limit=10, checked_before=NOW)
    assert [r.id for r in found] == ["ret_2"]
    await store.update_return("ret_2", ReturnStep(checked_at=NOW + 5, touch=False))
    assert await store.open_returns(limit=10, checked_before=NOW) == []
    assert [r.id for r in await store.open_returns(limit=10, checked_before=NOW + 5)] == ["ret_2"]


async def test_processes_polling_at_once_never_lease_one_return_twice(
    store: Store, second: Store
) -> None:
    for i in range(30):
        await insert(store, new(f"ret_{i:03}"))

    async def poll(s: Store, owner: str) -> list[str]:
        rows = await s.claim_due_returns(owner=owner, now=NOW, lease_until=NOW + 30, limit=4)
        return [r.id for r in rows]

    batches = await asyncio.gather(*(poll((store, second)[i % 2], f"w{i}") for i in range(10)))
    claimed = [return_id for batch in batches for return_id in batch]
    assert len(claimed) == len(set(claimed)) == 30
    for batch, i in zip(batches, range(10), strict=True):
        for return_id in batch:
            assert not await store.renew_return(return_id, owner=f"w{i + 1}", lease_until=NOW)
            assert await store.renew_return(return_id, owner=f"w{i}", lease_until=NOW + 60)


async def test_one_rma_raced_from_two_processes_is_stored_once(store: Store, second: Store) -> None:
    async def attempt(i: int) -> str:
        try:
            await (store, second)[i % 2].insert_return(
                new(f"ret_{i}", external_id="RMA-SAME"),
                now=NOW,
                idempotency=None,
                lease_owner=None,
                lease_until=None,
            )
        except ReturnExists as exc:
            return f"exists:{exc.return_id}"
        return f"new:ret_{i}"

    results = await asyncio.gather(*(attempt(i) for i in range(8)))
    winners = [r for r in results if r.startswith("new:")]
    assert len(winners) == 1
    assert set(results) - set(winners) == {"exists:" + winners[0].removeprefix("new:")}


async def test_release_gives_the_lease_up_for_the_next_start(store: Store) -> None:
    await insert(store, new("ret_1"), owner="me")
    assert await store.claim_due_returns(owner="b", now=NOW, lease_until=NOW + 9, limit=5) == []
    await store.release_return("ret_1", owner="me")
    claimed = await store.claim_due_returns(owner="b", now=NOW, lease_until=NOW + 9, limit=5)
    assert [r.id for r in claimed] == ["ret_1"]


ALL_OF_IT = RETURN_BODY.replace('"quantity": 1', '"quantity": 100')
"""The whole order back, as lines."""
REFUSED = "overreach, {'TSHIRT-M': 0} left"


async def attempt_all(s: Store, return_id: str) -> str:
    try:
        await insert(s, new(return_id, body=ALL_OF_IT))
    except Overreach as exc:
        return f"overreach, {exc.remaining} left"
    return "stored"


async def test_returns_racing_from_two_processes_take_the_units_once(
    store: Store, second: Store
) -> None:
    results = await asyncio.gather(
        *(attempt_all((store, second)[i % 2], f"ret_{i}") for i in range(6))
    )

    assert sorted(results) == [REFUSED] * 5 + ["stored"]
    assert len(await store.list_returns("c", ReturnFilter(order_id="ord_c"))) == 1


async def test_postgres_returns_of_one_order_queue_on_its_row(
    store: Store, second: Store, store_url: str
) -> None:
    """The check and the insert are one transaction holding the order's row: two returns
    that both arrive while the row is locked run one after the other, never side by side."""
    if not store_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer: every transaction runs alone")
    holder = await asyncpg.connect(store_url)  # a third session, on the same schema
    try:
        tx = holder.transaction()
        await tx.start()
        await holder.execute("SELECT 1 FROM orders WHERE id = 'ord_c' FOR UPDATE")
        racing = [
            asyncio.create_task(attempt_all(s, f"ret_{s is second}")) for s in (store, second)
        ]

        async def both_wait() -> bool:
            waiting = await holder.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            return bool(waiting == 2)

        await eventually(both_wait)
        await tx.rollback()
        results = await asyncio.gather(*racing)
    finally:
        await holder.close()

    assert sorted(results) == [REFUSED, "stored"]
