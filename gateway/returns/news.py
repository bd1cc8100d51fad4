"""What the provider said about a return, taken in: by its submission, by a cancel or a
decision the client asked for, or by the poller that reads unfinished returns back."""

from __future__ import annotations

from typing import Any

import structlog

from gateway.model.history import Source
from gateway.providers.base import ProviderReturn
from gateway.store import ReturnRow, ReturnStep, ReturnStore

log = structlog.get_logger(__name__)


def provider_said(
    provider: str, found: ProviderReturn, why: str | None = None, **step: Any
) -> ReturnStep:
    """A step that takes `provider`'s answer in: its status (canonical and its own) and
    decision, the last error cleared; `step` adds the rest."""
    said = f"{provider}: {found.raw_status}"
    return ReturnStep(
        status=found.status,
        provider_status=found.raw_status,
        decision=found.decision,
        clear_error=True,
        detail=f"{why}; {said}" if why else said,
        **step,
    )


async def record_news(
    store: ReturnStore,
    row: ReturnRow,
    found: ProviderReturn,
    why: str,
    *,
    source: str = Source.API,
    actor: str,
    checked_at: float | None = None,
    event: str | None = None,
) -> ReturnRow:
    step = provider_said(
        row.provider, found, why, checked_at=checked_at, source=source, actor=actor, event=event
    )
    row = await store.update_return(row.id, step)
    log.info("return.updated", return_id=row.id, status=row.status, why=why)
    return row
