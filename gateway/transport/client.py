"""`ProviderTransport`: the one outbound HTTP stack every adapter calls through.

Per attempt, from the outside in:

    Retrying (budget, full-jitter backoff, Retry-After as floor)
      └ CircuitBreaker (refuse fast while the provider is failing)
          └ RetryAfterGate (wait while the provider said "not before …")
              └ Auth (bearer/OAuth; on 401 refresh once and resend once)
                  └ RateLimiter (a slot per HTTP request, held until its answer + cap)
                      └ aiohttp ClientSession

The token is had before the rate slot is taken, and the slot is held until the answer is in:
between slot and answer is the only span in which the provider can have counted the call.

The transport never interprets a provider's error body: it returns the `Response` and the
adapter maps it onto the error tree. It raises only for what has no response — `Unavailable`
(timeouts, connection errors; `outcome_unknown` when the request may have been received),
`CircuitOpen`, and `RateLimited` when the gate stays shut past the call's budget.

A call made with `retry_unknown=False` (a create without an idempotency key) is never re-sent
once it may have reached the provider: it is retried only after failures that prove the
request was not processed (connect errors, 429). The caller reconciles the rest.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any, Required, TypedDict, Unpack

import aiohttp
import orjson
import structlog
from multidict import CIMultiDict

from gateway.clock import Clock
from gateway.config import ProviderSettings
from gateway.errors import CircuitOpen, ProviderError, Unavailable
from gateway.observability.audit import Recorder
from gateway.observability.metrics import ProviderMetrics, outcome_of_status
from gateway.observability.state import ProviderState
from gateway.transport.auth import Auth
from gateway.transport.backoff import RETRY_STATUSES, backoff_delay, parse_retry_after
from gateway.transport.circuit import CircuitBreaker
from gateway.transport.fleet import Fleet
from gateway.transport.limiter import RateLimiter
from gateway.transport.wire import Outbound, Response, record_attempt

log = structlog.get_logger(__name__)


class Sent(TypedDict, total=False):
    """What a call sends besides its route: `request`'s keywords, as its callers pass them on."""

    json: Any
    params: Mapping[str, str] | None
    headers: Mapping[str, str] | None
    retry_unknown: Required[bool]
    auth: Auth | None


