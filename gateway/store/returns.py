"""Returns (`ReturnStore`): as for orders, the natural key (client, external_id) is a unique
index, due returns are leased (`leases.py`), and every step that writes history holds its
return's row (inserted, or locked `FOR UPDATE` on PostgreSQL) in the transaction that makes
the change, its history entry and its event."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

import orjson

from gateway.errors import ReturnExists
from gateway.model.history import Cause, Source
from gateway.model.returnable import NOT_TAKING, take_back_json
from gateway.model.returns import (
    OPEN_RETURN_PHASES,
    CanonicalReturn,
    ReturnLine,
    ReturnPhase,
    ReturnStatus,
)
from gateway.model.text import STORED
from gateway.store.dialect import Dialect, Queries, Runner, Tx, sql_list
from gateway.store.leases import Claim, ClaimDue, Leases, Release, Renew
from gateway.store.records import (
    NewReturn,
    NewReturnPart,
    ReturnFilter,
    ReturnHistoryEntry,
    ReturnRow,
    ReturnStep,
)
from gateway.store.return_history import (
    record_return,
    return_sets,
    taken_status,
    to_check,
)
from gateway.store.return_parts import insert_return_parts, settle_parts
from gateway.store.rows import (
    QUEUED,
    RETURN_COLUMNS,
    Table,
    history_of,
    insert_sql,
    names,
    return_row,
)

_TO_CHECK = to_check("returns", RETURN_COLUMNS)
_NOT_TAKING = sql_list(NOT_TAKING)
_NATURAL_KEY = "returns_external_id"
_NEW_COLUMNS = names(NewReturn)
_INSERT = insert_sql("returns", [*_NEW_COLUMNS, "status", "phase", *QUEUED])
_INSERT += f" RETURNING {RETURN_COLUMNS}"


class Returns(Queries, Protocol):
    """Returns as the API and the return workers read and step them (`base.ReturnStore` adds
    `insert_return`'s contract)."""

    _return_leases: Leases[ReturnRow]
    _returns: Table[ReturnRow]
    _return_history: Table[ReturnHistoryEntry]

    def __init__(self, db: Runner) -> None:
        super().__init__(db)
        self._return_leases = Leases(db, "returns", RETURN_COLUMNS, OPEN_RETURN_PHASES, return_row)
        self._returns = Table(db, "returns", RETURN_COLUMNS, return_row)
        self._return_history = history_of(db, "return_history", ReturnHistoryEntry)
        self.claim_return = self._return_leases.claim
        self.claim_due_returns = self._return_leases.claim_due
        self.renew_return = self._return_leases.renew
        self.release_return = self._return_leases.release

    claim_return: Claim[ReturnRow]
    """Lease one open return, or None if it is done or someone else holds it."""
    claim_due_returns: ClaimDue[ReturnRow]
    """Lease up to `limit` returns in an open phase that are due and not leased."""

    async def insert_return(
        self,
        ret: NewReturn,
        *,
        now: float,
        idempotency: tuple[str, str] | None,
        lease_owner: str | None,
        lease_until: float | None,
        parts: Sequence[NewReturnPart] = (),
    ) -> ReturnRow:
        """Store a new return (status accepted, phase pending) and its first history entry;
        raises `ReturnExists` when (client, external_id) is taken. `parts`: of a split
        order's return, the parts it goes to, each settled against what its provider order
        shipped less what the order's earlier returns take from it (`Overreach` too), so two
        returns racing for one part's units cannot both have them. Several parts (a return
        spanning parts): one provider return each (`ReturnPartStore`), stored with it,
        pending and leased as it is, and the return's phase is then `parts`.

        In the same transaction, atomic against every other return of the order (on any
        replica), the return is settled against what the order's earlier returns take back
        (`gateway.model.returnable.take_back`): `Overreach` when it asks too much; a return
        without lines is stored with the remaining quantities once anything was taken back."""
        d = self._d
        at = datetime.fromtimestamp(now, UTC)
        stamp = d.to_db(at)
        try:
            async with self._db.transaction() as tx:
                values = {name: getattr(ret, name) for name in _NEW_COLUMNS}
                values["body"] = await _take_back(tx, d, ret)
                await settle_parts(tx, ret.order_id, parts)
                spanning = parts if len(parts) > 1 else ()
                phase = ReturnPhase.PARTS if spanning else ReturnPhase.PENDING
                values |= {"status": ReturnStatus.ACCEPTED, "phase": phase}
                row = await tx.fetch_one(
                    _INSERT, (*values.values(), now, lease_owner, lease_until, stamp, stamp)
                )
                assert row is not None
                await record_return(tx, d, row, Cause(Source.API, ret.client_id, None), at=at)
                await insert_return_parts(
                    tx,
                    ret.id,
                    ret.client_id,
                    spanning,
                    now=now,
                    stamp=stamp,
                    lease_owner=lease_owner,
                    lease_until=lease_until,
                )
                if idempotency is not None:
                    await tx.execute(
                        "UPDATE idempotency SET order_id = ? WHERE client_id = ? AND key = ?",
                        (ret.id, *idempotency),
                    )
        except d.unique_violation as exc:
            if ret.external_id is None or not d.violates(exc, _NATURAL_KEY):
                raise
            # Looked up in a transaction of its own: on SQLite the return that holds the RMA
            # may be in the same group commit, not yet visible to the reader.
            async with self._db.autocommit() as tx:
                held = await tx.fetch_one(
                    "SELECT id FROM returns WHERE client_id = ? AND external_id = ?",
                    (ret.client_id, ret.external_id),
                )
            if held is None:  # pragma: no cover (a unique row is never deleted)
                raise
            raise ReturnExists(held[0]) from None
        return return_row(row, d)

    async def get_return(self, return_id: str, *, client_id: str | None = None) -> ReturnRow | None:
        if client_id is None:
            return await self._returns.one("id = ?", (return_id,))
        return await self._returns.one("id = ? AND client_id = ?", (return_id, client_id))

    async def find_return_by_external_id(
        self, client_id: str, external_id: str
    ) -> ReturnRow | None:
        return await self._returns.one(
            "client_id = ? AND external_id = ?", (client_id, external_id)
        )

    async def list_returns(self, client_id: str, flt: ReturnFilter) -> Sequence[ReturnRow]:
        given = [
            ("order_id = ?", flt.order_id),
            ("status = ?", flt.status),
            ("id < ?", flt.before_id),
        ]
        return await self._returns.page(client_id, given, limit=flt.limit)

    async def return_history(self, return_id: str) -> Sequence[ReturnHistoryEntry]:
        return await self._return_history.all("return_id = ? ORDER BY seq", (return_id,))

    async def open_returns(self, *, limit: int, checked_before: float) -> Sequence[ReturnRow]:
        """Submitted returns not in a final status, not checked since `checked_before`, least
        recently checked first (polling)."""
        rows = await self._db.reads.fetch_all(_TO_CHECK, (checked_before, limit))
        return [return_row(r, self._d) for r in rows]

    renew_return: Renew
    """Extend a lease this owner holds; False if it was lost."""

    release_return: Release
    """Give up a lease without changing the return (shutdown)."""

    async def advance_return(self, return_id: str, *, owner: str, step: ReturnStep) -> ReturnRow:
        """Commit one submission step of a leased return; `LeaseLost` if `owner` lost it."""
        return await self._apply(return_id, step, owner=owner)

    async def update_return(self, return_id: str, step: ReturnStep) -> ReturnRow:
        """Record what the provider said of a submitted return (cancel, decision, poll)."""
        return await self._apply(return_id, step, owner=None)

    async def _apply(self, return_id: str, step: ReturnStep, *, owner: str | None) -> ReturnRow:
        d = self._d
        at = datetime.now(UTC)
        sets, args = return_sets(step, d.to_db(at))
        async with self._db.transaction(durable=step.durable) as tx:
            current = await tx.fetch_one(
                f"SELECT status FROM returns WHERE id = ?{d.for_update()}", (return_id,)
            )
            if current is None:
                raise KeyError(return_id)
            previous = ReturnStatus(current[0])
            status = taken_status(previous, step, sets, args)
            row = await self._return_leases.step(tx, return_id, owner, sets, args)
            if status is not None or step.event is not None:
                cause = Cause(step.source, step.actor, step.detail)
                await record_return(
                    tx, d, row, cause, previous=previous, at=at, event_type=step.event
                )
        return return_row(row, d)


async def _take_back(tx: Tx, d: Dialect, ret: NewReturn) -> str:
    """The body to store, checked against the order and its earlier returns in the inserting
    transaction, with the order's row locked (SQLite: the one writer): a racing return of the
    same order waits and then sees this one; raises `Overreach`."""
    order = await tx.fetch_one(
        f"SELECT body FROM orders WHERE id = ?{d.for_update()}", (ret.order_id,)
    )
    if order is None:
        return ret.body  # the insert fails on the order's foreign key
    earlier = await tx.fetch_all(
        f"SELECT body FROM returns WHERE order_id = ? AND status NOT IN {_NOT_TAKING}"
        f" AND phase <> '{ReturnPhase.PARTS}'",
        (ret.order_id,),
    )
    bodies = [r[0] for r in earlier] + await _spanning_taken(tx, ret.order_id)
    return take_back_json(ret.body, order[0], bodies)


async def _spanning_taken(tx: Tx, order_id: str) -> list[str]:
    """What the order's returns spanning parts take back, as bodies of their lines: only the
    lines of parts that still take goods back (a part its provider refused takes none, though
    the return as a whole goes on)."""
    rows = await tx.fetch_all(
        "SELECT r.body, p.lines FROM return_parts p JOIN returns r ON r.id = p.return_id"
        f" WHERE r.order_id = ? AND r.status NOT IN {_NOT_TAKING}"
        f" AND p.status NOT IN {_NOT_TAKING} ORDER BY p.id",
        (order_id,),
    )
    bodies = []
    for body, lines in rows:
        taken = [ReturnLine(sku=sku, quantity=q) for sku, q in orjson.loads(lines)]
        ret = CanonicalReturn.model_validate_json(body, context=STORED)
        bodies.append(ret.model_copy(update={"lines": taken}).model_dump_json())
    return bodies
