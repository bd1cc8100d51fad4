"""Parts of split orders (`PartStore`): stored with their order, leased and advanced like an
order's own submission. A part's step that changes its status re-derives the order's status
from every part's (`lifecycle.of_parts`) in the same transaction, with the order's row
locked, through the state machine (`history.verdict_for`): forward-only as any news.
`PartStore` is the protocol, part of `Store`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from gateway.model.history import Cause
from gateway.model.lifecycle import Outcome, of_parts, part_takes
from gateway.model.orders import OPEN_PHASES, Phase, Status
from gateway.store.dialect import Dialect, Queries, Runner, Tx, sql_list
from gateway.store.history import record_transition, verdict_for
from gateway.store.leases import Claim, ClaimDue, ClaimForPoll, Leases, Release, Renew
from gateway.store.records import NewPart, PartRow, PartStep
from gateway.store.rows import (
    ORDER_COLUMNS,
    PART_COLUMNS,
    PartInsert,
    Table,
    json_text,
    part_row,
    part_row_id,
    step_sets,
)

_OPEN = sql_list(OPEN_PHASES)


part_id = part_row_id


def order_of(part_row_id: str) -> str:
    """The order a part's id names (order ids hold no `#`)."""
    return part_row_id.rsplit("#", 1)[0]


insert_parts = PartInsert("order_parts", "order_id", NewPart, Status.ACCEPTED, Phase.PENDING)
"""The parts of a split order, `pending`, in the transaction storing the order."""


class PartStore(Queries, Protocol):
    """The parts of split orders: each its own submission, leased and advanced as an order."""

    _part_leases: Leases[PartRow]
    _parts: Table[PartRow]

    def __init__(self, db: Runner) -> None:
        super().__init__(db)
        self._part_leases = Leases(db, "order_parts", PART_COLUMNS, OPEN_PHASES, part_row)
        self._parts = Table(db, "order_parts", PART_COLUMNS, part_row)
        self.claim_due_parts = self._part_leases.claim_due
        self.claim_parts_for_poll = self._part_leases.claim_for_poll
        self.claim_part = self._part_leases.claim
        self.renew_part = self._part_leases.renew
        self.release_part = self._part_leases.release

    claim_due_parts: ClaimDue[PartRow]

    claim_parts_for_poll: ClaimForPoll[PartRow]
    """Submitted, not final parts of `provider` not synced since `older_than`, oldest
    first, stamped synced `now` (as `claim_for_poll` for orders)."""

    async def parts_of(self, order_id: str, *, latest: bool = False) -> Sequence[PartRow]:
        """An order's parts in order; none for an unsplit order."""
        return await self._parts.all("order_id = ? ORDER BY part", (order_id,), latest=latest)

    async def get_part(self, part_row_id: str) -> PartRow | None:
        return await self._parts.one("id = ?", (part_row_id,))

    async def find_part_by_provider_id(
        self, provider: str, provider_order_id: str
    ) -> PartRow | None:
        return await self._parts.one(
            "provider = ? AND provider_order_id = ?", (provider, provider_order_id)
        )

    claim_part: Claim[PartRow]
    """Lease one open part, or None if it is done or someone else holds it."""

    renew_part: Renew

    release_part: Release

    async def advance_part(
        self,
        part_row_id: str,
        *,
        owner: str | None,
        step: PartStep,
        unsent_at: float | None = None,
    ) -> PartRow:
        """Commit one step of a part (`owner`: only under that lease, else `LeaseLost`; None:
        news, not the submitter's); a status it changes re-derives the order's. `unsent_at`:
        only while the part is `pending` and nobody's lease runs at that instant (a cancel in
        the gateway), else `LeaseLost`."""
        d = self._d
        at = datetime.now(UTC)
        order_id = order_of(part_row_id)
        sets, args = _sets(step, d.to_db(at))
        try:
            async with self._db.transaction(durable=step.durable) as tx:
                # The order's row first (every part's step takes it, as an UPDATE locks it):
                # the derivation below sees every part as committed, no two parts' steps
                # interleave, and the order's `updated_at` moves with its parts (a client
                # syncing by `updated_since` sees a part's news).
                await tx.execute(
                    "UPDATE orders SET updated_at = ? WHERE id = ?", (d.to_db(at), order_id)
                )
                current = await tx.fetch_one(
                    "SELECT status FROM order_parts WHERE id = ?", (part_row_id,)
                )
                if current is None:
                    raise KeyError(part_row_id)
                status = (
                    None if step.status is None else part_takes(Status(current[0]), step.status)
                )
                if status is not None:
                    sets.append("status = ?")
                    args.append(status)
                row = await self._part_leases.step(
                    tx, part_row_id, owner, sets, args, unsent_at=unsent_at
                )
                part = part_row(row, d)
                if status is not None:
                    await _derive(tx, d, part, Cause(step.source, step.actor, step.detail), at)
        except d.unique_violation:
            # The only unique key an update can break: (provider, provider_order_id).
            assert step.provider_order_id is not None
            taken = self._part_leases.taken(part_row_id, step.provider_order_id, by="order_id")
            raise await taken from None
        return part


async def _derive(tx: Tx, d: Dialect, part: PartRow, cause: Cause, at: datetime) -> None:
    """The order's status from its parts', applied (history, event with the part) when the
    state machine lets the order take it."""
    rows = await tx.fetch_all("SELECT status FROM order_parts WHERE order_id = ?", (part.order_id,))
    derived = of_parts(Status(r[0]) for r in rows)
    found = await verdict_for(tx, d, part.order_id, derived)
    if found is None or found[1] is not Outcome.APPLIED:
        return
    updated = await tx.fetch_one(
        f"UPDATE orders SET status = ?, updated_at = ? WHERE id = ? RETURNING {ORDER_COLUMNS}",
        (derived, d.to_db(at), part.order_id),
    )
    assert updated is not None
    extra = {
        "part": part.part,
        "provider": part.provider,
        "provider_order_id": part.provider_order_id,
        "provider_status": part.provider_status,
        "tracking_code": part.tracking_code,
        "tracking_url": part.tracking_url,
    }
    detail = f"part {part.part}: {cause.detail}" if cause.detail else f"part {part.part}"
    await record_transition(
        tx,
        d,
        part.order_id,
        derived,
        Cause(cause.source, cause.actor, detail),
        previous=found[0],
        at=at,
        order=updated,
        extra=extra,
    )


def _sets(step: PartStep, stamp: Any) -> tuple[list[str], list[Any]]:
    sets: list[str] = ["updated_at = ?"]
    args: list[Any] = [stamp]
    if step.last_error is not None or step.phase is not None:
        # A step of the submission says what its last attempt left (nothing, when it went).
        sets.append("last_error = ?")
        args.append(json_text(step.last_error))
    data = step.provider_data
    given = [
        ("phase", step.phase),
        ("provider_order_id", step.provider_order_id),
        ("provider_data", None if data is None else orjson.dumps(dict(data)).decode()),
        ("provider_status", step.provider_status),
        ("tracking_code", step.tracking_code),
        ("tracking_url", step.tracking_url),
        ("synced_at", step.synced_at),
    ]
    step_sets(step, given, sets, args)
    return sets, args
