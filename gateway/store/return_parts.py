"""Parts of returns (`ReturnPartStore`): a return whose lines several parts of a split order
shipped is one provider return per part, each row leased and advanced like a return's own
submission (`Leases`, the same as orders, order parts and returns). A part's step that
changes its status re-derives the return's status from every part's
(`part_orders.of_return_parts`) in the same transaction, with the return's row locked: its
history entry and event say which part moved; a final status is never left."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Protocol

import orjson

from gateway.errors import FieldProblem, Overreach
from gateway.model.history import Cause
from gateway.model.part_orders import of_return_parts
from gateway.model.returnable import NOT_TAKING
from gateway.model.returns import (
    FINAL_RETURN_STATUSES,
    OPEN_RETURN_PHASES,
    CanonicalReturn,
    ReturnPhase,
    ReturnStatus,
)
from gateway.model.text import STORED
from gateway.store.dialect import Dialect, Queries, Reads, Runner, Tx, sql_list
from gateway.store.leases import Claim, ClaimDue, Leases, Release, Renew
from gateway.store.records import NewReturnPart, ReturnPartRow, ReturnStep
from gateway.store.return_history import (
    record_return,
    return_sets,
    taken_status,
    to_check,
)
from gateway.store.rows import (
    RETURN_COLUMNS,
    RETURN_PART_COLUMNS,
    PartInsert,
    Table,
    part_row_id,
    return_part_row,
)

_TO_CHECK = to_check("return_parts", RETURN_PART_COLUMNS)
_NOT_TAKING = sql_list(NOT_TAKING)


class ReturnPartStore(Queries, Protocol):
    """The parts of returns spanning parts of split orders: each its own provider return."""

    _return_part_leases: Leases[ReturnPartRow]
    _return_parts: Table[ReturnPartRow]

    def __init__(self, db: Runner) -> None:
        super().__init__(db)
        self._return_part_leases = Leases(
            db, "return_parts", RETURN_PART_COLUMNS, OPEN_RETURN_PHASES, return_part_row
        )
        self._return_parts = Table(db, "return_parts", RETURN_PART_COLUMNS, return_part_row)
        self.claim_return_part = self._return_part_leases.claim
        self.claim_due_return_parts = self._return_part_leases.claim_due
        self.renew_return_part = self._return_part_leases.renew
        self.release_return_part = self._return_part_leases.release

    claim_return_part: Claim[ReturnPartRow]
    """Lease one open return part, or None if it is done or someone else holds it."""
    claim_due_return_parts: ClaimDue[ReturnPartRow]
    renew_return_part: Renew
    release_return_part: Release

    async def return_parts_of(
        self, return_ids: Sequence[str]
    ) -> Mapping[str, Sequence[ReturnPartRow]]:
        """The parts of each of these returns, in part order; none for a return of one part."""
        if not return_ids:
            return {}
        which, args = self._d.any_of("return_id", return_ids, "text")
        found: dict[str, list[ReturnPartRow]] = {}
        for part in await self._return_parts.all(f"{which} ORDER BY return_id, part", args):
            found.setdefault(part.return_id, []).append(part)
        return found

    async def get_return_part(self, part_row_id: str) -> ReturnPartRow | None:
        return await self._return_parts.one("id = ?", (part_row_id,))

    async def taken_from_parts(self, order_id: str) -> Sequence[tuple[str, Counter[str]]]:
        """What the order's returns that still take goods back take from each provider order
        (a part's): `(provider_order_id, units)`, one per return or return part."""
        return await _taken(self._db.reads, order_id)

    async def open_return_parts(
        self, *, limit: int, checked_before: float
    ) -> Sequence[ReturnPartRow]:
        """Submitted return parts not in a final status, not checked since `checked_before`,
        least recently checked first (polling)."""
        rows = await self._db.reads.fetch_all(_TO_CHECK, (checked_before, limit))
        return [return_part_row(r, self._d) for r in rows]

    async def advance_return_part(
        self, part_row_id: str, *, owner: str | None, step: ReturnStep
    ) -> ReturnPartRow:
        """Commit one step of a return part (`owner`: under that lease, else `LeaseLost`;
        None: the provider's news); a status it changes re-derives the return's."""
        d = self._d
        at = datetime.now(UTC)
        sets, args = return_sets(step, d.to_db(at))
        return_id = part_row_id.rsplit("#", 1)[0]  # return ids hold no `#`
        async with self._db.transaction(durable=step.durable) as tx:
            # The return's row first (every part's step takes it, as an UPDATE locks it): the
            # derivation below sees every part as committed, and no two parts' steps
            # interleave.
            touch, stamp = ("updated_at = ?", (d.to_db(at),)) if step.touch else ("id = id", ())
            await tx.execute(f"UPDATE returns SET {touch} WHERE id = ?", (*stamp, return_id))
            current = await tx.fetch_one(
                "SELECT status FROM return_parts WHERE id = ?", (part_row_id,)
            )
            if current is None:
                raise KeyError(part_row_id)
            status = taken_status(ReturnStatus(current[0]), step, sets, args)
            row = await self._return_part_leases.step(tx, part_row_id, owner, sets, args)
            part = return_part_row(row, d)
            if status is not None or step.event is not None:
                await _derive(tx, d, part, step, at)
        return part


return_part_id = part_row_id


insert_return_parts = PartInsert(
    "return_parts", "return_id", NewReturnPart, ReturnStatus.ACCEPTED, ReturnPhase.PENDING
)
"""The parts of a return, `pending`, in the transaction storing the return."""


async def settle_parts(tx: Tx, order_id: str, parts: Sequence[NewReturnPart]) -> None:
    """Check, in the transaction inserting the return (the order's row locked), that no part
    takes back more than its provider order shipped less what the order's earlier returns
    take from it: two returns racing cannot both take one part's units. `Overreach`."""
    if not parts:
        return
    shipped: dict[str, Counter[str]] = {}
    rows = await tx.fetch_all(
        "SELECT provider_order_id, lines FROM order_parts WHERE order_id = ?", (order_id,)
    )
    for provider_order_id, lines in rows:
        units = shipped.setdefault(provider_order_id, Counter())
        for _i, sku, quantity in orjson.loads(lines):
            units[sku] += quantity
    for provider_order_id, units in await _taken(tx, order_id):
        shipped.setdefault(provider_order_id, Counter()).subtract(units)
    problems = [
        FieldProblem(
            "lines",
            f"part {p.part}: {quantity} of {sku!r} asked back, {left} remain returnable from it",
        )
        for p in parts
        for sku, quantity in p.lines
        if quantity > (left := max(shipped.get(p.provider_order_id, Counter())[sku], 0))
    ]
    if problems:
        remaining: Counter[str] = Counter()
        for units in shipped.values():
            remaining.update(+units)
        raise Overreach(problems, remaining)


async def _taken(reads: Reads, order_id: str) -> list[tuple[str, Counter[str]]]:
    singles = await reads.fetch_all(
        "SELECT provider_order_id, body FROM returns WHERE order_id = ?"
        f" AND phase <> '{ReturnPhase.PARTS}' AND status NOT IN {_NOT_TAKING}",
        (order_id,),
    )
    parts = await reads.fetch_all(
        "SELECT p.provider_order_id, p.lines FROM return_parts p"
        " JOIN returns r ON r.id = p.return_id"
        f" WHERE r.order_id = ? AND p.status NOT IN {_NOT_TAKING}",
        (order_id,),
    )
    taken: list[tuple[str, Counter[str]]] = []
    for provider_order_id, body in singles:
        ret = CanonicalReturn.model_validate_json(body, context=STORED)
        units: Counter[str] = Counter()
        for line in ret.lines or ():  # a split order's returns always name their lines
            units[line.sku] += line.quantity
        taken.append((provider_order_id, units))
    for provider_order_id, lines in parts:
        taken.append((provider_order_id, Counter(dict(orjson.loads(lines)))))
    return taken


async def _derive(tx: Tx, d: Dialect, part: ReturnPartRow, step: ReturnStep, at: datetime) -> None:
    """The return's status from its parts', applied with its history entry and event (naming
    the part) when it changes and the return's is not final; `step.event` is recorded even
    when the status stays (a decision)."""
    rows = await tx.fetch_all(
        "SELECT status FROM return_parts WHERE return_id = ?", (part.return_id,)
    )
    derived = of_return_parts(ReturnStatus(r[0]) for r in rows)
    found = await tx.fetch_one("SELECT status FROM returns WHERE id = ?", (part.return_id,))
    assert found is not None
    previous = ReturnStatus(found[0])
    changes = previous not in FINAL_RETURN_STATUSES and derived is not previous
    if not changes and step.event is None:
        return
    sets = "status = ?, updated_at = ?" if changes else "updated_at = ?"
    values = (derived, d.to_db(at)) if changes else (d.to_db(at),)
    updated = await tx.fetch_one(
        f"UPDATE returns SET {sets} WHERE id = ? RETURNING {RETURN_COLUMNS}",
        (*values, part.return_id),
    )
    assert updated is not None
    detail = f"part {part.part}: {step.detail}" if step.detail else f"part {part.part}"
    await record_return(
        tx,
        d,
        updated,
        Cause(step.source, step.actor, detail),
        previous=previous,
        at=at,
        event_type=step.event,
        extra={
            "part": part.part,
            "provider": part.provider,
            "provider_return_id": part.provider_return_id,
            "provider_status": part.provider_status,
        },
    )
