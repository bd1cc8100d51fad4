"""The store's parts of returns spanning parts of a split order, on every backend (SQLite
and PostgreSQL; see `store_url`): stored with their return under its lease, leased and
advanced each on its own, and the return's status derived from theirs in the same commit."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Sequence

import pytest

from gateway.errors import LeaseLost, Overreach
from gateway.model.orders import CanonicalOrder, Phase, Status
from gateway.model.returns import ReturnPhase, ReturnStatus
from gateway.store import (
    NewOrder,
    NewPart,
    NewReturn,
    NewReturnPart,
    PartStep,
    ReturnStep,
    Store,
    open_store,
)
from tests.conftest import order

NOW = 1_800_000_000.0
ORDER_BODY = CanonicalOrder.model_validate(
    order("E-1", lines=[{"sku": "TSHIRT-M", "quantity": 2}, {"sku": "MUG", "quantity": 1}])
).model_dump_json()
RETURN_BODY = (
    '{"order_id": "ord_c", "lines": [{"sku": "TSHIRT-M", "quantity": 1},'
    ' {"sku": "MUG", "quantity": 1}]}'
)
ONE_TSHIRT = '{"order_id": "ord_c", "lines": [{"sku": "TSHIRT-M", "quantity": 1}]}'
"""The order's totals allow this: one of its two T-shirts is left once `RETURN_BODY` is in."""
PARTS = [
    NewReturnPart(1, "flexport", "po-1", (("TSHIRT-M", 1),), "c#1/RMA"),
    NewReturnPart(2, "flexport", "po-2", (("MUG", 1),), "c#2/RMA"),
]


ORDER_PARTS = [
    NewPart(1, "flexport", "east", 0, ((0, "TSHIRT-M", 2),), "c/E-1"),
    NewPart(2, "flexport", "west", 1, ((1, "MUG", 1),), "c#2/E-1"),
]


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    """A split order whose two parts are at Flexport as `po-1` and `po-2`."""
    s = await open_store(store_url)
    await s.insert_order(
        NewOrder("ord_c", "c", "E-1", "flexport", "w", "r", 0, ORDER_BODY, phase=Phase.PARTS),
        now=NOW,
        idempotency=None,
        lease_owner="L0",
        lease_until=NOW + 30,
        parts=ORDER_PARTS,
    )
    for n in (1, 2):
        step = PartStep(phase=Phase.DONE, status=Status.SUBMITTED, provider_order_id=f"po-{n}")
        await s.advance_part(f"ord_c#{n}", owner="L0", step=step)
    yield s
    await s.close()


async def _insert(
    store: Store,
    return_id: str = "ret_1",
    parts: Sequence[NewReturnPart] = PARTS,
    body: str = RETURN_BODY,
) -> None:
    ret = NewReturn(return_id, "c", "ord_c", None, "flexport", "po-1", "customer_return", body)
    await store.insert_return(
        ret, now=NOW, idempotency=None, lease_owner="L1", lease_until=NOW + 30, parts=parts
    )


async def test_no_part_takes_back_more_than_it_shipped_less_earlier_returns(
    store: Store,
) -> None:
    # The order's totals allow it, but each part is asked for what the other shipped.
    swapped = [
        NewReturnPart(1, "flexport", "po-1", (("MUG", 1),), None),
        NewReturnPart(2, "flexport", "po-2", (("TSHIRT-M", 1),), None),
    ]
    with pytest.raises(Overreach) as refused:
        await _insert(store, "ret_0", swapped)
    assert [p.msg for p in refused.value.problems] == [
        "part 1: 1 of 'MUG' asked back, 0 remain returnable from it",
        "part 2: 1 of 'TSHIRT-M' asked back, 0 remain returnable from it",
    ]
    assert await store.get_return("ret_0") is None
    await _insert(store)
    # Part 1 shipped two T-shirts, and the return before took one of them back.
    more = [NewReturnPart(1, "flexport", "po-1", (("TSHIRT-M", 2),), None)]

    with pytest.raises(Overreach) as again:
        await _insert(store, "ret_2", more, body=ONE_TSHIRT)

    assert [p.msg for p in again.value.problems] == [
        "part 1: 2 of 'TSHIRT-M' asked back, 1 remain returnable from it"
    ]


