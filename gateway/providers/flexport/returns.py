"""`FlexportReturns`: Flexport's returns API, the `returns` part of `FlexportAdapter`
(docs/providers/flexport.md).

Its calls go through the adapter's one boundary (`HttpProvider._call`: the path table, the
transport, the problem+json mapping). Offered only with `returns_enabled` (the account's
returns approval); Flexport has no merchant decision on returns. A create carries
`idempotency-key: <return id>:create`, so a resend after a timeout is the same return; a
create whose answer was lost is found by its `externalReturnId` (the gateway's return id)
before anything is sent again.
"""

from __future__ import annotations

import structlog

from gateway.errors import Conflict, FieldError
from gateway.providers.base import ProviderReturn, ReturnSubmission
from gateway.providers.flexport import translate_returns as wire
from gateway.providers.flexport.translate import idempotent
from gateway.providers.http import Call, settled, still_unseen, unanswered
from gateway.transport import Response

log = structlog.get_logger(__name__)

NAME = "flexport"


class FlexportReturns:
    def __init__(self, call: Call) -> None:
        self._call = call

    def check_return(self, submission: ReturnSubmission) -> list[FieldError]:
        del submission
        return []

    async def create_return(self, submission: ReturnSubmission) -> ProviderReturn:
        body = wire.to_return(
            submission.gateway_id,
            submission.ret,
            submission.order,
            submission.provider_order_id,
            reference=submission.reference,
        )
        try:
            resp = await self._call(
                "return_create",
                json=body,
                headers=idempotent(submission.gateway_id),
                retry_unknown=True,  # the key makes a resend the same return
            )
        except Conflict as exc:
            # 409: the externalReturnId is taken (ours, from a lost answer) or the key runs.
            found = await self.find_return(submission)
            if found is not None:
                log.info("provider.return.adopted", provider=NAME, id=found.provider_return_id)
                return found
            raise still_unseen(NAME, "return_create", "return", exc) from exc
        return _one(resp, "return_create")

    async def find_return(self, submission: ReturnSubmission) -> ProviderReturn | None:
        resp = await self._call(
            "return_list", params=wire.find_params(submission.gateway_id), retry_unknown=True
        )
        mine = wire.found_returns(resp.json(), submission.gateway_id)
        if mine is None:
            raise unanswered(NAME, resp, "return_list answered without a list")
        return settled(NAME, resp, mine[0], "") if mine else None

    async def get_return(self, provider_return_id: str) -> ProviderReturn:
        resp = await self._call("return_get", ident=provider_return_id, retry_unknown=True)
        return _one(resp, "return_get")

    async def cancel_return(self, provider_return_id: str) -> ProviderReturn:
        """Refused once Flexport received the goods: `Conflict` with its reason."""
        resp = await self._call(
            "return_cancel",
            ident=provider_return_id,
            headers=wire.cancel_headers(provider_return_id),
            retry_unknown=True,
        )
        return _one(resp, "return_cancel")


def _one(resp: Response, op: str) -> ProviderReturn:
    return settled(
        NAME,
        resp,
        wire.answered_return(resp.json()),
        f"{op} answered without a return",
        outcome_unknown=op == "return_create",
    )
