"""`HttpProvider`: what every HTTP adapter shares, so that an adapter holds only its calls.

Lifecycle: `start` opens one aiohttp session and the adapter's `ProviderTransport` (limits,
retries, breaker, auth); where the adapter `_probes`, it then checks the credentials in the
background, so that refused ones show in `/readyz` at once; `close` undoes both. `healthy`
and `state` read the transport.

The boundary: every call goes through `_call` (the adapter's `PATHS` table, the transport). A
non-2xx answer becomes the error tree in `_error`, and only there: the adapter's `_problem`
(its package's pure `problems.py`) says which error, `_error` logs it once. A 2xx answer is
read by the package's pure `translate.py`; what it cannot read is `unanswered`, what it read
is `settled` (an unknown status logged).
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Mapping, Sequence
from typing import ClassVar, Generic, Protocol, TypeVar, Unpack

import aiohttp
import structlog

from gateway.config import ProviderSettings, resolve_url
from gateway.errors import Conflict, ProviderError, Unavailable
from gateway.model.secrets import Secrets
from gateway.observability.state import ProviderState
from gateway.providers.base import Capabilities, Parsed, ProviderReturn
from gateway.providers.spec import ProviderContext
from gateway.transport import ProviderTransport, Response, Sent
from gateway.transport.auth import Auth

log = structlog.get_logger(__name__)

PROBE_DELAYS_S = (0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
"""Waits between start-up probes while the provider is unreachable (an IdP briefly down)."""

S = TypeVar("S", bound=ProviderSettings)
V = TypeVar("V")


class Call(Protocol):
    """`HttpProvider._call`, as a part composed into an adapter (its returns) is given it."""

    def __call__(
        self,
        op: str,
        *,
        ident: str | None = None,
        lines: Sequence[int] | None = None,
        **sent: Unpack[Sent],
    ) -> Awaitable[Response]: ...


class HttpProvider(ABC, Generic[S]):
    name: str
    PATHS: ClassVar[Mapping[str, tuple[str, str]]]
    """op → (method, path template with `{id}`): every path the adapter calls."""
    capabilities: Capabilities

    def __init__(self, settings: S, secrets: Secrets, ctx: ProviderContext) -> None:
        self.settings = settings
        self._secrets = secrets
        self._ctx = ctx
        self._clock = ctx.clock
        self._session: aiohttp.ClientSession | None = None
        self._transport: ProviderTransport | None = None
        self._probing: asyncio.Task[None] | None = None
        self._configure()

    # what an adapter says about itself ---------------------------------------------------
    @abstractmethod
    def _configure(self) -> None:
        """Build what this adapter holds from its settings: `capabilities` first, then its
        caches and parts (called once, at construction; nothing is connected yet)."""

    @abstractmethod
    def _auth(self, session: aiohttp.ClientSession) -> Auth:
        """The credentials every call carries (built once the session exists)."""

    @abstractmethod
    def _problem(self, op: str, resp: Response, lines: Sequence[int] | None) -> ProviderError:
        """The error a non-2xx answer to `op` is. `lines[i]`: the canonical line of sent
        item `i`, where the call sent an order's (merged) lines."""

    def _base_url(self) -> str:
        return resolve_url(self.settings.base_url, self._ctx.self_url)

    def _default_headers(self) -> Mapping[str, str] | None:
        return None

    def _path_id(self, ident: str) -> str:
        """`ident` as it fills a path's `{id}`."""
        return ident

    def _probes(self) -> bool:
        """Whether `start` runs `_probe` in the background."""
        return False

    async def _probe(self) -> None:
        """One call that proves the credentials (and scopes) work."""

    def _probe_refused(self, exc: ProviderError) -> None:
        """The provider refused the probe for good (the transport or token cache said why)."""

    def _answered(self, op: str) -> None:
        """`op` answered 2xx."""

    # lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        s = self.settings
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=s.max_concurrency + 2)
        )
        self._transport = ProviderTransport(
            self.name,
            s,
            base_url=self._base_url(),
            session=self._session,
            clock=self._clock,
            auth=self._auth(self._session),
            default_headers=self._default_headers(),
            metrics=self._ctx.metrics.provider(self.name),
            fleet=self._ctx.fleet,
            audit=self._ctx.audit,
        )
        if self._probes():
            self._probing = asyncio.create_task(
                self._probe_until_answered(), name=f"{self.name}.token.probe"
            )

    async def _probe_until_answered(self) -> None:
        """Retried while the provider is unreachable; stops at a definite answer. An
        in-process sandbox is reachable: `gateway serve` listens first."""
        for delay in PROBE_DELAYS_S:
            try:
                await self._probe()
            except Unavailable:
                await self._clock.sleep(delay)
            except ProviderError as exc:
                self._probe_refused(exc)
                return
            else:
                return

    async def close(self) -> None:
        if self._probing is not None:
            self._probing.cancel()
            await asyncio.gather(self._probing, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    @property
    def transport(self) -> ProviderTransport:
        assert self._transport is not None, "start() first"
        return self._transport

    def healthy(self) -> bool:
        return self.transport.breaker.healthy()

    def state(self) -> ProviderState:
        return self.transport.state()

    def _reveal(self, env: str | None) -> str | None:
        """The secret named by an optional `*_env` key, or None where it is not set."""
        return self._secrets.reveal(env) if env else None

    # the boundary: HTTP answers become the error tree here, and only here ---------------
    async def _call(
        self,
        op: str,
        *,
        ident: str | None = None,
        lines: Sequence[int] | None = None,
        **sent: Unpack[Sent],
    ) -> Response:
        """`op` of `PATHS`, `ident` filling its `{id}`; `auth` replaces the transport's own
        credentials for this call (another token scope set on the same account)."""
        resp = await self.transport.call(
            op,
            self.PATHS[op],
            error=lambda op, resp: self._error(op, resp, lines),
            order_id=None if ident is None else self._path_id(ident),
            **sent,
        )
        self._answered(op)
        return resp

    def _error(self, op: str, resp: Response, lines: Sequence[int] | None) -> ProviderError:
        error = self._problem(op, resp, lines)
        log.info("provider.call.failed", op=op, **error.describe())
        return error


def still_unseen(provider: str, op: str, what: str, exc: Conflict) -> Unavailable:
    """A create refused as taken (409) whose result cannot be found (yet): the outcome is
    unknown, so it is reconciled later rather than sent again now."""
    return Unavailable(
        provider,
        f"{op} answered 409 and no {what} is visible yet: {exc.message}",
        outcome_unknown=True,
        code=exc.code,
        correlation_id=exc.correlation_id,
        status=exc.status,
    )


def unanswered(
    provider: str, resp: Response, message: str, *, outcome_unknown: bool = False
) -> Unavailable:
    """A 2xx answer without what the call needs (`message`): nothing to act on."""
    return Unavailable(
        provider,
        message,
        outcome_unknown=outcome_unknown,
        status=resp.status,
        correlation_id=resp.correlation_id,
    )


def settled(
    provider: str,
    resp: Response,
    parsed: Parsed[V] | None,
    missing: str,
    *,
    outcome_unknown: bool = False,
    **context: object,
) -> V:
    """What a pure parser read from `resp`; `unanswered(missing)` where it read nothing. A
    status the provider's table lacks is logged, with `context`."""
    if parsed is None:
        raise unanswered(provider, resp, missing, outcome_unknown=outcome_unknown)
    if parsed.unknown_status is not None:
        table = "return_status" if isinstance(parsed.value, ProviderReturn) else "status"
        log.warning(
            f"provider.{table}.unknown",
            provider=provider,
            **context,
            raw_status=parsed.unknown_status,
        )
    return parsed.value
