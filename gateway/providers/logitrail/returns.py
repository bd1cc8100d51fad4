"""`LogitrailReturns`: the order returns service, the `returns` part of `LogitrailAdapter`.

Its calls go through the adapter's one boundary (`HttpProvider._call`: the path table, the
transport, the error tree): the original order is read with the orders token, every returns
call carries a token of the returns scopes. A create whose answer was lost is found again by
the return's `name`, which carries the gateway's return id (`find_return`), never re-sent
blind.
"""

from __future__ import annotations

import structlog

from gateway.errors import FieldError, Invalid
from gateway.model.returns import Decision
from gateway.providers.base import ProviderReturn, ReturnSubmission
from gateway.providers.http import Call, settled, unanswered
from gateway.providers.logitrail import translate_returns as wire
from gateway.transport import Response

log = structlog.get_logger(__name__)

NAME = "logitrail"


class LogitrailReturns:
    def __init__(self, *, orders: Call, returns: Call) -> None:
        self._orders = orders
        self._call = returns

    def check_return(self, submission: ReturnSubmission) -> list[FieldError]:
        return wire.check_return(submission.ret)

    async def create_return(self, submission: ReturnSubmission) -> ProviderReturn:
        product_ids: dict[str, str] = {}
        if submission.ret.lines is not None:
            # Logitrail takes return items by its product id: read them off the order.
            resp = await self._orders("get", ident=submission.provider_order_id, retry_unknown=True)
            product_ids = wire.order_product_ids(resp.json())
            if problems := wire.unknown_skus(submission.ret, product_ids):
                raise Invalid(
                    NAME, "return lines the original order does not hold", fields=problems
                )
        payload = wire.to_return(
            submission.gateway_id,
            submission.ret,
            submission.provider_order_id,
            product_ids,
            reference=submission.reference,
        )
        resp = await self._call("return_create", json=payload, retry_unknown=False)
        return _one(resp, "return_create", outcome_unknown=True)

    async def find_return(self, submission: ReturnSubmission) -> ProviderReturn | None:
        params = wire.find_params(submission.gateway_id, submission.provider_order_id)
        resp = await self._call("return_list", params=params, retry_unknown=True)
        matches = wire.found_returns(resp.json(), submission.gateway_id)
        if matches is None:
            raise unanswered(NAME, resp, "return_list answered without an order_returns list")
        if len(matches) > 1:
            log.warning(
                "provider.reconcile.ambiguous",
                provider=NAME,
                return_id=submission.gateway_id,
                ids=[m.value.provider_return_id for m in matches],
            )
        # Newest first: the oldest wins.
        return settled(NAME, resp, matches[-1], "") if matches else None

    async def get_return(self, provider_return_id: str) -> ProviderReturn:
        resp = await self._call("return_get", ident=provider_return_id, retry_unknown=True)
        return _one(resp, "return_get")

    async def cancel_return(self, provider_return_id: str) -> ProviderReturn:
        """409 from Logitrail (inbound already processing, or not pending/preinfo_received)
        comes back as `Conflict` carrying Logitrail's code and message."""
        resp = await self._call("return_cancel", ident=provider_return_id, retry_unknown=True)
        return _one(resp, "return_cancel")

    async def decide_return(self, provider_return_id: str, decision: Decision) -> ProviderReturn:
        resp = await self._call(
            "return_decision",
            ident=provider_return_id,
            json=wire.to_decision(decision),
            retry_unknown=True,  # setting the same decision twice is harmless
        )
        return _one(resp, "return_decision")


def _one(resp: Response, op: str, *, outcome_unknown: bool = False) -> ProviderReturn:
    missing = f"{op} answered without an order_return"
    return settled(
        NAME, resp, wire.answered_return(resp.json()), missing, outcome_unknown=outcome_unknown
    )
