"""The rows the `Store` deals in: what goes in (`NewOrder`, `Transition`, …) and what comes out
(`OrderRow`, `ReturnRow`, …), plain frozen dataclasses the store never hands out mutable."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway.model.events import DeliveryState, EventRow
from gateway.model.history import SUBMITTER_ACTOR, Source
from gateway.model.lifecycle import Outcome
from gateway.model.orders import Phase, Status
from gateway.model.returns import Decision, ReturnPhase, ReturnStatus


@dataclass(frozen=True, slots=True)
class NewOrder:
    id: str
    client_id: str
    external_id: str
    provider: str
    warehouse: str
    route_rule: str
    route_candidate: int
    body: str
    """The canonical order as JSON text."""
    status: Status = Status.ACCEPTED
    phase: Phase = Phase.PENDING
    attempts: int = 0
    """1 when the order is stored already `creating` (its first create about to be sent)."""
    provider_reference: str | None = None
    """The tenant-qualified reference the provider is given (`Client.reference`)."""
    supersedes: str | None = None
    """The rejected order of the same external_id this one corrects: stored only if that one
    is still rejected and not superseded yet, in the same transaction (else `OrderExists`)."""
    hold_reason: str | None = None
    """Held before routing (`status` on_hold, `phase` held; provider, warehouse and rule
    `UNROUTED`): the hold rule's name or `hold_until`. Its history records it held."""
    hold_since: float | None = None
    hold_until: float | None = None
    """When the hold releases itself (epoch seconds); None: only a caller releases it."""
    ship_by: float | None = None
    """The canonical order's `ship_by` (epoch seconds), for the late check."""


UNROUTED = ""
"""The provider, warehouse and rule of an order held before routing: none yet."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderRow(NewOrder):
    """An order as stored: the `NewOrder` it was — its `provider_reference` None for orders
    stored before references were tenant-qualified, which went with the bare `external_id`
    (see `reference`) — and what became of it."""

    provider_order_id: str | None
    next_attempt_at: float
    last_error: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    provider_status: str | None = None
    """The provider's own status, as it last said it."""
    tracking_code: str | None = None
    tracking_url: str | None = None
    shipment_ids: tuple[str, ...] = ()
    synced_at: float | None = None
    """When the provider's state was last read (poll, refresh) or heard (webhook)."""
    superseded_by: str | None = None
    """The order that corrects this rejected one (its external_id is that order's now)."""
    provider_data: Mapping[str, str] = field(default_factory=dict)
    """What the provider asked to keep with its order id (`ProviderOrderRef.data`), handed
    back on every call about the order; empty where it asked nothing, and for orders stored
    before it was kept (migration 009)."""
    late_at: float | None = None
    """When the order was found not shipped by its `ship_by` (`order.late`)."""

    @property
    def reference(self) -> str:
        """What the provider knows this order by, and reconcile looks it up by."""
        return self.provider_reference or self.external_id


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    status: Status
    source: str
    actor: str
    """Who: the client id (`api`), the provider (`webhook`, `poll`), `submitter`."""
    at: datetime
    detail: str | None = None
    outcome: Outcome = Outcome.APPLIED
    """`ignored`: news that would have moved the order backwards, kept for the record only;
    `unchanged`: an action that left the status as it was (a change of the order's fields)."""


@dataclass(frozen=True, slots=True)
class ProviderFacts:
    """What the provider said besides the canonical status; None keeps what is stored."""

    raw_status: str | None = None
    tracking_code: str | None = None
    tracking_url: str | None = None
    shipment_ids: tuple[str, ...] = ()
    """Added to the ids already known."""

    def columns(self) -> list[tuple[str, str]]:
        """(order column, value) of the scalar facts given (None keeps what is stored)."""
        found = (
            ("provider_status", self.raw_status),
            ("tracking_code", self.tracking_code),
            ("tracking_url", self.tracking_url),
        )
        return [(column, value) for column, value in found if value is not None]


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    """One event on its way to one subscriber."""

    subscriber: str
    event: EventRow
    state: DeliveryState
    attempts: int
    next_attempt_at: float
    last_status: int | None
    last_error: str | None
    delivered_at: float | None


@dataclass(frozen=True, slots=True)
class OrderFilter:
    external_id: str | None = None
    status: Status | None = None
    provider: str | None = None
    updated_since: datetime | None = None
    before_id: str | None = None
    """Keyset cursor: only ids lower than this (lists run newest first)."""
    limit: int = 50
    late: bool | None = None
    """Only orders late now (not shipped by their `ship_by`), or only those not."""
    phases: frozenset[Phase] | None = None
    """Only orders in one of these submission phases (the console's stuck and held lists)."""
    created_before: datetime | None = None
    """Only orders accepted before this instant."""


