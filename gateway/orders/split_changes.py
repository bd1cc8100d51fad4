"""A client's change (`PATCH /v1/orders/{id}`) of a split order, part by part.

A change concerns the whole order (its recipient, address, delivery window), so every part
that will still ship is affected: cancelled and refused parts are not. It applies only where
every affected part allows it, so each is checked before any provider is asked: its
provider's rules for the part as changed (`ChangeBreaksRules`), then its state — a part
shipped or delivered, being submitted this instant, or at a provider that changes nothing
through its API makes the change `NotChangeable` naming that part, with no provider call and
the order as it was.

Then each part at its provider is sent the changed part (its lines, its warehouse); a part not
sent yet takes the change from the stored order when it is created (checked again once the
change is stored: one a submitter took meanwhile is named as possibly holding the order as
it was). The providers are
separate systems: a provider that refuses the change at that moment (too late, after all)
is not undone for the others. Those that took it keep it, the stored order is the changed one
(its history entry names the parts that took it), and the answer is `NotChangeable` naming
the part that refused. If no part took it, nothing is stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog

from gateway.errors import Conflict, Invalid, LeaseLost
from gateway.errors.refusals import ChangeBreaksRules, ChangeRejected, NotChangeable
from gateway.model.history import Source, changed_detail
from gateway.model.lifecycle import RANK
from gateway.model.orders import CanonicalOrder, Phase, Status
from gateway.orders.parts import part_subject, part_submission
from gateway.orders.refs import provider_ref
from gateway.orders.split_actions import SplitActions
from gateway.providers.base import (
    OrderUpdater,
    Provider,
    Submission,
    updater_of,
)
from gateway.store import OrderChanges as ChangeQueries
from gateway.store import OrderReads, OrderRow, PartRow, PartStep, PartStore

log = structlog.get_logger(__name__)

CHANGED_BY_CLIENT = "changed by the client"
_UNAFFECTED = (Status.CANCELLED, Status.REJECTED)
"""A part in these statuses ships nothing: a change does not concern it."""


class SplitChangeStore(OrderReads, ChangeQueries, PartStore, Protocol):
    """What changing a split order needs of the store."""


@dataclass(frozen=True, slots=True)
class _Planned:
    part: PartRow
    submission: Submission
    updater: OrderUpdater | None
    """None: the part is not at its provider yet (it takes the stored order when created)."""


def _named(part: PartRow) -> str:
    return f"part {part.part} ({part.provider} {part.warehouse})"


@dataclass(frozen=True, slots=True)
class SplitChanges(SplitActions):
    """A client's change of a split order, besides its refresh and cancel."""

    store: SplitChangeStore

    async def change(
        self, row: OrderRow, order: CanonicalOrder, *, changed: Sequence[str], actor: str
    ) -> OrderRow:
        """Apply the changed canonical `order` to every affected part of the split order `row`
        (see the module docstring); the order as stored afterwards."""
        affected = [
            p for p in await self.store.parts_of(row.id, latest=True) if p.status not in _UNAFFECTED
        ]
        planned = [_plan(order, part, self.providers) for part in affected]
        for plan in planned:  # the providers' rules first, as for an order that is not split
            provider = self.providers.get(plan.part.provider)
            if provider is not None and (problems := provider.check(plan.submission)):
                raise ChangeBreaksRules.broken("change", plan.part.provider, problems)
        blocked = [
            f"{_named(p.part)}: {why}"
            for p in planned
            if (why := await self._why_not(p)) is not None
        ]
        if blocked:
            raise _not_changeable(row, blocked)

        took: list[int] = []
        refused: list[str] = []
        sent = [p for p in planned if p.updater is not None]
        for plan in sent:
            part = plan.part
            assert plan.updater is not None
            try:
                with part_subject(part):
                    result = await plan.updater.update(provider_ref(part), plan.submission)
            except Conflict as exc:
                refused.append(f"{_named(part)}: {exc.message}")
                await self._learn_quietly(part, actor=actor)
                continue
            except Invalid as exc:
                if not took and not refused:
                    # The changed order itself is refused (an unknown value), before any part
                    # took it: the caller's input, as for an order that is not split.
                    raise rejected_change(row.id, part.provider, exc) from None
                refused.append(f"{_named(part)}: {exc.message}")
                continue
            took.append(part.part)
            await self._news(part, result, CHANGED_BY_CLIENT, (Source.API, actor))
        if sent and not took:
            raise _not_changeable(await self.store.get_order(row.id) or row, refused)
        unsent = [p.part for p in planned if p.updater is None]
        took.extend(part.part for part in unsent)
        detail = changed_detail(changed) + f" (parts {', '.join(map(str, sorted(took)))})"
        stored = await self.store.replace_body(
            row.id,
            order.model_dump_json(),
            queued_only=False,
            actor=actor,
            changed=changed,
            detail=detail,
            now=self.clock.time(),
        )
        current = stored or await self.store.get_order(row.id) or row
        for part in unsent:
            # A part not sent yet takes the stored order when its create reads it: certain if it
            # is still unsent and not leased now that the change is stored. One a submitter took
            # meanwhile (the background round, while the providers were asked) may have read the
            # order as it was.
            if await self._still_unsent(part):
                continue
            took.remove(part.part)
            refused.append(
                f"{_named(part)}: it was being sent to its provider as the change was made and may"
                " hold the order as it was; send the change again once it is there"
            )
        log.info("order.changed", order_id=row.id, parts=sorted(took), refused=len(refused))
        if refused:
            took_text = ", ".join(map(str, sorted(took))) or "none"
            raise _not_changeable(current, [*refused, f"the change was made to parts {took_text}"])
        return current

    async def _why_not(self, plan: _Planned) -> str | None:
        """Why the part cannot take the change, or None if it can."""
        part = plan.part
        if part.status is Status.DELIVERED or RANK.get(part.status, 0) >= RANK[Status.SHIPPED]:
            return f"the part is {part.status} already"
        if part.phase is Phase.PENDING:
            if await self._still_unsent(part):
                return None
            return "the part is being submitted to its provider: try again shortly"
        if part.phase is not Phase.DONE or part.provider_order_id is None:
            return f"the part is {part.status} ({part.phase}): try again shortly"
        if plan.updater is None:
            return f"{part.provider} does not change orders through its API"
        return None

    async def _learn_quietly(self, part: PartRow, *, actor: str) -> None:
        """After a part's refusal, read the state that caused it (best effort)."""
        provider = self.providers.get(part.provider)
        if provider is None or part.provider_order_id is None:
            return
        try:
            await self.refresh_part(provider, part, "read after a refusal", by=(Source.API, actor))
        except Exception:  # the refusal is the answer; a failed read must not hide it
            log.warning(
                "order.part_refresh_failed", order_id=part.order_id, part=part.part, exc_info=True
            )

    async def _still_unsent(self, part: PartRow) -> bool:
        """Whether `part` is `pending` and nobody leases it at this instant (a no-op step that
        only commits then)."""
        try:
            await self.store.advance_part(
                part.id, owner=None, step=PartStep(), unsent_at=self.clock.time()
            )
        except LeaseLost:
            return False
        return True


def _plan(order: CanonicalOrder, part: PartRow, providers: Mapping[str, Provider]) -> _Planned:
    submission = part_submission(part.order_id, part.client_id, order, part)
    provider = providers.get(part.provider)
    at_provider = part.phase is Phase.DONE and part.provider_order_id is not None
    updater = updater_of(provider) if at_provider and provider is not None else None
    return _Planned(part, submission, updater)


def rejected_change(order_id: str, provider: str, exc: Invalid) -> ChangeRejected:
    """The provider refuses the changed order itself (an unknown value): the caller's input,
    refused like `provider.check`'s findings, not a gateway fault."""
    return ChangeRejected(
        f"{provider}: {exc.message}",
        order_id=order_id,
        provider=provider,
        provider_code=exc.code,
        fields=exc.fields,
    )


def _not_changeable(row: OrderRow, reasons: Sequence[str]) -> NotChangeable:
    return NotChangeable(
        "; ".join(reasons),
        order_id=row.id,
        order_status=row.status.value,
        provider=row.provider,
    )
