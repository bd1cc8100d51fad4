"""`LogitrailReturns`: the order returns service, called through the adapter.

Its calls go through the adapter's one boundary (`_call`: the path table, the transport, the
error tree) with a token of the returns scopes. A create whose answer was lost is found again
by the return's `name`, which carries the gateway's return id (`find`), never re-sent blind.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Protocol

import structlog

from gateway.errors import Invalid, Unavailable
from gateway.model.returns import Decision, ReturnStatus
from gateway.providers.base import ProviderReturn, ReturnSubmission
from gateway.providers.logitrail import translate
from gateway.transport import Response
from gateway.transport.auth import Auth

log = structlog.get_logger(__name__)

NAME = "logitrail"


class Call(Protocol):
    def __call__(
        self,
        op: str,
        *,
        ident: str | None = None,
        json: Any = None,
        params: dict[str, str] | None = None,
        retry_unknown: bool,
        auth: Auth | None = None,
    ) -> Awaitable[Response]: ...


class LogitrailReturns:
    def __init__(self, call: Call, auth: Auth) -> None:
        self._call = call
        self._auth = auth

    async def create(self, submission: ReturnSubmission) -> ProviderReturn:
        product_ids: dict[str, str] = {}
        if submission.ret.lines is not None:
            # Logitrail takes return items by its product id: read them off the order.
            resp = await self._call("get", ident=submission.provider_order_id, retry_unknown=True)
            body = resp.json()
            product_ids = translate.product_ids_of(
                body.get("order") if isinstance(body, dict) else None
            )
            if problems := translate.unknown_skus(submission.ret, product_ids):
                raise Invalid(
                    NAME, "return lines the original order does not hold", fields=problems
                )
        payload = translate.to_return(
            submission.gateway_id,
            submission.ret,
            submission.provider_order_id,
            product_ids,
            reference=submission.reference,
        )
        resp = await self._call("return_create", json=payload, retry_unknown=False, auth=self._auth)
        return self._one(resp, "return_create", outcome_unknown=True)

    async def find(self, submission: ReturnSubmission) -> ProviderReturn | None:
        params = {
            "q": submission.gateway_id,
            "original_order_id": submission.provider_order_id,
            "limit": "500",
        }
        resp = await self._call("return_list", params=params, retry_unknown=True, auth=self._auth)
        rows = translate.returns_of(resp.json())
        if rows is None:
            raise Unavailable(
                NAME,
                "return_list answered without an order_returns list",
                status=resp.status,
                correlation_id=resp.correlation_id,
            )
        matches = [r for r in rows if r.get("name") == submission.gateway_id]
        if len(matches) > 1:
            log.warning(
                "provider.reconcile.ambiguous",
                provider=NAME,
                return_id=submission.gateway_id,
                ids=[r["id"] for r in matches],
            )
        return _provider_return(matches[-1]) if matches else None  # newest first: oldest wins

    async def get(self, provider_return_id: str) -> ProviderReturn:
        resp = await self._call(
            "return_get", ident=provider_return_id, retry_unknown=True, auth=self._auth
        )
        return self._one(resp, "return_get")

    async def cancel(self, provider_return_id: str) -> ProviderReturn:
        """409 from Logitrail (inbound already processing, or not pending/preinfo_received)
        comes back as `Conflict` carrying Logitrail's code and message."""
        resp = await self._call(
            "return_cancel", ident=provider_return_id, retry_unknown=True, auth=self._auth
        )
        return self._one(resp, "return_cancel")

    async def decide(self, provider_return_id: str, decision: Decision) -> ProviderReturn:
        resp = await self._call(
            "return_decision",
            ident=provider_return_id,
            json=translate.to_decision(decision),
            retry_unknown=True,  # setting the same decision twice is harmless
            auth=self._auth,
        )
        return self._one(resp, "return_decision")

    @staticmethod
    def _one(resp: Response, op: str, *, outcome_unknown: bool = False) -> ProviderReturn:
        ret = translate.return_of(resp.json())
        if ret is None:
            raise Unavailable(
                NAME,
                f"{op} answered without an order_return",
                outcome_unknown=outcome_unknown,
                status=resp.status,
                correlation_id=resp.correlation_id,
            )
        return _provider_return(ret)


def _provider_return(ret: dict[str, Any]) -> ProviderReturn:
    raw = str(ret["status"])
    status = translate.return_status_of(raw)
    if status is None:
        log.warning("provider.return_status.unknown", provider=NAME, raw_status=raw)
        status = ReturnStatus.IN_PROGRESS
    return ProviderReturn(str(ret["id"]), status, raw, translate.decision_of(ret))
