"""`FlexportReturns`: Flexport's returns API, part of the adapter (docs/providers/flexport.md).

Mixed into `FlexportAdapter`: its calls go through the adapter's one boundary (`_call`: the
path table, the transport, the problem+json mapping). Offered only with `returns_enabled`
(the account's returns approval). A create carries `idempotency-key: <return id>:create`, so
a resend after a timeout is the same return; a create whose answer was lost is found by its
`externalReturnId` (the gateway's return id) before anything is sent again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import structlog

from gateway.errors import Conflict, FieldError, Invalid, Unavailable
from gateway.model.returns import Decision, ReturnStatus
from gateway.providers.base import ProviderReturn, ReturnSubmission
from gateway.providers.flexport import translate, translate_returns
from gateway.transport import Response

if TYPE_CHECKING:
    from gateway.providers.flexport.settings import FlexportSettings

log = structlog.get_logger(__name__)

NAME = "flexport"


class FlexportReturns:
    if TYPE_CHECKING:
        settings: FlexportSettings

        async def _call(
            self,
            op: str,
            *,
            order_id: str | None = None,
            json: Any = None,
            params: Mapping[str, str] | None = None,
            headers: Mapping[str, str] | None = None,
            retry_unknown: bool,
            lines: list[int] | None = None,
        ) -> Response: ...

    def check_return(self, submission: ReturnSubmission) -> list[FieldError]:
        del submission
        return []

    async def create_return(self, submission: ReturnSubmission) -> ProviderReturn:
        body = translate_returns.to_return(
            submission.gateway_id,
            submission.ret,
            submission.order,
            submission.provider_order_id,
            reference=submission.reference,
        )
        key = translate.idempotency_key(submission.gateway_id)
        try:
            resp = await self._call(
                "return_create",
                json=body,
                headers={"idempotency-key": key},
                retry_unknown=True,  # the key makes a resend the same return
            )
        except Conflict as exc:
            # 409: the externalReturnId is taken (ours, from a lost answer) or the key runs.
            found = await self.find_return(submission)
            if found is not None:
                log.info("provider.return.adopted", provider=NAME, id=found.provider_return_id)
                return found
            raise Unavailable(
                NAME,
                f"return_create answered 409 and no return is visible yet: {exc.message}",
                outcome_unknown=True,
                code=exc.code,
                correlation_id=exc.correlation_id,
                status=exc.status,
            ) from exc
        return _one(resp, "return_create")

    async def find_return(self, submission: ReturnSubmission) -> ProviderReturn | None:
        resp = await self._call(
            "return_list",
            params={"externalReturnId": submission.gateway_id},
            retry_unknown=True,
        )
        rows = translate_returns.returns_of(resp.json())
        if rows is None:
            raise Unavailable(
                NAME,
                "return_list answered without a list",
                status=resp.status,
                correlation_id=resp.correlation_id,
            )
        mine = [r for r in rows if r.get("externalReturnId") == submission.gateway_id]
        return _provider_return(mine[0]) if mine else None

    async def get_return(self, provider_return_id: str) -> ProviderReturn:
        resp = await self._call("return_get", order_id=provider_return_id, retry_unknown=True)
        return _one(resp, "return_get")

    async def cancel_return(self, provider_return_id: str) -> ProviderReturn:
        """Refused once Flexport received the goods: `Conflict` with its reason."""
        resp = await self._call(
            "return_cancel",
            order_id=provider_return_id,
            headers={
                "idempotency-key": translate.idempotency_key(f"ret-{provider_return_id}", "cancel")
            },
            retry_unknown=True,
        )
        return _one(resp, "return_cancel")

    async def decide_return(self, provider_return_id: str, decision: Decision) -> ProviderReturn:
        # Not reached through the service (`capabilities.return_decisions` is False).
        raise Invalid(
            NAME,
            f"flexport has no merchant decision on returns ({decision.value} for "
            f"{provider_return_id})",
            code="decision-unsupported",
        )


def _one(resp: Response, op: str) -> ProviderReturn:
    ret = translate_returns.return_of(resp.json())
    if ret is None:
        raise Unavailable(
            NAME,
            f"{op} answered without a return",
            outcome_unknown=op == "return_create",
            status=resp.status,
            correlation_id=resp.correlation_id,
        )
    return _provider_return(ret)


def _provider_return(ret: dict[str, Any]) -> ProviderReturn:
    raw = str(ret["status"])
    status = translate_returns.return_status_of(raw)
    if status is None:
        log.warning("provider.return_status.unknown", provider=NAME, raw_status=raw)
        status = ReturnStatus.IN_PROGRESS
    return ProviderReturn(str(ret["id"]), status, raw)
