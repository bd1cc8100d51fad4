"""`OrderChanges`: what a caller may do to an order after submitting it — cancel, change,
refresh. Every status it learns goes through the state machine
(`Store.apply_status`), so an answer racing a webhook can never move an order backwards.

Where the order is decides who acts:
- still queued in the gateway (phase `pending`, nobody submitting it): the gateway alone —
  a cancel or change never reaches the provider;
- being submitted right now: the caller waits briefly for the submission to settle, else
  `SubmissionInProgress`;
- at the provider: the provider decides; its refusal (`Conflict`) is `NotCancellable` or
  `NotChangeable` carrying its reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, Protocol

import orjson
import structlog
from pydantic import ConfigDict, Field, ValidationError, field_validator

from gateway.clock import Clock
from gateway.errors import Conflict, Invalid
from gateway.errors.refusals import (
    ChangeBreaksRules,
    ChangeInvalid,
    NotCancellable,
    NotChangeable,
    NothingToChange,
    OrderRefused,
    SplitOrderUnsupported,
    SubmissionInProgress,
    Unknown,
)
from gateway.model.clients import Client
from gateway.model.dates import DateOrInstant
from gateway.model.history import Source
from gateway.model.lifecycle import FINAL
from gateway.model.orders import (
    MAX_LINES,
    OPEN_PHASES,
    Address,
    CanonicalOrder,
    Line,
    Phase,
    Recipient,
    Status,
    Strict,
)
from gateway.model.text import STORED
from gateway.observability.audit import audited
from gateway.orders.news import record_read
from gateway.orders.refs import provider_ref
from gateway.orders.split_changes import SplitChanges, rejected_change
from gateway.orders.submission import Submitter
from gateway.providers.base import (
    Provider,
    ProviderOrder,
    Submission,
    canceller_of,
    updater_of,
)
from gateway.store import OrderChanges as ChangeQueries
from gateway.store import OrderReads, OrderRow, PartStore

log = structlog.get_logger(__name__)

_IN_GATEWAY = (Phase.PENDING, Phase.HELD)
"""Phases of an order no provider call was made for: queued, or held before routing."""
SETTLE_S = 2.0
"""How long a cancel or change waits for a submission running in this process to settle."""


_PRESENT = ("recipient", "address", "lines")


def _documented(schema: dict[str, Any]) -> None:
    # At least one part; a part every order has is never null (`_present`): leave it out to
    # keep it. So neither null nor its default is anything a client may send.
    schema["minProperties"] = 1
    for name in _PRESENT:
        prop = schema["properties"][name]
        prop.pop("default", None)
        (given,) = [b for b in prop.pop("anyOf") if b != {"type": "null"}]
        prop.update(given)


class OrderChange(Strict):
    """`PATCH /v1/orders/{id}`: the parts of an order that may change; omitted ones stay.

    Every other field of the canonical order (`currency`, `external_id`, `delivery`, …) cannot
    be changed after submission: naming one is refused as such (`field-immutable`), the field
    in `loc`.
    """

    model_config = ConfigDict(json_schema_extra=_documented)

    recipient: Recipient | None = None
    address: Address | None = None
    lines: Annotated[list[Line], Field(min_length=1, max_length=MAX_LINES)] | None = None
    not_before: DateOrInstant | None = None
    not_after: DateOrInstant | None = None

    @field_validator(*_PRESENT, mode="before")
    @classmethod
    def _present(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("must not be null: leave it out to keep it as it is")
        return value


IMMUTABLE_FIELDS = frozenset(CanonicalOrder.model_fields) - frozenset(OrderChange.model_fields)
"""Fields of the canonical order a change refuses as such (not as unknown fields)."""


class ChangeStore(OrderReads, ChangeQueries, PartStore, Protocol):
    """What changing orders needs of the store."""


class OrderChanges:
    def __init__(
        self,
        store: ChangeStore,
        providers: Mapping[str, Provider],
        submitter: Submitter,
        *,
        clock: Clock,
    ) -> None:
        self._store = store
        self._providers = providers
        self._submitter = submitter
        self._clock = clock
        self._split = SplitChanges(store, providers, clock)

    @audited("order")
    async def cancel(
        self, client: Client, order_id: str, *, cause: tuple[str, str] | None = None
    ) -> OrderRow:
        """`cause`: (source, actor) of the history entry when not the client's own call (an
        operator's console). A cancellation that a webhook reports first is still credited
        to the requester, with the request's source."""
        by = (Source.API.value, client.id) if cause is None else cause
        row = await self._own(client, order_id)
        if row.status is Status.CANCELLED:
            return row  # cancelling twice is not an error
        if row.status in FINAL:
            raise _refused(NotCancellable, row, f"the order is {row.status} already")
        if row.phase is Phase.PARTS:
            return await self._split.cancel(row, by=by)
        if row.phase in _IN_GATEWAY:
            done = await self._while_queued(
                row,
                lambda: self._store.cancel_queued(row.id, by=by, now=self._clock.time()),
            )
            if done is not None:
                log.info("order.cancelled", order_id=row.id, at="gateway")
                return done
        row = await self._settled(row, NotCancellable)
        provider = self._providers.get(row.provider)
        if provider is None or (canceller := canceller_of(provider)) is None:
            raise _refused(
                NotCancellable, row, f"{row.provider} does not cancel orders through its API"
            )
        assert row.provider_order_id is not None
        # Noted before the call: the provider's webhook announcing the cancellation may be
        # applied before its answer to this call, and must not take the credit for it.
        await self._store.request_cancel(row.id, by=by, now=self._clock.time())
        try:
            result = await canceller.cancel(provider_ref(row))
        except Conflict as exc:
            await self._store.request_cancel(row.id, by=None, now=self._clock.time())
            row = await self._refresh_quietly(row, provider, client)
            raise _refused(NotCancellable, row, exc.message, exc.code) from None
        log.info("order.cancelled", order_id=row.id, at=row.provider, raw_status=result.raw_status)
        return await self._apply(row, result, client, detail="cancelled by the client", cause=cause)

    @audited("order")
    async def change(self, client: Client, order_id: str, change: OrderChange) -> OrderRow:
        row = await self._own(client, order_id)
        if row.status in FINAL:
            raise _refused(NotChangeable, row, f"the order is {row.status}")
        if row.phase is Phase.PARTS and "lines" in change.model_fields_set:
            raise _split_lines(row)
        order = _merged(CanonicalOrder.model_validate_json(row.body, context=STORED), change)
        changed = [name for name in OrderChange.model_fields if name in change.model_fields_set]
        if row.phase is Phase.PARTS:
            return await self._split.change(row, order, changed=changed, actor=client.id)
        submission = Submission(row.id, row.client_id, order, row.warehouse, row.reference)
        provider = self._providers.get(row.provider)
        if provider is not None and (problems := provider.check(submission)):
            raise ChangeBreaksRules.broken("change", row.provider, problems)
        body = order.model_dump_json()

        def store(queued_only: bool) -> Awaitable[OrderRow | None]:
            return self._store.replace_body(
                row.id,
                body,
                queued_only=queued_only,
                actor=client.id,
                changed=changed,
                now=self._clock.time(),
            )

        if row.phase in _IN_GATEWAY:
            done = await self._while_queued(row, lambda: store(True))
            if done is not None:
                return done
        row = await self._settled(row, NotChangeable)
        if provider is None or (updater := updater_of(provider)) is None:
            raise _refused(
                NotChangeable, row, f"{row.provider} does not change orders through its API"
            )
        assert row.provider_order_id is not None
        try:
            result = await updater.update(provider_ref(row), submission)
        except Conflict as exc:
            row = await self._refresh_quietly(row, provider, client)
            raise _refused(NotChangeable, row, exc.message, exc.code) from None
        except Invalid as exc:
            raise rejected_change(row.id, row.provider, exc) from None
        await store(False)
        return await self._apply(row, result, client, detail="changed by the client")

    @audited("order")
    async def refresh(
        self, client: Client, order_id: str, *, cause: tuple[str, str] | None = None
    ) -> OrderRow:
        row = await self._own(client, order_id)
        if row.phase is Phase.PARTS:
            by = cause or (Source.API.value, client.id)
            return await self._split.refresh(row, by=by)
        provider = self._providers.get(row.provider)
        if row.phase is not Phase.DONE or row.provider_order_id is None or provider is None:
            return row  # nothing at a provider to ask about (yet)
        current = await provider.get(provider_ref(row))
        detail = "refreshed by the client"
        return await self._apply(row, current, client, detail=detail, cause=cause)

    # ---------------------------------------------------------------------------
    async def _own(self, client: Client, order_id: str) -> OrderRow:
        row = await self._store.get_order(order_id, client_id=client.id)
        if row is None:
            raise Unknown.named("order", order_id)
        return row

    async def _while_queued(
        self, row: OrderRow, action: Callable[[], Awaitable[OrderRow | None]]
    ) -> OrderRow | None:
        """Run `action` (which succeeds only while the order is queued and not leased); if a
        submitter of this process holds the order right now, let that attempt end first."""
        done = await action()
        if done is None and (task := self._submitter.running.get(row.id)):
            await asyncio.wait([task], timeout=SETTLE_S)
            done = await action()
        return done

    async def _settled(self, row: OrderRow, refuse: type[OrderRefused]) -> OrderRow:
        """The order once no submission step is in flight (`SubmissionInProgress` if that takes
        too long); `refuse`: what an order that never reached its provider is refused with."""
        if row.phase in OPEN_PHASES and (task := self._submitter.running.get(row.id)):
            await asyncio.wait([task], timeout=SETTLE_S)
        current = await self._store.get_order(row.id) or row
        if current.phase in OPEN_PHASES:
            raise SubmissionInProgress(
                "the provider may or may not hold the order yet; retry shortly",
                phase=current.phase.value,
            )
        if current.phase is not Phase.DONE or current.provider_order_id is None:
            raise _refused(refuse, current, f"the order is {current.status}")
        return current

    async def _apply(
        self,
        row: OrderRow,
        result: ProviderOrder,
        client: Client,
        *,
        detail: str,
        cause: tuple[str, str] | None = None,
    ) -> OrderRow:
        source, actor = cause or (Source.API, client.id)
        await record_read(
            self._store,
            row.id,
            result,
            detail,
            source=source,
            actor=actor,
            now=self._clock.time(),
        )
        return await self._store.get_order(row.id) or row

    async def _refresh_quietly(self, row: OrderRow, provider: Provider, client: Client) -> OrderRow:
        """After a refusal, learn the state that caused it (best effort)."""
        assert row.provider_order_id is not None
        try:
            current = await provider.get(provider_ref(row))
            return await self._apply(row, current, client, detail="read after a refusal")
        except Exception:  # the refusal is the answer; a failed read must not hide it
            log.warning("order.refresh_failed", order_id=row.id, exc_info=True)
            return row


