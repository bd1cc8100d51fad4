"""`LogitrailAdapter`: the only module that talks to Logitrail (docs/providers/logitrail.md).

Create leaves the order `passive`; `confirm` makes it `confirmed`, which is when the gateway
calls it submitted. A create whose answer was lost is reconciled through `find` (orders by
`merchants_order`) before it is ever sent again; a confirm whose answer was lost is retried and
an `order_not_passive` answer is settled by reading the order. Returns are in
`returns.py`, through the same boundary (`_call`) with a token of `returns_scopes`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import aiohttp
import structlog

from gateway.config import Secrets, resolve_url
from gateway.errors import Conflict, FieldError, ProviderError, Unavailable
from gateway.model.orders import Status
from gateway.model.returns import Decision
from gateway.observability.state import ProviderState
from gateway.providers.base import (
    Capabilities,
    ProviderContext,
    ProviderEvent,
    ProviderOrder,
    ProviderReturn,
    ReturnSubmission,
    StockSnapshot,
    Submission,
    error_for_status,
)
from gateway.providers.logitrail import translate, webhooks
from gateway.providers.logitrail.returns import LogitrailReturns
from gateway.providers.logitrail.settings import LogitrailSettings
from gateway.transport import SYSTEM_CLOCK, Clock, OAuthBearer, ProviderTransport, Response
from gateway.transport.auth import Auth
from gateway.transport.oauth import TokenCache

log = structlog.get_logger(__name__)

NAME = "logitrail"

# Every path, in one place; which of them are assumed: docs/providers/logitrail.md.
PATHS = {
    "create": ("POST", "/orders/_create"),
    "update": ("POST", "/orders/{id}"),
    "confirm": ("POST", "/orders/{id}/_confirm"),
    "get": ("GET", "/orders/{id}"),
    "find": ("GET", "/orders"),
    "cancel": ("DELETE", "/orders/{id}"),
    "return_create": ("POST", "/order-returns"),
    "return_list": ("GET", "/order-returns"),
    "return_get": ("GET", "/order-returns/{id}"),
    "return_cancel": ("POST", "/order-returns/{id}/cancel"),
    "return_decision": ("POST", "/order-returns/{id}/merchant-decision"),
}
FIND_PARAM = "merchants_order"
WARM_UP_DELAYS_S = (0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
CONFLICT_CODES = frozenset(
    {
        "order_not_passive",
        "order_already_processing",
        "order_already_processed",
        "order_already_cancelled",
    }
)


class LogitrailAdapter:
    name = NAME

    def __init__(
        self,
        settings: LogitrailSettings,
        secrets: Secrets,
        ctx: ProviderContext,
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.settings = settings
        self._secrets = secrets
        # Webhooks only where a URL token is configured; else the route is 404.
        self.capabilities = Capabilities(
            confirm=True,
            cancel=True,
            update=True,
            webhooks=settings.webhook_token_env is not None,
            returns=settings.returns_enabled,
            return_decisions=settings.returns_enabled,
        )
        self._ctx = ctx
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._tokens: TokenCache | None = None
        self._transport: ProviderTransport | None = None
        self._prefetch: asyncio.Task[None] | None = None
        self._returns: LogitrailReturns | None = None

    # lifecycle -----------------------------------------------------------------
    async def start(self) -> None:
        s = self.settings
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=s.max_concurrency + 2)
        )
        self._tokens = TokenCache(
            NAME,
            token_url=resolve_url(s.token_url, self._ctx.self_url),
            client_id=self._secrets.reveal(s.client_id_env),
            client_secret=self._secrets.reveal(s.client_secret_env),
            scopes=s.scopes,
            session=self._session,
            clock=self._clock,
            skew_s=s.token_skew_s,
            timeout_s=s.timeout_s,
            metrics=self._ctx.metrics.provider(NAME),
            fleet=self._ctx.fleet,
        )
        self._transport = ProviderTransport(
            NAME,
            s,
            base_url=resolve_url(s.base_url, self._ctx.self_url),
            session=self._session,
            clock=self._clock,
            auth=OAuthBearer(self._tokens),
            default_headers={"X-Logitrail-Merchant-ID": s.merchant_id},
            metrics=self._ctx.metrics.provider(NAME),
            fleet=self._ctx.fleet,
        )
        returns_tokens = TokenCache(
            NAME,
            token_url=resolve_url(s.token_url, self._ctx.self_url),
            client_id=self._secrets.reveal(s.client_id_env),
            client_secret=self._secrets.reveal(s.client_secret_env),
            scopes=s.returns_scopes,
            session=self._session,
            clock=self._clock,
            skew_s=s.token_skew_s,
            timeout_s=s.timeout_s,
            metrics=self._ctx.metrics.provider(NAME),
            fleet=self._ctx.fleet,
        )
        self._returns = LogitrailReturns(self._call, OAuthBearer(returns_tokens))
        if s.prefetch_token:
            self._prefetch = asyncio.create_task(self._warm_up(), name="logitrail.token.prefetch")

    async def _warm_up(self) -> None:
        """Fetch a token early so refused credentials or scopes show in /readyz at once.

        Retried while the token endpoint is unreachable (an IdP briefly down); stops at a
        definite answer. An in-process sandbox is reachable: `gateway serve` listens first.
        """
        assert self._tokens is not None
        for delay in WARM_UP_DELAYS_S:
            try:
                await self._tokens.token()
            except Unavailable:
                await asyncio.sleep(delay)
            except ProviderError as exc:
                # Shown by /readyz through configuration_error; TokenCache logged the reason.
                log.warning("provider.token.prefetch_failed", provider=NAME, error=exc.kind)
                return
            else:
                return

    async def close(self) -> None:
        if self._prefetch is not None:
            self._prefetch.cancel()
            await asyncio.gather(self._prefetch, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    @property
    def transport(self) -> ProviderTransport:
        assert self._transport is not None, "start() first"
        return self._transport

    @property
    def tokens(self) -> TokenCache:
        assert self._tokens is not None, "start() first"
        return self._tokens

    def healthy(self) -> bool:
        return self.transport.breaker.healthy()

    def state(self) -> ProviderState:
        return self.transport.state(
            configuration_error=self.tokens.configuration_error,
            token_expires_at=self.tokens.expires_at,
        )

    # operations ----------------------------------------------------------------
    def check(self, submission: Submission) -> list[FieldError]:
        return translate.check(submission.order)

    async def create(self, submission: Submission) -> str:
        resp = await self._call(
            "create",
            json=translate.to_order(submission.order, reference=submission.reference),
            retry_unknown=False,
        )
        order_id = translate.order_id_of(resp.json())
        if order_id is None:
            # 2xx without an id: we cannot tell what Logitrail holds. Reconcile, do not resend.
            raise Unavailable(
                NAME,
                "create answered without an order_id",
                outcome_unknown=True,
                status=resp.status,
                correlation_id=resp.correlation_id,
            )
        return order_id

    async def find(self, submission: Submission) -> str | None:
        wanted = submission.reference
        resp = await self._call("find", params={FIND_PARAM: wanted}, retry_unknown=True)
        body = resp.json()
        orders = body.get("orders") if isinstance(body, dict) else None
        if not isinstance(orders, list):
            raise Unavailable(
                NAME,
                "find answered without an orders list",
                status=resp.status,
                correlation_id=resp.correlation_id,
            )
        matches = [
            o
            for o in orders
            if isinstance(o, dict)
            and translate.merchants_order_of(o) == wanted
            and o.get("status") != "deleted"
            and isinstance(o.get("id"), str)
        ]
        if len(matches) > 1:
            log.warning(
                "provider.reconcile.ambiguous",
                provider=NAME,
                reference=wanted,
                ids=[o["id"] for o in matches],
            )
        return str(matches[0]["id"]) if matches else None

    async def confirm(self, provider_order_id: str) -> ProviderOrder:
        try:
            resp = await self._call("confirm", ident=provider_order_id, retry_unknown=True)
        except Conflict as exc:
            if exc.code != "order_not_passive":
                raise
            # A confirm sent before (its answer lost) already did it: read and settle.
            current = await self.get(provider_order_id)
            if current.raw_status in translate.CONFIRMED_OR_LATER:
                return current
            raise
        body = resp.json() if isinstance(resp.json(), dict) else {}
        return ProviderOrder(
            provider_order_id,
            translate.STATUSES["confirmed"],
            "confirmed",
            tracking_code=body.get("tracking_code"),
            tracking_url=body.get("tracking_url"),
        )

    async def get(self, provider_order_id: str) -> ProviderOrder:
        resp = await self._call("get", ident=provider_order_id, retry_unknown=True)
        body = resp.json()
        order = body.get("order") if isinstance(body, dict) else None
        if not isinstance(order, dict) or not isinstance(order.get("status"), str):
            raise Unavailable(
                NAME,
                "get answered without an order",
                status=resp.status,
                correlation_id=resp.correlation_id,
            )
        raw = order["status"]
        status = translate.status_of(raw)
        if status is None:
            log.warning("provider.status.unknown", provider=NAME, raw_status=raw)
            status = Status.IN_PROGRESS
        return ProviderOrder(
            provider_order_id,
            status,
            raw,
            tracking_code=order.get("tracking_code"),
            tracking_url=order.get("tracking_url"),
        )

    async def cancel(self, provider_order_id: str) -> ProviderOrder:
        """DELETE: a passive order becomes `deleted`, a confirmed one `cancelled`; too late →
        `Conflict` with Logitrail's `order_already_processing|processed|cancelled`."""
        await self._call("cancel", ident=provider_order_id, retry_unknown=True)
        return await self.get(provider_order_id)

    async def update(self, provider_order_id: str, submission: Submission) -> ProviderOrder:
        """`POST /orders/{id}` with the whole order; once picking started Logitrail answers
        `order_already_processing` (→ `Conflict`)."""
        await self._call(
            "update",
            ident=provider_order_id,
            json=translate.to_order(submission.order, reference=submission.reference),
            retry_unknown=True,
        )
        return await self.get(provider_order_id)

    def webhook_precheck(self, headers: Mapping[str, str], query: Mapping[str, str]) -> None:
        token_env = self.settings.webhook_token_env
        webhooks.verify(query, self._secrets.reveal(token_env) if token_env else None)

    def webhook_events(
        self, headers: Mapping[str, str], query: Mapping[str, str], body: bytes
    ) -> list[ProviderEvent]:
        self.webhook_precheck(headers, query)  # the token is the whole check
        return webhooks.events(body)

    async def stock(self, warehouse: str, skus: list[str]) -> StockSnapshot:
        raise NotImplementedError("logitrail reports no per-warehouse stock")

    # returns, in `LogitrailReturns` -----------------------------------------------------
    @property
    def returns(self) -> LogitrailReturns:
        assert self._returns is not None, "start() first"
        return self._returns

    def check_return(self, submission: ReturnSubmission) -> list[FieldError]:
        return translate.check_return(submission.ret)

    async def create_return(self, submission: ReturnSubmission) -> ProviderReturn:
        return await self.returns.create(submission)

    async def find_return(self, submission: ReturnSubmission) -> ProviderReturn | None:
        return await self.returns.find(submission)

    async def get_return(self, provider_return_id: str) -> ProviderReturn:
        return await self.returns.get(provider_return_id)

    async def cancel_return(self, provider_return_id: str) -> ProviderReturn:
        return await self.returns.cancel(provider_return_id)

    async def decide_return(self, provider_return_id: str, decision: Decision) -> ProviderReturn:
        return await self.returns.decide(provider_return_id, decision)

    # the boundary: HTTP answers become the error tree here, and only here -----------
    async def _call(
        self,
        op: str,
        *,
        ident: str | None = None,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        retry_unknown: bool,
        auth: Auth | None = None,
    ) -> Response:
        return await self.transport.call(
            op,
            PATHS[op],
            error=self._error,
            order_id=ident,
            json=json,
            params=params,
            retry_unknown=retry_unknown,
            auth=auth,
        )

    def _error(self, op: str, resp: Response) -> ProviderError:
        body = resp.json()
        body = body if isinstance(body, dict) else {}
        code = body.get("code") if isinstance(body.get("code"), str) else None
        message = str(body.get("message") or code or f"HTTP {resp.status}")
        if resp.status == 400 and code in CONFLICT_CODES:
            return Conflict(
                NAME, message, code=code, correlation_id=resp.correlation_id, status=resp.status
            )
        error = error_for_status(
            NAME,
            resp.status,
            code=code,
            message=f"{op}: {message}",
            correlation_id=resp.correlation_id,
            fields=translate.field_errors(code, message),
            retry_after=None,
        )
        log.info("provider.call.failed", op=op, **error.describe())
        return error