class ProviderTransport:
    def __init__(
        self,
        provider: str,
        settings: ProviderSettings,
        *,
        base_url: str,
        session: aiohttp.ClientSession,
        clock: Clock,
        auth: Auth | None = None,
        default_headers: Mapping[str, str] | None = None,
        metrics: ProviderMetrics,
        fleet: Fleet,
        rng: random.Random | None = None,
        audit: Recorder | None = None,
    ) -> None:
        self.provider = provider
        self.audit = audit
        """Records each attempt made while an audit subject is set (`observability.audit`)."""
        # Required, so that no provider's calls go uncounted: `ctx.metrics.provider(name)`.
        self.metrics = metrics
        self.base_url = base_url.rstrip("/")
        self._settings = settings
        self._session = session
        self._clock = clock
        self._auth = auth
        self._default_headers = dict(default_headers or {})
        self._rng = rng or random.Random()  # noqa: S311 (jitter, not crypto)
        self.gate = fleet.gate(provider, ceiling_s=settings.retry_after_max_s, clock=clock)
        self.breaker = CircuitBreaker(
            provider,
            failure_threshold=settings.circuit.failure_threshold,
            failure_ratio=settings.circuit.failure_ratio,
            window=settings.circuit.window,
            cool_down_s=settings.circuit.cool_down_s,
            clock=clock,
        )
        self.limiter = RateLimiter(
            max_concurrency=settings.max_concurrency,
            bucket=fleet.rate_bucket(
                provider,
                max_rate=settings.rate_limit.max_rate,
                time_period=settings.rate_limit.time_period,
                clock=clock,
            ),
        )
        self.fleet = fleet.description
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        """Wall time of `last_error`."""
        self.credentials_refused: str | None = None
        """Set while the provider answers 401 to fresh credentials: an operator must act."""

    def state(
        self, *, configuration_error: str | None = None, token_expires_at: float | None = None
    ) -> ProviderState:
        """The transport's part of `Provider.state()`; the adapter adds what it alone knows."""
        gate = self.gate.remaining()
        s = self._settings
        return ProviderState(
            name=self.provider,
            circuit=self.breaker.state.value,
            configuration_error=configuration_error or self.credentials_refused,
            last_error=self.last_error,
            last_error_at=self.last_error_at,
            token_expires_at=token_expires_at,
            gate_open_at=self._clock.time() + gate if gate else None,
            in_flight=self.limiter.in_flight,
            max_concurrency=s.max_concurrency,
            max_rate=s.rate_limit.max_rate,
            time_period=s.rate_limit.time_period,
            shared=self.fleet,
        )

    async def call(
        self,
        op: str,
        route: tuple[str, str],
        *,
        error: Callable[[str, Response], ProviderError],
        order_id: str | None = None,
        **sent: Unpack[Sent],
    ) -> Response:
        """`request` to `route` = (method, path template with `{id}`); a non-2xx answer is
        raised as `error(op, response)`, the adapter's one mapping onto the error tree.
        `order_id` fills `{id}` (whatever resource the path names); `auth` as in `request`."""
        method, path = route
        if order_id is not None:
            path = path.format(id=order_id)
        resp = await self.request(op, method, path, **sent)
        if resp.ok:
            return resp
        raise error(op, resp)

    async def request(
        self,
        op: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        retry_unknown: bool,
        auth: Auth | None = None,
    ) -> Response:
        """Send one logical call (with retries); see the module docstring for what it raises.

        `auth` replaces the transport's own credentials for this call (another token scope
        set on the same account, which keeps sharing the limiter, gate and breaker).
        """
        retry = self._settings.retry
        deadline = self._clock.monotonic() + retry.budget_s
        out = self._outbound(method, path, json, params, headers, auth=auth or self._auth)
        attempt = 0
        while True:
            attempt += 1
            floor = 0.0
            started = self._clock.monotonic()
            try:
                resp = await self._attempt(op, out, deadline)
            except CircuitOpen:
                raise
            except Unavailable as exc:
                self._record(op, out, attempt, started, resp=None, exc=exc)
                if exc.outcome_unknown and not retry_unknown:
                    raise
                reason: str = exc.message
                failure: ProviderError | Response = exc
            else:
                self._record(op, out, attempt, started, resp=resp, exc=None)
                if resp.status not in RETRY_STATUSES:
                    return resp
                ra = parse_retry_after(resp.headers.get("Retry-After"), now=self._clock.time())
                if ra is not None and resp.status in (429, 503):
                    floor = self.gate.close_for(ra)
                # A 5xx may mean the provider acted on the request; 429 says it did not.
                if resp.status != 429 and not retry_unknown:
                    return resp
                reason, failure = f"HTTP {resp.status}", resp
            delay = backoff_delay(
                attempt, base=retry.base_delay_s, cap=retry.max_delay_s, rng=self._rng, floor=floor
            )
            if attempt >= retry.max_attempts or self._clock.monotonic() + delay > deadline:
                log.warning(
                    "provider.call.gave_up",
                    provider=self.provider,
                    op=op,
                    attempts=attempt,
                    reason=reason,
                )
                if isinstance(failure, Response):
                    return failure
                raise failure
            self.metrics.retry(op)
            log.info(
                "provider.call.retry",
                provider=self.provider,
                op=op,
                attempt=attempt,
                delay_s=round(delay, 3),
                reason=reason,
            )
            await self._clock.sleep(delay)

    def _record(
        self,
        op: str,
        out: Outbound,
        attempt: int,
        started: float,
        *,
        resp: Response | None,
        exc: Unavailable | None,
    ) -> None:
        c = self._clock
        record_attempt(
            self.audit,
            self.provider,
            op,
            out,
            attempt=attempt,
            started=started,
            now=c.time,
            monotonic=c.monotonic,
            resp=resp,
            exc=exc,
        )

    def _outbound(
        self,
        method: str,
        path: str,
        json: Any,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        *,
        auth: Auth | None,
    ) -> Outbound:
        sent = CIMultiDict(self._default_headers)
        sent.setdefault("Accept", "application/json")
        sent.update(headers or {})
        data = None
        if json is not None:
            data = orjson.dumps(json)
            sent["Content-Type"] = "application/json"
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        return Outbound(method, url, sent, data, params, auth)

    async def _attempt(self, op: str, out: Outbound, deadline: float) -> Response:
        try:
            self.breaker.before_call()
        except CircuitOpen:
            self.metrics.call(op, "circuit_open", None)
            raise
        started = self._clock.monotonic()
        sent = [started]  # when the last HTTP request of this attempt went out
        try:
            await self.gate.wait(deadline=deadline)
            resp = await self._send(out, deadline, sent)
        except aiohttp.ClientConnectorError as exc:
            # Never connected: the provider cannot have seen the request.
            self.breaker.record_failure()
            self.metrics.call(op, "connection_error", self._clock.monotonic() - sent[-1])
            raise self._unavailable(op, f"cannot connect: {exc.os_error!r}", unknown=False) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.breaker.record_failure()
            timed_out = isinstance(exc, TimeoutError)
            outcome = "timeout" if timed_out else "connection_error"
            self.metrics.call(op, outcome, self._clock.monotonic() - sent[-1])
            what = "timed out" if timed_out else f"failed: {exc!r}"
            raise self._unavailable(op, f"request {what}", unknown=True) from exc
        except Unavailable:
            # The token endpoint is unreachable: for callers the provider is down.
            self.breaker.record_failure()
            self.metrics.call(op, "connection_error", None)
            raise
        except BaseException:
            # Gate past budget, refused credentials, cancellation: no verdict on the provider's
            # health, but a half-open probe slot must be given back.
            self.breaker.record_neutral()
            raise
        self.metrics.call(op, outcome_of_status(resp.status), self._clock.monotonic() - sent[-1])
        if resp.status >= 500:
            self.breaker.record_failure()
            self.last_error = f"{op}: HTTP {resp.status}"
            self.last_error_at = self._clock.time()
        elif resp.status == 429:
            self.breaker.record_neutral()
        else:
            self.breaker.record_success()
        if resp.status == 401:
            self.credentials_refused = f"{op}: the provider refused the credentials (HTTP 401)"
        elif resp.ok:
            self.credentials_refused = None
        log.debug(
            "provider.call",
            provider=self.provider,
            op=op,
            status=resp.status,
            ms=round((self._clock.monotonic() - started) * 1000, 1),
            correlation_id=resp.correlation_id,
        )
        return resp

    def _unavailable(self, op: str, message: str, *, unknown: bool) -> Unavailable:
        self.last_error = f"{op}: {message}"
        self.last_error_at = self._clock.time()
        return Unavailable(self.provider, message, outcome_unknown=unknown)

    async def _send(self, out: Outbound, deadline: float, sent: list[float]) -> Response:
        auth = out.auth
        creds = await auth.headers() if auth else {}
        resp = await self._exchange(out, creds, deadline, sent)
        if resp.status == 401 and auth is not None and auth.rejected(creds):
            log.info("provider.auth.refresh_on_401", provider=self.provider)
            creds = await auth.headers()
            resp = await self._exchange(out, creds, deadline, sent)  # a call of its own
        return resp

    async def _exchange(
        self, out: Outbound, creds: Mapping[str, str], deadline: float, sent: list[float]
    ) -> Response:
        """One HTTP request under its own rate slot (a 429 that closed the gate while it
        waited for the slot sends it back to wait at the gate, the slot given back)."""
        while True:
            limit_s = max(0.05, min(self._settings.timeout_s, deadline - self._clock.monotonic()))
            async with self.limiter.request(longest_s=limit_s):
                if not await self.gate.shut():
                    sent.append(self._clock.monotonic())
                    return await self._http(out, creds, limit_s)
            await self.gate.wait(deadline=deadline)

    async def _http(self, out: Outbound, creds: Mapping[str, str], limit_s: float) -> Response:
        async with self._session.request(
            out.method,
            out.url,
            headers={**out.headers, **creds},
            data=out.data,
            params=out.params,
            timeout=aiohttp.ClientTimeout(total=limit_s),
        ) as r:
            body = await r.read()
            return Response(r.status, r.headers, body)