@dataclass(frozen=True, slots=True)
class NewReturn:
    id: str
    client_id: str
    order_id: str
    external_id: str | None
    provider: str
    provider_order_id: str
    type: str
    body: str
    """The canonical return as JSON text."""
    provider_reference: str | None = None
    """The tenant-qualified `external_id` the provider is given, if the return has one."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReturnRow(NewReturn):
    """A return as stored: the `NewReturn` it was (`provider_reference` None before references
    were tenant-qualified: the bare `external_id` then, see `reference`), and what became of
    it."""

    provider_return_id: str | None
    status: ReturnStatus
    provider_status: str | None
    decision: Decision | None
    phase: ReturnPhase
    attempts: int
    next_attempt_at: float
    last_error: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime

    @property
    def reference(self) -> str | None:
        return self.provider_reference or self.external_id


@dataclass(frozen=True, slots=True)
class NewReturnPart:
    """One part of a return spanning parts of a split order, stored with the return
    (`Store.insert_return`'s `parts`): the order part that shipped the lines."""

    part: int
    provider: str
    provider_order_id: str
    lines: tuple[tuple[str, int], ...]
    """(sku, quantity) of each line this part takes back."""
    reference: str | None
    """The provider reference of this part (`Client.reference` with its `part`)."""


@dataclass(frozen=True, slots=True)
class ReturnPartRow:
    """One part of a return: its own provider return, submission and status."""

    id: str
    """`<return id>#<part>`: also what its provider is given as the return's own id."""
    return_id: str
    client_id: str
    part: int
    provider: str
    provider_order_id: str
    lines: tuple[tuple[str, int], ...]
    reference: str | None
    provider_return_id: str | None
    provider_status: str | None
    decision: Decision | None
    status: ReturnStatus
    phase: ReturnPhase
    attempts: int
    next_attempt_at: float
    last_error: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ReturnHistoryEntry:
    status: ReturnStatus
    source: str
    actor: str
    at: datetime
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class ReturnFilter:
    order_id: str | None = None
    status: ReturnStatus | None = None
    before_id: str | None = None
    """Keyset cursor: only ids lower than this (lists run newest first)."""
    limit: int = 50


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """What an order's step (`Transition`) and a return's (`ReturnStep`) both say: the error,
    when next to try, the attempt count, the lease, and who caused it."""

    last_error: dict[str, Any] | None = None
    next_attempt_at: float | None = None
    count_attempt: bool = False
    release: bool = False
    """Give up the lease (the worker is done with it for now)."""
    source: str = Source.SUBMITTER
    actor: str = SUBMITTER_ACTOR
    """Who: a step not the submitter's must name its actor (the default is the submitter's)."""
    detail: str | None = None
    durable: bool = True
    """Whether the step is durable before its caller goes on. False only where a crash that
    loses it leaves the row in a phase recovery settles by looking at the provider (a `done`
    whose row stays `creating` or `confirming`): the step then rides the next group commit."""

    def __post_init__(self) -> None:
        if self.source != Source.SUBMITTER and self.actor == SUBMITTER_ACTOR:
            raise ValueError(f"a {self.source} step needs its actor")


@dataclass(frozen=True, slots=True)
class ReturnStep(Step):
    """One committed change of a return (see `Store.advance_return`/`update_return`)."""

    phase: ReturnPhase | None = None
    status: ReturnStatus | None = None
    """A new canonical status (recorded in history when it changes), or None to keep it."""
    provider_status: str | None = None
    provider_return_id: str | None = None
    decision: Decision | None = None
    clear_error: bool = False
    checked_at: float | None = None
    """When the provider was last asked about it (polling order)."""
    touch: bool = True
    """Bump `updated_at`; False when nothing callers see has changed (a poll that found the
    same state)."""
    event: str | None = None
    """Record the step in history and announce it as this event type even when the status
    stays (a decision: `return.decided`); a status change then goes out as this event too."""


@dataclass(frozen=True, slots=True)
class Transition(Step):
    """One committed step of a submission (see `Store.advance`)."""

    phase: Phase
    status: Status | None = None
    """A new canonical status (recorded in history), or None to keep it."""
    provider_order_id: str | None = None
    provider_data: Mapping[str, str] | None = None
    """What the provider keeps with `provider_order_id`, stored with it; None keeps what is
    stored."""
    facts: ProviderFacts | None = None
    """What the provider's answer said besides the status (a confirm's tracking code)."""


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An inbound webhook event as stored (see `Store.record_event`)."""

    provider: str
    event_id: str
    topic: str
    provider_order_id: str | None
    status: Status | None
    raw_status: str | None
    attempts: int
    tracking_code: str | None = None
    tracking_url: str | None = None
    shipment_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class QueueStats:
    depth: int
    """Submissions in an open phase (pending … confirming): orders, and the parts of split
    orders (each at its own provider)."""
    oldest_age_s: float
    """Seconds since the oldest of them was accepted."""


@dataclass(frozen=True, slots=True)
class NewPart:
    """One part of a split order, stored with the order (`Store.insert_order`'s `parts`)."""

    part: int
    provider: str
    warehouse: str
    route_candidate: int
    lines: tuple[tuple[int, str, int], ...]
    """(index of the order line, sku, quantity) of each line this part ships."""
    reference: str
    """The provider reference of this part (`Client.reference` with its `part`)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PartRow(NewPart):
    """One part of a split order as stored: the `NewPart` it was, and its own submission
    (phases as an order's) and status."""

    id: str
    """`<order id>#<part>`."""
    order_id: str
    client_id: str
    provider_order_id: str | None
    provider_data: Mapping[str, str]
    provider_status: str | None
    tracking_code: str | None
    tracking_url: str | None
    """The part's tracking, as its provider last said it (webhook, poll, confirm)."""
    status: Status
    phase: Phase
    attempts: int
    next_attempt_at: float
    synced_at: float | None
    """When the provider's state of the part was last read (poll) or heard (webhook)."""
    last_error: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PartStep(Step):
    """One committed step of a part's submission (see `Store.advance_part`); a new `status`
    re-derives the order's status from its parts' (`lifecycle.of_parts`)."""

    phase: Phase | None = None
    status: Status | None = None
    provider_order_id: str | None = None
    provider_data: Mapping[str, str] | None = None
    provider_status: str | None = None
    tracking_code: str | None = None
    tracking_url: str | None = None
    """The part's tracking as the provider said it now; None keeps what is stored."""
    synced_at: float | None = None
