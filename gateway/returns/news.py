"""What the provider said about a return, recorded: by a cancel or a decision the client
asked for, or by the poller that reads unfinished returns back."""

from __future__ import annotations

import structlog

from gateway.model.history import Source
from gateway.providers.base import ProviderReturn
from gateway.store import ReturnRow, ReturnStep, Store

log = structlog.get_logger(__name__)


async def record_news(
    store: Store,
    row: ReturnRow,
    found: ProviderReturn,
    why: str,
    *,
    source: str = Source.API,
    actor: str,
    checked_at: float | None = None,
    event: str | None = None,
) -> ReturnRow:
    row = await store.update_return(
        row.id,
        ReturnStep(
            status=found.status,
            provider_status=found.raw_status,
            decision=found.decision,
            clear_error=True,
            checked_at=checked_at,
            source=source,
            actor=actor,
            detail=f"{why}; {row.provider}: {found.raw_status}",
            event=event,
        ),
    )
    log.info("return.updated", return_id=row.id, status=row.status, why=why)
    return row