async def test_a_return_of_one_part_is_settled_against_it_and_stored_as_one_return(
    store: Store,
) -> None:
    # Two returns racing for one part's units: the order's totals allow the second (it has a
    # mug), but part 1 never shipped one; only the part's own count refuses it.
    one_mug = '{"order_id": "ord_c", "lines": [{"sku": "MUG", "quantity": 1}]}'
    wrong = [NewReturnPart(1, "flexport", "po-1", (("MUG", 1),), None)]
    with pytest.raises(Overreach) as refused:
        await _insert(store, "ret_0", wrong, body=one_mug)
    assert [p.msg for p in refused.value.problems] == [
        "part 1: 1 of 'MUG' asked back, 0 remain returnable from it"
    ]

    await _insert(store, "ret_1", [PARTS[0]], body=ONE_TSHIRT)

    row = await store.get_return("ret_1")
    assert row is not None
    assert row.phase is ReturnPhase.PENDING  # one provider return: the return's own
    assert await store.return_parts_of(["ret_1"]) == {}
    assert await store.taken_from_parts("ord_c") == [("po-1", Counter({"TSHIRT-M": 1}))]


async def test_parts_are_stored_with_their_return_under_its_lease(store: Store) -> None:
    await _insert(store)

    row = await store.get_return("ret_1")
    parts = (await store.return_parts_of(["ret_1"]))["ret_1"]

    assert row is not None
    assert row.phase is ReturnPhase.PARTS
    assert [(p.id, p.part, p.provider_order_id, p.lines, p.reference) for p in parts] == [
        ("ret_1#1", 1, "po-1", (("TSHIRT-M", 1),), "c#1/RMA"),
        ("ret_1#2", 2, "po-2", (("MUG", 1),), "c#2/RMA"),
    ]
    assert {p.phase for p in parts} == {ReturnPhase.PENDING}
    # The inserting request's lease holds them; nobody else claims them meanwhile.
    assert not await store.claim_due_return_parts(
        owner="L2", now=NOW + 1, lease_until=NOW + 60, limit=10
    )
    assert await store.claim_return_part("ret_1#1", owner="L1", now=NOW + 1, lease_until=NOW + 60)
    assert await store.taken_from_parts("ord_c") == [
        ("po-1", Counter({"TSHIRT-M": 1})),
        ("po-2", Counter({"MUG": 1})),
    ]
    assert await store.return_parts_of([]) == {}


async def test_a_step_needs_the_parts_lease(store: Store) -> None:
    await _insert(store)

    with pytest.raises(LeaseLost):
        await store.advance_return_part(
            "ret_1#1", owner="L2", step=ReturnStep(phase=ReturnPhase.CREATING)
        )


async def test_the_return_takes_its_status_from_its_parts_naming_the_part(store: Store) -> None:
    await _insert(store)
    registered = ReturnStep(phase=ReturnPhase.DONE, status=ReturnStatus.REGISTERED, detail="ok")

    first = await store.advance_return_part("ret_1#1", owner="L1", step=registered)
    half = await store.get_return("ret_1")
    await store.advance_return_part("ret_1#2", owner="L1", step=registered)
    whole = await store.get_return("ret_1")

    assert (first.status, first.provider_return_id) == (ReturnStatus.REGISTERED, None)
    assert half is not None
    assert whole is not None
    assert half.status is ReturnStatus.ACCEPTED  # part 2 is not at its provider yet
    assert whole.status is ReturnStatus.REGISTERED
    history = await store.return_history("ret_1")
    assert [(h.status, h.detail) for h in history] == [
        (ReturnStatus.ACCEPTED, None),
        (ReturnStatus.REGISTERED, "part 2: ok"),
    ]
    # Submitted parts are polled, least recently checked first.
    polled = await store.open_return_parts(limit=10, checked_before=NOW)
    assert [p.id for p in polled] == ["ret_1#1", "ret_1#2"]


async def test_a_final_part_is_never_left_and_a_final_return_neither(store: Store) -> None:
    await _insert(store)
    for part in ("ret_1#1", "ret_1#2"):
        step = ReturnStep(phase=ReturnPhase.DONE, status=ReturnStatus.CANCELLED)
        await store.advance_return_part(part, owner="L1", step=step)
    news = ReturnStep(status=ReturnStatus.IN_PROGRESS, source="poll", actor="flexport")

    part = await store.advance_return_part("ret_1#1", owner=None, step=news)

    row = await store.get_return("ret_1")
    assert part.status is ReturnStatus.CANCELLED
    assert row is not None
    assert row.status is ReturnStatus.CANCELLED
    assert not await store.open_return_parts(limit=10, checked_before=NOW + 1e9)
