"""What happens to an order after submission: news about it through the state machine, a
client's cancel or change, and which orders to poll. Each method is one transaction that
writes the change, its history entry and its event together."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from gateway.model.events import ORDER_UPDATED
from gateway.model.history import Cause, Source, changed_detail, credit_cancel
from gateway.model.lifecycle import Outcome
from gateway.model.orders import Phase, Status
from gateway.store.dialect import Queries, Tx
from gateway.store.history import ignored_already, record_transition, verdict_for
from gateway.store.holds import late_on_shipping
from gateway.store.records import OrderRow, ProviderFacts
from gateway.store.rows import ORDER_COLUMNS, order_row

_QUEUED = "phase IN ('pending', 'held') AND (lease_until IS NULL OR lease_until <= ?)"
"""No provider call made for it (queued, or held before routing), and not leased (the
submitter has not taken it)."""


class OrderChanges(Queries, Protocol):
    """News about an order (webhook, poll, the API) and a client's cancel or change."""

    async def apply_status(
        self,
        order_id: str,
        status: Status,
        *,
        source: str,
        actor: str,
        detail: str | None = None,
        facts: ProviderFacts | None = None,
        now: float,
    ) -> Outcome:
        """Put news about an order through the state machine (`gateway.model.lifecycle`).

        Applied: the status changes, history and an event record it, all in one transaction.
        Ignored (a regression): history records it as ignored; nothing else changes.
        Either way `facts` (raw status, tracking) are kept and `synced_at` is set to `now`.
        A cancellation reported while a client's cancel request is recent (`request_cancel`)
        is recorded as that client's (`gateway.model.history.credit_cancel`).
        """
        d = self._d
        at = datetime.fromtimestamp(now, UTC)
        async with self._db.transaction() as tx:
            found = await verdict_for(tx, d, order_id, status)
            if found is None:
                return Outcome.IGNORED
            current, outcome, reason = found
            await _keep_facts(tx, order_id, facts, now=now)
            if outcome is Outcome.UNCHANGED:
                return outcome
            if outcome is Outcome.IGNORED:
                if not await ignored_already(tx, order_id, status, source):
                    why = f"ignored: {reason}" + (f"; {detail}" if detail else "")
                    cause = Cause(source, actor, why)
                    await record_transition(
                        tx, d, order_id, status, cause, previous=current, at=at, outcome=outcome
                    )
                return outcome
            cause = Cause(source, actor, detail)
            if status is Status.CANCELLED:
                asked = await tx.fetch_one(
                    "SELECT cancel_requested_source, cancel_requested_by, cancel_requested_at"
                    " FROM orders WHERE id = ?",
                    (order_id,),
                )
                assert asked is not None
                cause = credit_cancel(
                    cause,
                    requested_source=asked[0],
                    requested_by=asked[1],
                    requested_at=asked[2],
                    now=now,
                )
            await tx.execute(
                "UPDATE orders SET status = ?, updated_at = ? WHERE id = ?",
                (status, d.to_db(at), order_id),
            )
            await record_transition(tx, d, order_id, status, cause, previous=current, at=at)
            if status in (Status.SHIPPED, Status.DELIVERED):
                await late_on_shipping(tx, d, order_id, now=now)
            return outcome

    async def request_cancel(
        self, order_id: str, *, by: tuple[str, str] | None, now: float
    ) -> None:
        """Note that `by` (source, actor) asks the provider to cancel the order (None: withdraw
        it, the provider refused), before the call, so that whoever reports the cancellation
        first — the call's answer, a webhook, a poll — records it as the requester's."""
        source, actor = by if by is not None else (None, None)
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE orders SET cancel_requested_source = ?, cancel_requested_by = ?,"
                " cancel_requested_at = ? WHERE id = ?",
                (source, actor, now if by is not None else None, order_id),
            )

    async def cancel_queued(
        self, order_id: str, *, by: tuple[str, str], now: float
    ) -> OrderRow | None:
        """Cancel an order no provider call was made for (phase `pending`, not leased), as
        `by` (source, actor).

        The order ends `cancelled` (phase `cancelled`), with its history entry and event;
        None when the order is not in that state any more (the submitter took it).
        """
        d = self._d
        at = datetime.fromtimestamp(now, UTC)
        async with self._db.transaction() as tx:
            previous = await tx.fetch_one(
                f"SELECT status FROM orders WHERE id = ? AND {_QUEUED}{d.for_update()}",
                (order_id, now),
            )
            if previous is None:
                return None
            row = await tx.fetch_one(
                "UPDATE orders SET status = ?, phase = ?, updated_at = ?, next_attempt_at = ?,"
                " hold_reason = NULL, hold_since = NULL, hold_until = NULL"
                f" WHERE id = ? RETURNING {ORDER_COLUMNS}",
                (Status.CANCELLED, Phase.CANCELLED, d.to_db(at), now, order_id),
            )
            cause = Cause(by[0], by[1], "cancelled before it reached the provider")
            before = Status(previous[0])
            await record_transition(
                tx, d, order_id, Status.CANCELLED, cause, previous=before, at=at, order=row
            )
        assert row is not None
        return order_row(row, d)

    async def replace_body(
        self,
        order_id: str,
        body: str,
        *,
        queued_only: bool,
        actor: str,
        changed: Sequence[str],
        detail: str | None = None,
        now: float,
    ) -> OrderRow | None:
        """Store a changed canonical order; with `queued_only`, only while it is `pending`
        and not leased (None otherwise). History records the change (status unchanged, the
        `changed` field names; `detail`, when given, instead of the one they make) and an
        `order.updated` event announces it, in the same transaction."""
        d = self._d
        at = datetime.fromtimestamp(now, UTC)
        where, args = "id = ?", [body, d.to_db(at), order_id]
        if queued_only:
            where += f" AND {_QUEUED}"
            args.append(now)
        async with self._db.transaction() as tx:
            row = await tx.fetch_one(
                f"UPDATE orders SET body = ?, updated_at = ? WHERE {where}"
                f" RETURNING {ORDER_COLUMNS}",
                args,
            )
            if row is None:
                return None
            status = Status(row["status"])
            await record_transition(
                tx,
                d,
                order_id,
                status,
                Cause(Source.API, actor, detail or changed_detail(changed)),
                previous=status,
                at=at,
                outcome=Outcome.UNCHANGED,
                order=row,
                event_type=ORDER_UPDATED,
                changed=changed,
            )
        return order_row(row, d)


async def _keep_facts(tx: Tx, order_id: str, facts: ProviderFacts | None, *, now: float) -> None:
    sets, args = ["synced_at = ?"], list[Any]([now])
    for column, value in facts.columns() if facts else []:
        sets.append(f"{column} = ?")
        args.append(value)
    if facts is not None and facts.shipment_ids:
        known = await tx.fetch_one("SELECT shipment_ids FROM orders WHERE id = ?", (order_id,))
        ids: list[str] = orjson.loads(known[0]) if known is not None and known[0] else []
        ids += [i for i in facts.shipment_ids if i not in ids]
        sets.append("shipment_ids = ?")
        args.append(orjson.dumps(ids).decode())
    await tx.execute(f"UPDATE orders SET {', '.join(sets)} WHERE id = ?", (*args, order_id))
