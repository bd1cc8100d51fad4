"""`LogitrailAdapter`: the only module that talks to Logitrail (docs/providers/logitrail.md).

Create leaves the order `passive`; `confirm` makes it `confirmed`, which is when the gateway
calls it submitted. A create whose answer was lost is reconciled through `find` (orders by
`merchants_order`) before it is ever sent again; a confirm whose answer was lost is retried and
an `order_not_passive` answer is settled by reading the order. Returns are the `returns` part
(`returns.py`), through the same boundary with a token of `returns_scopes`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import aiohttp
import structlog

from gateway.config import resolve_url
from gateway.errors import Conflict, FieldError, ProviderError
from gateway.observability.state import ProviderState
from gateway.providers.base import (
    Capabilities,
    ProviderEvent,
    ProviderOrder,
    ProviderOrderRef,
    Submission,
)
from gateway.providers.http import HttpProvider, settled, unanswered
from gateway.providers.logitrail import problems, translate, webhooks
from gateway.providers.logitrail.returns import LogitrailReturns
from gateway.providers.logitrail.settings import LogitrailSettings
from gateway.providers.logitrail.statuses import CONFIRMED_OR_LATER
from gateway.transport import OAuthBearer, Response
from gateway.transport.auth import Auth
from gateway.transport.oauth import TokenCache

log = structlog.get_logger(__name__)

NAME = "logitrail"


class LogitrailAdapter(HttpProvider[LogitrailSettings]):
    name = NAME
    # Every path, in one place; which of them are assumed: docs/providers/logitrail.md.
    PATHS: ClassVar[Mapping[str, tuple[str, str]]] = {
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

    def _configure(self) -> None:
        settings = self.settings
        # Webhooks only where a URL token is configured; else the route is 404.
        self.capabilities = Capabilities(
            confirm=True,
            cancel=True,
            update=True,
            webhooks=settings.webhook_token_env is not None,
            returns=settings.returns_enabled,
            return_decisions=settings.returns_enabled,
        )
        self._tokens: TokenCache | None = None
        self._returns_auth: Auth | None = None
        self.returns = LogitrailReturns(orders=self._call, returns=self._returns_call)

    # lifecycle -----------------------------------------------------------------
    def _auth(self, session: aiohttp.ClientSession) -> Auth:
        self._tokens = self._token_cache(session, self.settings.scopes)
        # Returns have a token of their own, fetched on first use: an account without the
        # returns service keeps its orders working.
        self._returns_auth = OAuthBearer(self._token_cache(session, self.settings.returns_scopes))
        return OAuthBearer(self._tokens)

    def _token_cache(self, session: aiohttp.ClientSession, scopes: list[str]) -> TokenCache:
        s = self.settings
        return TokenCache(
            NAME,
            token_url=resolve_url(s.token_url, self._ctx.self_url),
            client_id=self._secrets.reveal(s.client_id_env),
            client_secret=self._secrets.reveal(s.client_secret_env),
            scopes=scopes,
            session=session,
            clock=self._clock,
            skew_s=s.token_skew_s,
            timeout_s=s.timeout_s,
            metrics=self._ctx.metrics.provider(NAME),
            fleet=self._ctx.fleet,
        )

    def _default_headers(self) -> Mapping[str, str]:
        return {"X-Logitrail-Merchant-ID": self.settings.merchant_id}

    def _probes(self) -> bool:
        return self.settings.prefetch_token

    async def _probe(self) -> None:
        await self.tokens.token()

    def _probe_refused(self, exc: ProviderError) -> None:
        # Shown by /readyz through configuration_error; TokenCache logged the reason.
        log.warning("provider.token.prefetch_failed", provider=NAME, error=exc.kind)

    @property
    def tokens(self) -> TokenCache:
        assert self._tokens is not None, "start() first"
        return self._tokens

    def state(self) -> ProviderState:
        return self.transport.state(
            configuration_error=self.tokens.configuration_error,
            token_expires_at=self.tokens.expires_at,
        )

    # orders --------------------------------------------------------------------
    def check(self, submission: Submission) -> list[FieldError]:
        return translate.check(submission.order)

    async def create(self, submission: Submission) -> ProviderOrderRef:
        resp = await self._call(
            "create",
            json=translate.to_order(submission.order, reference=submission.reference),
            retry_unknown=False,
        )
        order_id = translate.order_id_of(resp.json())
        if order_id is None:
            # 2xx without an id: we cannot tell what Logitrail holds. Reconcile, do not resend.
            raise unanswered(
                NAME, resp, "create answered without an order_id", outcome_unknown=True
            )
        return ProviderOrderRef(order_id)

    async def find(self, submission: Submission) -> ProviderOrderRef | None:
        wanted = submission.reference
        resp = await self._call("find", params=translate.find_params(wanted), retry_unknown=True)
        ids = translate.found_ids(resp.json(), wanted)
        if ids is None:
            raise unanswered(NAME, resp, "find answered without an orders list")
        if len(ids) > 1:
            log.warning("provider.reconcile.ambiguous", provider=NAME, reference=wanted, ids=ids)
        return ProviderOrderRef(ids[0]) if ids else None

    async def confirm(self, ref: ProviderOrderRef) -> ProviderOrder:
        try:
            resp = await self._call("confirm", ident=ref.id, retry_unknown=True)
        except Conflict as exc:
            if exc.code != "order_not_passive":
                raise
            # A confirm sent before (its answer lost) already did it: read and settle.
            current = await self.get(ref)
            if current.raw_status in CONFIRMED_OR_LATER:
                return current
            raise
        return translate.confirmed_of(ref.id, resp.json())

    async def get(self, ref: ProviderOrderRef) -> ProviderOrder:
        resp = await self._call("get", ident=ref.id, retry_unknown=True)
        parsed = translate.order_of(ref.id, resp.json())
        return settled(NAME, resp, parsed, "get answered without an order")

    async def cancel(self, ref: ProviderOrderRef) -> ProviderOrder:
        """DELETE: a passive order becomes `deleted`, a confirmed one `cancelled`; too late →
        `Conflict` with Logitrail's `order_already_processing|processed|cancelled`."""
        await self._call("cancel", ident=ref.id, retry_unknown=True)
        return await self.get(ref)

    async def update(self, ref: ProviderOrderRef, submission: Submission) -> ProviderOrder:
        """`POST /orders/{id}` with the whole order; once picking started Logitrail answers
        `order_already_processing` (→ `Conflict`)."""
        await self._call(
            "update",
            ident=ref.id,
            json=translate.to_order(submission.order, reference=submission.reference),
            retry_unknown=True,
        )
        return await self.get(ref)

    # webhooks --------------------------------------------------------------------
    def webhook_precheck(self, headers: Mapping[str, str], query: Mapping[str, str]) -> None:
        webhooks.verify(query, self._reveal(self.settings.webhook_token_env))

    def webhook_events(
        self, headers: Mapping[str, str], query: Mapping[str, str], body: bytes
    ) -> list[ProviderEvent]:
        self.webhook_precheck(headers, query)  # the token is the whole check
        return webhooks.events(body)

    # the boundary ----------------------------------------------------------------
    async def _returns_call(self, op: str, **kw: Any) -> Response:
        """`_call` with the token of the returns scopes."""
        return await self._call(op, auth=self._returns_auth, **kw)

    def _problem(self, op: str, resp: Response, lines: Sequence[int] | None) -> ProviderError:
        return problems.to_error(op, resp.status, resp.json(), correlation_id=resp.correlation_id)
