"""`ReturnService`: the use-cases behind `/v1/returns`.

Submit, in the order that makes it safe (the same shape as an order's):
1. the idempotency key is claimed for (client, key) with the body's fingerprint — the same
   records, semantics and answers as `POST /v1/orders`;
2. the order is looked up among the client's own (another tenant's order does not exist);
   its provider must offer returns, and the order must be returnable by its status
   (`gateway.model.returnable`: it has shipped) and at that provider. A split order's return
   goes to the part that shipped its lines (that part's provider, provider order, status and
   lines); lines of several parts are `ReturnSpansParts`;
3. the natural key (client, external_id) is checked, and the provider's own rules, before
   any call;
4. the return row is written (phase `pending`), linked to the key, in one transaction that
   also settles its lines against what the order's earlier returns take back (`Overreach`);
5. the submission runs while the caller waits up to `request_budget_s`, retrying on the
   return's backoff: `done` when the provider took it, `rejected` when it refused it, else
   `queued` and it finishes in the background;
6. the answer `api/` renders for that outcome is stored under the key, so a replay answers
   the same status and body.

Cancel and decision always ask the provider (the gateway's copy of the status may be stale)
and relay its refusal (`ReturnRefused`) carrying the provider's own code and reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import structlog

from gateway.clock import Clock
from gateway.config import Settings
from gateway.errors import Conflict, Invalid, ProviderError, ReturnExists
from gateway.errors.refusals import (
    DecisionInvalid,
    DecisionNotAllowed,
    DecisionsUnsupported,
    NotReturnable,
    OrderNotSubmitted,
    ProviderRules,
    ReturnedOrderUnknown,
    ReturnNotCancellable,
    ReturnNotSubmitted,
    ReturnRefused,
    ReturnRejected,
    ReturnSpansParts,
    ReturnsUnsupported,
    Unknown,
)
from gateway.model.clients import Client
from gateway.model.events import RETURN_DECIDED
from gateway.model.ids import new_return_id
from gateway.model.lifecycle import Outcome, reached
from gateway.model.orders import CanonicalOrder, Phase
from gateway.model.part_orders import part_order
from gateway.model.returnable import RETURNABLE, Returnable, take_back, why_not_returnable
from gateway.model.returns import CanonicalReturn, Decision, ReturnPhase, ReturnStatus
from gateway.model.text import STORED
from gateway.observability.audit import audited
from gateway.providers.base import (
    Provider,
    ProviderReturn,
    ReturnsProvider,
    ReturnSubmission,
    decisions_of,
    returns_of,
)
from gateway.returns.news import record_news
from gateway.returns.submission import ReturnSubmitter
from gateway.returns.views import return_view
from gateway.store import (
    IdempotencyRecords,
    NewReturn,
    OrderReads,
    OrderRow,
    PartRow,
    PartStore,
    ReturnFilter,
    ReturnRow,
    ReturnStore,
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


class ReturnServiceStore(ReturnStore, OrderReads, PartStore, IdempotencyRecords, Protocol):
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
        return _submitted(row)

    async def _submit_new(self, client: Client, key: str, ret: CanonicalReturn) -> Submitted:
        order = await self._store.get_order(ret.order_id, client_id=client.id)
        if order is None:
            raise ReturnedOrderUnknown(f"order {ret.order_id} does not exist")
        canonical_order = CanonicalOrder.model_validate_json(order.body, context=STORED)
        part: PartRow | None = None
        if order.phase is Phase.PARTS:
            part = await self._part_returned(order, canonical_order, ret)
            provider_name, provider_order_id = part.provider, part.provider_order_id
            canonical_order = part_order(canonical_order, part.lines)
        else:
            provider_name, provider_order_id = order.provider, order.provider_order_id
        provider = self._providers.get(provider_name)
        returns = returns_of(provider) if provider is not None else None
        if returns is None:
            raise _unsupported(provider_name)
        await self._check_returnable(order, part)
        if provider_order_id is None:
            # Not expected once it shipped (its provider's news named it by that id).
            raise OrderNotSubmitted(
                f"order {order.id} is {order.status.value}, but the gateway does not"
                f" know {provider_name}'s id for it",
                order_id=order.id,
                order_status=order.status.value,
            )
        if ret.external_id is not None:
            existing = await self._store.find_return_by_external_id(client.id, ret.external_id)
            if existing is not None:
                raise ReturnExists(existing.id, ret.external_id)
        gateway_id = new_return_id(self._clock.time())
        at_part = 1 if part is None else part.part
        reference = client.reference(ret.external_id, part=at_part) if ret.external_id else None
        submission = ReturnSubmission(
            gateway_id, client.id, ret, canonical_order, provider_order_id, reference
        )
        if rules := returns.check_return(submission):
            raise ProviderRules.broken(RETURNS.noun, provider_name, rules)
        now = self._clock.time()
        lease = self._submitter.new_lease()
        try:
            row = await self._store.insert_return(
                NewReturn(
                    id=gateway_id,
                    client_id=client.id,
                    order_id=order.id,
                    external_id=ret.external_id,
                    provider=provider_name,
                    provider_order_id=provider_order_id,
                    type=ret.type.value,
                    body=ret.model_dump_json(),
                    provider_reference=reference,
                ),
                now=now,
                idempotency=(client.id, key),
                lease_owner=lease,
                lease_until=self._submitter.lease_until(),
            )
        except ReturnExists as exc:
            raise ReturnExists(exc.return_id, ret.external_id or "") from None
        log.info("return.accepted", return_id=row.id, order_id=order.id, provider=row.provider)
        task = self._submitter.spawn(row, lease)
        budget = now + self._settings.server.request_budget_s
        row = await self._submitter.within_budget(row, task, budget)
        return _submitted(row)

    async def _part_returned(
        self, order: OrderRow, canonical: CanonicalOrder, ret: CanonicalReturn
    ) -> PartRow:
        """The part of the split `order` that shipped every line of `ret`;
        `ReturnSpansParts` naming the parts when its lines are several parts' (a return
        without lines is the whole order's: every part's)."""
        parts = await self._store.parts_of(order.id)
        skus = None if ret.lines is None else {line.sku for line in ret.lines}
        named = [p for p in parts if skus is None or any(sku in skus for _i, sku, _q in p.lines)]
        if not named:
            take_back(ret, canonical, ())  # no part holds any of its SKUs: `Overreach`
        if len(named) == 1:
            return named[0]
        numbers = [p.part for p in named]
        which = ", ".join(f"part {p.part} ({p.provider} {p.warehouse})" for p in named)
        raise ReturnSpansParts(
            f"order {order.id} is split over several provider orders, and the lines of this"
            f" return belong to {which}: return each part's lines in a return of its own",
            order_id=order.id,
            parts=numbers,
        )

    async def _check_returnable(self, order: OrderRow, part: PartRow | None) -> None:
        """`part`: of a split order, the part returned — its own status decides (how far the
        order got decides in `exception` only: a part there that shipped while the order
        as a whole had not is refused)."""
        status = order.status if part is None else part.status
        furthest = status
        if RETURNABLE[status][0] is Returnable.IF_SHIPPED:
            applied = await self._store.history(order.id)
            furthest = reached(h.status for h in applied if h.outcome is Outcome.APPLIED)
        reason = why_not_returnable(status, furthest)
        if reason is not None:
            which = "" if part is None else f" (its part {part.part} {status.value})"
            raise NotReturnable(
                f"order {order.id} is {order.status.value}{which}: {reason}",
                order_id=order.id,
                order_status=order.status.value,
            )

    # read ----------------------------------------------------------------------
    async def get(self, client: Client, return_id: str) -> dict[str, Any]:
        row = await self._owned(client, return_id)
        return return_view(row, await self._store.return_history(row.id))

    async def list(self, client: Client, flt: ReturnFilter) -> tuple[list[ReturnRow], bool]:
        """A page of returns newest first, and whether there is another page."""
        return await one_page(lambda page: self._store.list_returns(client.id, page), flt)

    # change at the provider ---------------------------------------------------
    @audited("return")
    async def cancel(self, client: Client, return_id: str) -> dict[str, Any]:
        row = await self._owned(client, return_id)
        if row.status is ReturnStatus.CANCELLED:
            return return_view(row, await self._store.return_history(row.id))
        returns, provider_return_id = self._at_provider(row)
        try:
            found = await returns.cancel_return(provider_return_id)
        except Conflict as exc:
            raise _refused(ReturnNotCancellable, row, exc) from None
        return await self._record(row, found, "cancelled by the client", actor=client.id)

    @audited("return")
    async def decide(self, client: Client, return_id: str, decision: Decision) -> dict[str, Any]:
        row = await self._owned(client, return_id)
        _returns, provider_return_id = self._at_provider(row)
        decider = decisions_of(self._providers[row.provider])
        if decider is None:
            raise DecisionsUnsupported(
                f"{row.provider}'s returns API has no decision step; it handles the goods itself",
                provider=row.provider,
            )
        try:
            found = await decider.decide_return(provider_return_id, decision)
        except Conflict as exc:
            raise _refused(DecisionNotAllowed, row, exc) from None
        except Invalid as exc:
            raise _refused(DecisionInvalid, row, exc) from None
        return await self._record(
            row, found, f"decision {decision.value}", actor=client.id, event=RETURN_DECIDED
        )

    async def _record(
        self,
        row: ReturnRow,
        found: ProviderReturn,
        why: str,
        *,
        actor: str,
        event: str | None = None,
    ) -> dict[str, Any]:
        row = await record_news(self._store, row, found, why, actor=actor, event=event)
        return return_view(row, await self._store.return_history(row.id))

    async def _owned(self, client: Client, return_id: str) -> ReturnRow:
        row = await self._store.get_return(return_id, client_id=client.id)
        if row is None:
            raise Unknown.named("return", return_id)
        return row

    def _at_provider(self, row: ReturnRow) -> tuple[ReturnsProvider, str]:
        if row.phase is ReturnPhase.FAILED:
            raise ReturnRejected(
                f"return {row.id} was refused by {row.provider}; nothing to change"
            )
        if row.provider_return_id is None:
            raise ReturnNotSubmitted(
                f"return {row.id} is still being sent to {row.provider}; retry shortly"
            )
        provider = self._providers.get(row.provider)
        returns = returns_of(provider) if provider is not None else None
        if returns is None:
            raise _unsupported(row.provider)
        return returns, row.provider_return_id


def _submitted(row: ReturnRow) -> Submitted:
    outcome = {ReturnPhase.DONE: SubmitOutcome.DONE, ReturnPhase.FAILED: SubmitOutcome.REJECTED}
    return Submitted(outcome.get(row.phase, SubmitOutcome.QUEUED), return_view(row))


def _unsupported(provider: str) -> ReturnsUnsupported:
    return ReturnsUnsupported(
        f"the order is held by {provider}, which offers no returns API to this account",
        provider=provider,
    )


def _refused(kind: type[ReturnRefused], row: ReturnRow, exc: ProviderError) -> ReturnRefused:
    return kind(
        f"{row.provider}: {exc.message}",
        return_id=row.id,
        provider=row.provider,
        provider_code=exc.code,
        correlation_id=exc.correlation_id,
    )
