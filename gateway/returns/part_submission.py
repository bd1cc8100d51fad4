"""`ReturnPartSubmitter`: drives each part of a return spanning parts of a split order to its
provider, exactly once.

The phases are a return's (`gateway.returns.sending`), on the part's own row: a part's create
sends the part's lines against the order part's provider order, under the part's own id
(`<return id>#<part>`) and reference (`Client.reference` with its `part`), and `creating` is
committed before it, so after a crash or a lost answer the next attempt looks the part up
by that id first and creates only if the provider holds nothing. Each part has its own
lease, attempts and backoff; one part's trouble never holds another back, and each step
re-derives the return's status (`Store.advance_return_part`).
"""

from __future__ import annotations

import contextlib
from typing import Protocol

from gateway.model.orders import CanonicalOrder
from gateway.model.part_orders import part_order
from gateway.model.returns import CanonicalReturn, ReturnLine
from gateway.model.text import STORED
from gateway.observability import audit
from gateway.providers.base import ReturnSubmission
from gateway.returns.sending import ReturnDriver, Work
from gateway.store import (
    OrderReads,
    PartStore,
    ReturnPartRow,
    ReturnPartStore,
    ReturnStep,
    ReturnStore,
)
from gateway.submissions.stored import StoredRows


class ReturnSubmitterStore(ReturnStore, ReturnPartStore, OrderReads, PartStore, Protocol):
    """What submitting returns (and their parts) needs of the store."""


def return_part_subject(part: ReturnPartRow) -> contextlib.AbstractContextManager[audit.Subject]:
    """A part's provider calls are its return's exchanges, marked with the part."""
    return audit.subject("return", part.client_id, part.return_id, part=part.part)


class ReturnPartSubmitter(ReturnDriver[ReturnPartRow, ReturnSubmitterStore]):
    """Runs return part submissions (one task per part, each under its own lease)."""

    task_prefix = "return-part"
    log_prefix = "return.part."
    id_field = "return_part_id"

    def _subject(self, row: ReturnPartRow) -> tuple[str, int | None]:
        return row.return_id, row.part  # a part's exchanges are its return's, marked with it

    def _stored(self) -> StoredRows[ReturnPartRow, ReturnStep]:
        st = self._store
        return StoredRows(
            st.get_return_part,
            st.claim_return_part,
            st.claim_due_return_parts,
            st.renew_return_part,
            st.release_return_part,
            st.advance_return_part,
        )

    # a part's phases -------------------------------------------------------------
    async def _prepare(self, row: ReturnPartRow) -> Work | None:
        returns = self._returns_at(row.provider)
        ret = await self._store.get_return(row.return_id)
        if returns is None or ret is None:  # the provider left the config, or lost returns
            return None
        order = await self._store.get_order(ret.order_id)
        shipped = await self._store.find_part_by_provider_id(row.provider, row.provider_order_id)
        if order is None or shipped is None or shipped.order_id != order.id:
            return None
        canonical = CanonicalOrder.model_validate_json(order.body, context=STORED)
        body = CanonicalReturn.model_validate_json(ret.body, context=STORED)
        lines = [ReturnLine(sku=sku, quantity=quantity) for sku, quantity in row.lines]
        return returns, ReturnSubmission(
            gateway_id=row.id,
            client_id=row.client_id,
            ret=body.model_copy(update={"lines": lines}),
            order=part_order(canonical, shipped.lines),
            provider_order_id=row.provider_order_id,
            reference=row.reference,
        )
