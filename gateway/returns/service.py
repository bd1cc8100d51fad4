"""`ReturnService`: the use-cases behind `/v1/returns`.

Submit, in the order that makes it safe (the same shape as an order's):
1. the idempotency key is claimed for (client, key) with the body's fingerprint — the same
   records, semantics and answers as `POST /v1/orders`;
2. the order is looked up among the client's own (another tenant's order does not exist);
   its provider must offer returns, and the order must be returnable by its status
   (`gateway.model.returnable`: it has shipped) and at that provider. A split order's return
   goes to the parts that shipped its lines (`part_plan.plan_parts`: each part's provider,
   provider order, status and lines);
3. the natural key (client, external_id) is checked, and the provider's own rules (for each
   part), before any call;
4. the return row is written (phase `pending`; `parts` with one row per part when it spans
   parts), linked to the key, in one transaction that also settles its lines against what
   the order's earlier returns take back (`Overreach`);
5. the submission runs while the caller waits up to `request_budget_s`, retrying on the
   return's backoff (each part on its own): `done` when the provider took it, `rejected`
   when it refused it, else `queued` and it finishes in the background;
6. the answer `api/` renders for that outcome is stored under the key, so a replay answers
   the same status and body.

Cancel and decision always ask the provider (the gateway's copy of the status may be stale)
— each part's provider return in turn, of a return spanning parts (parts changed before a
refusal stay changed) — and relay its refusal (`ReturnRefused`) carrying the provider's own
code and reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from gateway.clock import Clock
from gateway.config import Settings
from gateway.errors import Conflict, Invalid, ProviderError, ReturnExists
from gateway.errors.refusals import (
    DecisionInvalid,
    DecisionNotAllowed,
    DecisionsUnsupported,
    OrderNotSubmitted,
    ProviderRules,
    ReturnedOrderUnknown,
    ReturnNotCancellable,
    ReturnRefused,
    ReturnsUnsupported,
    Unknown,
)
from gateway.model.clients import Client
from gateway.model.events import RETURN_DECIDED
from gateway.model.ids import new_return_id
from gateway.model.orders import CanonicalOrder, Phase
from gateway.model.part_orders import part_order
from gateway.model.returns import (
    OPEN_RETURN_PHASES,
    CanonicalReturn,
    Decision,
    ReturnLine,
    ReturnPhase,
    ReturnStatus,
)
from gateway.model.text import STORED
from gateway.observability.audit import audited
from gateway.providers.base import (
    Provider,
    ReturnsProvider,
    ReturnSubmission,
    decisions_of,
    returns_of,
)
from gateway.returns.part_changes import AtProvider, at_providers, record_at
from gateway.returns.part_plan import not_returnable, plan_parts
from gateway.returns.submission import ReturnSubmitter
from gateway.returns.views import parts_for, return_view
from gateway.store import (
    IdempotencyRecords,
    NewReturn,
    NewReturnPart,
    OrderReads,
    OrderRow,
    PartStore,
    ReturnFilter,
    ReturnPartStore,
    ReturnRow,
    ReturnStore,
    return_part_id,
)
from gateway.submissions.idempotency import (
    IdempotentSubmit,
    Keyed,
    Render,
    SubmitOutcome,
    Submitted,
)
from gateway.submissions.pages import one_page
from gateway.submissions.resources import RETURNS

log = structlog.get_logger(__name__)


class ReturnServiceStore(
    ReturnStore, ReturnPartStore, OrderReads, PartStore, IdempotencyRecords, Protocol
):
    """What the return use-cases need of the store."""


class ReturnService:
    def __init__(
        self,
        settings: Settings,
        store: ReturnServiceStore,
        providers: Mapping[str, Provider],
        submitter: ReturnSubmitter,
        *,
        clock: Clock,
    ) -> None:
        self._settings = settings
        self._store = store
        self._providers = providers
        self._submitter = submitter
        self._clock = clock
        self._keyed = IdempotentSubmit(settings, store, clock=clock)

    # submit --------------------------------------------------------------------
    async def submit(self, client: Client, key: str, ret: CanonicalReturn, render: Render) -> Keyed:
        """`ret` submitted exactly once under `key`; `render` gives the answer the key keeps."""
        return await self._keyed.run(
            client,
            key,
            ret,
            RETURNS,
            resume=self._resume,
            submit=lambda _claim: self._submit_new(client, key, ret),
            render=render,
        )

    async def _resume(self, return_id: str) -> Submitted:
        row = await self._store.get_return(return_id)
        assert row is not None
        return await self._submitted(row)

    async def _submit_new(self, client: Client, key: str, ret: CanonicalReturn) -> Submitted:
        order = await self._store.get_order(ret.order_id, client_id=client.id)
        if order is None:
            raise ReturnedOrderUnknown(f"order {ret.order_id} does not exist")
        ret, targets = await self._targets(order, ret)
        if ret.external_id is not None:
            existing = await self._store.find_return_by_external_id(client.id, ret.external_id)
            if existing is not None:
                raise ReturnExists(existing.id, ret.external_id)
        gateway_id = new_return_id(self._clock.time())
        spanning = len(targets) > 1
        parts = []
        for t in targets:
            returns = self._returns_at(t.provider)
            reference = client.reference(ret.external_id, part=t.part) if ret.external_id else None
            sent = (
                ret
                if t.lines is None or not spanning
                else ret.model_copy(update={"lines": t.lines})
            )
            sub_id = return_part_id(gateway_id, t.part) if spanning else gateway_id
            submission = ReturnSubmission(
                sub_id, client.id, sent, t.order, t.provider_order_id, reference
            )
            if rules := returns.check_return(submission):
                raise ProviderRules.broken(RETURNS.noun, t.provider, rules)
            units = tuple((line.sku, line.quantity) for line in t.lines or ())
            parts.append(NewReturnPart(t.part, t.provider, t.provider_order_id, units, reference))
        first = targets[0]
        now = self._clock.time()
        lease = self._submitter.new_lease()
        try:
            row = await self._store.insert_return(
                NewReturn(
                    id=gateway_id,
                    client_id=client.id,
                    order_id=order.id,
                    external_id=ret.external_id,
                    provider=first.provider,
                    provider_order_id=first.provider_order_id,
                    type=ret.type.value,
                    body=ret.model_dump_json(),
                    provider_reference=None if spanning else parts[0].reference,
                ),
                now=now,
                idempotency=(client.id, key),
                lease_owner=lease,
                lease_until=self._submitter.lease_until(),
                parts=parts if order.phase is Phase.PARTS else (),
            )
        except ReturnExists as exc:
            raise ReturnExists(exc.return_id, ret.external_id or "") from None
        log.info("return.accepted", return_id=row.id, order_id=order.id, parts=len(targets))
        budget = now + self._settings.server.request_budget_s
        if spanning:
            await self._parts_within_budget(row, lease, budget)
            row = await self._store.get_return(row.id) or row
        else:
            task = self._submitter.spawn(row, lease)
            row = await self._submitter.within_budget(row, task, budget)
        return await self._submitted(row)

    async def _targets(
        self, order: OrderRow, ret: CanonicalReturn
    ) -> tuple[CanonicalReturn, Sequence[_Target]]:
        """Where `ret` goes (see `_Target`), and the return as it is to be stored."""
        canonical = CanonicalOrder.model_validate_json(order.body, context=STORED)
        if order.phase is not Phase.PARTS:
            self._returns_at(order.provider)
            if (refusal := await not_returnable(self._store, order, None)) is not None:
                raise refusal
            if order.provider_order_id is None:
                # Not expected once it shipped (its provider's news named it by that id).
                raise OrderNotSubmitted(
                    f"order {order.id} is {order.status.value}, but the gateway does not"
                    f" know {order.provider}'s id for it",
                    order_id=order.id,
                    order_status=order.status.value,
                )
            return ret, [_Target(1, order.provider, order.provider_order_id, canonical)]
        # A split order's return goes to the parts that shipped its lines: one provider
        # return each, every part's lines named (so each part's earlier returns count).
        planned = await plan_parts(self._store, order, canonical, ret)
        if ret.lines is None:
            ret = ret.model_copy(update={"lines": [ln for _p, lines in planned for ln in lines]})
        targets = []
        for part, lines in planned:
            assert part.provider_order_id is not None  # `plan_parts` took only such parts
            cut = part_order(canonical, part.lines)
            targets.append(_Target(part.part, part.provider, part.provider_order_id, cut, lines))
        return ret, targets

    async def _parts_within_budget(self, row: ReturnRow, lease: str, budget: float) -> None:
        """Each part of a return spanning parts driven at once, while the caller waits."""
        driver = self._submitter.parts
        rows = (await self._store.return_parts_of([row.id])).get(row.id, ())
        await asyncio.gather(
            *(driver.within_budget(p, driver.spawn(p, lease), budget) for p in rows)
        )

    def _returns_at(self, provider_name: str) -> ReturnsProvider:
        provider = self._providers.get(provider_name)
        returns = returns_of(provider) if provider is not None else None
        if returns is None:
            raise _unsupported(provider_name)
        return returns

    async def _submitted(self, row: ReturnRow) -> Submitted:
        """The submit's outcome: of a return spanning parts, done once every part is sent
        (rejected when every part was refused), queued while any part is on its way."""
        parts = await parts_for(self._store, [row])
        phase = row.phase
        if phase is ReturnPhase.PARTS:
            phases = {p["submission"]["phase"] for p in parts[row.id]}
            open_ = phases & OPEN_RETURN_PHASES
            phase = ReturnPhase.PENDING if open_ else ReturnPhase.DONE
            if phases == {ReturnPhase.FAILED}:
                phase = ReturnPhase.FAILED
        outcome = {ReturnPhase.DONE: SubmitOutcome.DONE, ReturnPhase.FAILED: SubmitOutcome.REJECTED}
        return Submitted(outcome.get(phase, SubmitOutcome.QUEUED), return_view(row, parts[row.id]))

    # read ----------------------------------------------------------------------
    async def get(self, client: Client, return_id: str) -> dict[str, Any]:
        return await self._view(await self._owned(client, return_id))

    async def list(
        self, client: Client, flt: ReturnFilter
    ) -> tuple[Sequence[ReturnRow], bool, Mapping[str, Sequence[dict[str, Any]]]]:
        """A page of returns newest first, whether there is another page, and each one's
        `parts`."""
        rows, more = await one_page(lambda page: self._store.list_returns(client.id, page), flt)
        return rows, more, await parts_for(self._store, rows)

    async def _view(self, row: ReturnRow) -> dict[str, Any]:
        parts = await parts_for(self._store, [row])
        return return_view(row, parts[row.id], await self._store.return_history(row.id))

    # change at the provider ---------------------------------------------------
    @audited("return")
    async def cancel(self, client: Client, return_id: str) -> dict[str, Any]:
        row = await self._owned(client, return_id)
        if row.status is ReturnStatus.CANCELLED:
            return await self._view(row)
        for at in await self._at_providers(row):
            returns = self._returns_at(at.provider)
            try:
                found = await returns.cancel_return(at.provider_return_id)
            except Conflict as exc:
                raise _refused(ReturnNotCancellable, row, exc, at) from None
            await record_at(self._store, row, at, found, "cancelled by the client", actor=client.id)
        return await self._view(await self._owned(client, return_id))

    @audited("return")
    async def decide(self, client: Client, return_id: str, decision: Decision) -> dict[str, Any]:
        row = await self._owned(client, return_id)
        deciders = []
        for at in await self._at_providers(row):  # every part can take it, before any call
            self._returns_at(at.provider)
            decider = decisions_of(self._providers[at.provider])
            if decider is None:
                raise DecisionsUnsupported(
                    f"{at.provider}'s returns API has no decision step; it handles the goods"
                    " itself",
                    provider=at.provider,
                )
            deciders.append((at, decider))
        for at, decider in deciders:
            try:
                found = await decider.decide_return(at.provider_return_id, decision)
            except Conflict as exc:
                raise _refused(DecisionNotAllowed, row, exc, at) from None
            except Invalid as exc:
                raise _refused(DecisionInvalid, row, exc, at) from None
            why = f"decision {decision.value}"
            await record_at(self._store, row, at, found, why, actor=client.id, event=RETURN_DECIDED)
        return await self._view(await self._owned(client, return_id))

    async def _owned(self, client: Client, return_id: str) -> ReturnRow:
        row = await self._store.get_return(return_id, client_id=client.id)
        if row is None:
            raise Unknown.named("return", return_id)
        return row

    async def _at_providers(self, row: ReturnRow) -> Sequence[AtProvider]:
        parts = await self._store.return_parts_of([row.id])
        return at_providers(row, parts.get(row.id, ()))


@dataclass(frozen=True, slots=True)
class _Target:
    """Where a return goes: a part of its order (an unsplit order's is part 1), its provider
    order, the order as that provider holds it, and the part's lines (None: unsplit)."""

    part: int
    provider: str
    provider_order_id: str
    order: CanonicalOrder
    lines: list[ReturnLine] | None = None


def _unsupported(provider: str) -> ReturnsUnsupported:
    return ReturnsUnsupported(
        f"the order is held by {provider}, which offers no returns API to this account",
        provider=provider,
    )


def _refused(
    kind: type[ReturnRefused], row: ReturnRow, exc: ProviderError, at: AtProvider
) -> ReturnRefused:
    """`at`'s provider refused: of a return spanning parts, naming the part."""
    which = at.provider if at.part is None else f"{at.provider} (part {at.part.part})"
    return kind(
        f"{which}: {exc.message}",
        return_id=row.id,
        provider=at.provider,
        provider_code=exc.code,
        correlation_id=exc.correlation_id,
    )