def _merged(order: CanonicalOrder, change: OrderChange) -> CanonicalOrder:
    given = change.model_fields_set
    if not given:
        raise NothingToChange(
            "give at least one of recipient, address, lines, not_before, not_after"
        )
    data = orjson.loads(order.model_dump_json())
    data.update(orjson.loads(change.model_dump_json(include=given)))
    try:
        # The change was checked as an OrderChange; the rest is the stored order.
        return CanonicalOrder.model_validate(data, context=STORED)
    except ValidationError as exc:
        raise ChangeInvalid("the changed order is not a valid canonical order", error=exc) from None


def _split_lines(row: OrderRow) -> SplitOrderUnsupported:
    """The lines of an order split over parts are the parts' (each part holds some of them, at
    the quantities its warehouse held): changing them would need a new plan, not offered."""
    return SplitOrderUnsupported(
        f"order {row.id} is split over several provider orders, each holding some of its"
        " lines: its lines cannot be changed (its recipient, address and dates can)",
        order_id=row.id,
        order_status=row.status.value,
        provider=row.provider,
        action="change",
    )


def _refused(
    kind: type[OrderRefused], row: OrderRow, reason: str, provider_code: str | None = None
) -> OrderRefused:
    return kind(
        f"{row.provider}: {reason}",
        order_id=row.id,
        order_status=row.status.value,
        provider=row.provider,
        provider_code=provider_code,
    )
