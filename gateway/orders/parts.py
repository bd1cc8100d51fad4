"""`PartSubmitter`: drives each part of a split order to its provider, exactly once.

The phases are an order's (`gateway.submissions.provider_order`), on the part's own row: a part's
create sends the part's lines to the part's provider and warehouse under the part's own
reference (`Client.reference` with its `part`), and `creating` is committed before it, so
after a crash or a lost answer the next attempt looks the part up by that reference first and
creates only if the provider holds nothing. Each part has its own lease, attempts and
backoff; one part's trouble never holds another back.

This is the parts' share of `ProviderOrderDriver`; a part that is `done` is `submitted`, one
refused `rejected`, and either re-derives the order's status (`Store.advance_part`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from gateway.model.orders import CanonicalOrder, Phase, Status
from gateway.model.part_orders import part_order
from gateway.model.text import STORED
from gateway.observability import audit
from gateway.orders.refs import provider_ref
from gateway.providers.base import Provider, ProviderOrder, Submission
from gateway.store import NewPart, OrderReads, PartRow, PartStep, PartStore
from gateway.submissions.provider_order import ProviderOrderDriver
from gateway.submissions.stored import StoredRows

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class _Attempt:
    provider: Provider
    submission: Submission


def part_subject(part: PartRow) -> contextlib.AbstractContextManager[audit.Subject]:
    """A part's provider calls are its order's exchanges, marked with the part."""
    return audit.subject("order", part.client_id, part.order_id, part=part.part)


async def read_part(provider: Provider, part: PartRow) -> ProviderOrder:
    """The part's order as its provider holds it now (the part is at its provider)."""
    with part_subject(part):
        return await provider.get(provider_ref(part))


class PartSubmitterStore(PartStore, OrderReads, Protocol):
    """What submitting parts needs of the store."""


def part_submission(
    order_id: str, client_id: str, order: CanonicalOrder, part: PartRow | NewPart
) -> Submission:
    """A part (stored, or about to be) as its provider sees it, from its order's canonical
    `order` (as stored, or as a change would make it). Part 1 is the order's own id (an
    unsplit order and its part 1 are one thing); a later part's id is its row's, so a
    provider that keys its idempotency on the gateway id never takes two parts for one."""
    gateway_id = order_id if part.part == 1 else f"{order_id}#{part.part}"
    lines = part_order(order, part.lines)
    return Submission(gateway_id, client_id, lines, part.warehouse, part.reference)


class PartSubmitter(ProviderOrderDriver[PartRow, _Attempt, PartSubmitterStore, PartStep]):
    """Runs part submissions (one task per part, each under its own lease)."""

    task_prefix = "part"
    log_prefix = "part."
    id_field = "part_id"

    def _subject(self, row: PartRow) -> tuple[str, int | None]:
        return row.order_id, row.part  # a part's exchanges are its order's, marked with it

    def _stored(self) -> StoredRows[PartRow, PartStep]:
        st = self._store
        return StoredRows(
            st.get_part,
            st.claim_part,
            st.claim_due_parts,
            st.renew_part,
            st.release_part,
            st.advance_part,
        )

    # a part's phases -------------------------------------------------------------
    async def _prepare(self, row: PartRow) -> _Attempt | None:
        provider = self._providers.get(row.provider)
        order = await self._store.get_order(row.order_id)
        if provider is None or order is None:
            return None
        canonical = CanonicalOrder.model_validate_json(order.body, context=STORED)
        return _Attempt(provider, part_submission(row.order_id, row.client_id, canonical, row))

    async def _drive(self, row: PartRow, lease: str, work: _Attempt) -> PartRow:
        return await self._phases(row, lease, work.provider, work.submission)

    def _transition(self, phase: Phase, **fields: Any) -> PartStep:
        return PartStep(phase=phase, **fields)

    def _done(self, row: PartRow, confirmed: ProviderOrder | None) -> PartStep:
        return PartStep(
            phase=Phase.DONE,
            status=Status.SUBMITTED,
            provider_order_id=row.provider_order_id,
            provider_data=row.provider_data,
            provider_status=None if confirmed is None else confirmed.raw_status,
            # The confirm's answer may carry tracking already: kept in the same commit.
            tracking_code=None if confirmed is None else confirmed.tracking_code,
            tracking_url=None if confirmed is None else confirmed.tracking_url,
            release=True,
        )

    async def _holder(self, row: PartRow, provider_order_id: str) -> str | None:
        """Refuse a provider order another part or order holds (see `Submitter`)."""
        part = await self._store.find_part_by_provider_id(row.provider, provider_order_id)
        if part is not None and part.id != row.id:
            return part.order_id
        order = await self._store.find_by_provider_id(row.provider, provider_order_id)
        return None if order is None else order.id
