"""Where a client's change of a return (cancel, decision) goes: the provider return it is,
or — of a return spanning parts of a split order — each part's still taking goods back, and
how what the provider said is taken in (on the return, or on the part, which re-derives the
return's status)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from gateway.errors.refusals import ReturnNotSubmitted, ReturnRejected
from gateway.model.history import Source
from gateway.model.returnable import NOT_TAKING
from gateway.model.returns import ReturnPhase
from gateway.providers.base import ProviderReturn
from gateway.returns.news import provider_said, record_news
from gateway.store import ReturnPartRow, ReturnPartStore, ReturnRow, ReturnStore


class ChangeStore(ReturnStore, ReturnPartStore, Protocol):
    """What taking a change in needs of the store."""


@dataclass(frozen=True, slots=True)
class AtProvider:
    provider: str
    provider_return_id: str
    part: ReturnPartRow | None = None
    """The return's part this provider return is; None: the return itself."""


def at_providers(row: ReturnRow, parts: Sequence[ReturnPartRow]) -> list[AtProvider]:
    """The provider returns a change of `row` (with its `parts`) goes to; `ReturnRejected`
    when the provider refused it (every part), `ReturnNotSubmitted` while one is on its way."""
    if row.phase is ReturnPhase.PARTS:
        live = [p for p in parts if p.status not in NOT_TAKING]
        if not live:
            raise ReturnRejected(f"return {row.id} was refused; nothing to change")
        for p in live:
            if p.provider_return_id is None:
                raise ReturnNotSubmitted(
                    f"return {row.id}'s part {p.part} is still being sent to {p.provider};"
                    " retry shortly"
                )
        return [AtProvider(p.provider, p.provider_return_id or "", p) for p in live]
    if row.phase is ReturnPhase.FAILED:
        raise ReturnRejected(f"return {row.id} was refused by {row.provider}; nothing to change")
    if row.provider_return_id is None:
        raise ReturnNotSubmitted(
            f"return {row.id} is still being sent to {row.provider}; retry shortly"
        )
    return [AtProvider(row.provider, row.provider_return_id)]


async def record_at(
    store: ChangeStore,
    row: ReturnRow,
    at: AtProvider,
    found: ProviderReturn,
    why: str,
    *,
    actor: str,
    event: str | None = None,
) -> None:
    """Take in what `at`'s provider said of the client's change."""
    if at.part is None:
        await record_news(store, row, found, why, actor=actor, event=event)
        return
    step = provider_said(at.provider, found, why, source=Source.API, actor=actor, event=event)
    await store.advance_return_part(at.part.id, owner=None, step=step)
