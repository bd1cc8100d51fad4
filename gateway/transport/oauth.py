"""`TokenCache`: OAuth2 client-credentials tokens, one per (account, scope set).

- Client id and secret go in HTTP Basic; scopes space-separated in the form body (RFC 6749).
- Refreshed `skew` seconds before `expires_in` runs out (the provider says lifetimes vary).
- Single flight: however many callers need a token at once, one token request is made.
- On a 401 the caller hands back the token that failed; only if it is still the current one
  is it dropped, so fifty concurrent 401s cause one refresh, not fifty.
- `invalid_scope` is a configuration error: remembered and shown in `/readyz`, never worked
  around by asking for fewer scopes (the provider's docs warn that leads to 403s later).
- With a shared `Fleet` (Redis), the token is the fleet's: looked up there first, fetched by
  one replica under a short lock while the others wait for it, dropped there after a 401.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field

import aiohttp
import orjson
import structlog

from gateway.clock import Clock
from gateway.errors import ConfigurationError, ProviderError, Unauthorized, Unavailable
from gateway.observability.metrics import ProviderMetrics
from gateway.transport.fleet import Fleet, SharedToken, SharedTokens

log = structlog.get_logger(__name__)

FLEET_POLL_S = 0.05
"""How often a replica waiting for another's token fetch looks for the result."""


@dataclass(frozen=True, slots=True)
class Token:
    value: str = field(repr=False)
    """The bearer token: out of `repr`, so a logged or printed `Token` never carries it."""
    expires_at: float
    """Monotonic time after which the token is not used any more (expiry minus skew)."""
    wall_expires_at: float


class TokenCache:
    def __init__(
        self,
        provider: str,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        scopes: list[str],
        session: aiohttp.ClientSession,
        clock: Clock,
        skew_s: float = 30.0,
        metrics: ProviderMetrics,
        timeout_s: float = 10.0,
        fleet: Fleet | None = None,
    ) -> None:
        self._provider = provider
        self._metrics = metrics
        self._url = token_url
        self._basic = aiohttp.encode_basic_auth(client_id, client_secret)
        self._scope = " ".join(scopes)
        self._session = session
        self._clock = clock
        self._skew = skew_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._timeout_s = timeout_s
        self._token: Token | None = None
        self._lock = asyncio.Lock()
        # The fleet's copy is named by account and scopes, never by anything secret.
        identity = hashlib.sha256(f"{token_url}\0{client_id}\0{self._scope}".encode()).hexdigest()
        self._shared: SharedTokens | None = (
            fleet.tokens(provider, identity[:24]) if fleet is not None else None
        )
        self._refused: str | None = None
        self.requests = 0
        """Token requests made (observable by tests and `/v1/providers`)."""
        self.configuration_error: str | None = None

    @property
    def expires_at(self) -> float | None:
        """Wall time the current token expires, for operators (never the token itself)."""
        return self._token.wall_expires_at if self._token else None

    def _valid(self) -> Token | None:
        token = self._token
        if token is not None and self._clock.monotonic() < token.expires_at:
            return token
        return None

    async def token(self) -> str:
        if (token := self._valid()) is not None:
            return token.value
        async with self._lock:
            # Whoever held the lock may have fetched one while we waited.
            if (token := self._valid()) is not None:
                return token.value
            if self._shared is None:
                self._token = await self._fetch()
            else:
                self._token = await self._fleet_token(self._shared)
            return self._token.value

    def invalidate(self, value: str) -> None:
        """Forget `value` if it is still current (called after a 401 with it)."""
        if self._token is not None and self._token.value == value:
            self._token = None
            self._refused = value

    async def _fleet_token(self, shared: SharedTokens) -> Token:
        if self._refused is not None:
            await shared.forget(self._refused)
            self._refused = None
        lock_s = self._timeout_s + 5.0
        give_up = self._clock.monotonic() + lock_s
        while True:
            if (found := await shared.load()) is not None:
                return self._adopt(found)
            lock = await shared.try_lock(lock_s)
            if lock is not None:
                try:
                    # Whoever held the lock before us may have stored one meanwhile.
                    if (found := await shared.load()) is not None:
                        return self._adopt(found)
                    token = await self._fetch()
                    ttl = token.expires_at - self._clock.monotonic()
                    await shared.store(SharedToken(token.value, ttl, token.wall_expires_at))
                    return token
                finally:
                    await shared.unlock(lock)
            if self._clock.monotonic() >= give_up:
                # The replica fetching it is stuck or gone: do not wait on it any longer.
                log.warning("provider.token.fleet_wait_timeout", provider=self._provider)
                return await self._fetch()
            await self._clock.sleep(FLEET_POLL_S)

    def _adopt(self, shared: SharedToken) -> Token:
        return Token(shared.value, self._clock.monotonic() + shared.ttl_s, shared.wall_expires_at)

    async def _fetch(self) -> Token:
        self.requests += 1
        try:
            token = await self._request()
        except ProviderError:
            self._metrics.token_refresh(ok=False)
            raise
        self._metrics.token_refresh(ok=True)
        return token

    async def _request(self) -> Token:
        form = {"grant_type": "client_credentials"}
        if self._scope:
            form["scope"] = self._scope
        try:
            async with self._session.post(
                self._url,
                data=form,
                timeout=self._timeout,
                headers={"Accept": "application/json", "Authorization": self._basic},
            ) as resp:
                raw = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning(
                "provider.token.unreachable", provider=self._provider, error=type(exc).__name__
            )
            raise Unavailable(self._provider, f"token endpoint unreachable: {exc!r}") from exc
        body = _json_object(raw)
        if status == 200 and isinstance(body.get("access_token"), str):
            expires_in = _number(body.get("expires_in"), default=300.0)
            # Short-lived tokens get proportionally less skew, so they are still usable.
            skew = min(self._skew, expires_in / 10)
            now = self._clock.monotonic()
            self.configuration_error = None
            log.info(
                "provider.token.refreshed",
                provider=self._provider,
                expires_in_s=expires_in,
                scope=body.get("scope"),
            )
            return Token(
                str(body["access_token"]), now + expires_in - skew, self._clock.time() + expires_in
            )
        raise self._error(status, body)

    def _error(self, status: int, body: dict[str, object]) -> ProviderError:
        code = str(body.get("error") or f"http_{status}")
        description = str(body.get("error_description") or code)
        if code == "invalid_scope":
            self.configuration_error = (
                f"token endpoint refused scopes [{self._scope}]: {description}"
            )
            log.error(
                "provider.token.invalid_scope",
                provider=self._provider,
                scopes=self._scope,
                detail=description,
            )
            return ConfigurationError(
                self._provider, self.configuration_error, code=code, status=status
            )
        if code in ("invalid_client", "unauthorized_client") or status == 401:
            self.configuration_error = f"token endpoint refused the client credentials ({code})"
            log.error("provider.token.invalid_client", provider=self._provider, code=code)
            return Unauthorized(self._provider, self.configuration_error, code=code, status=status)
        if status >= 500 or status == 429:
            return Unavailable(
                self._provider, f"token endpoint answered {status}", code=code, status=status
            )
        self.configuration_error = f"token endpoint answered {status} {code}: {description}"
        log.error("provider.token.refused", provider=self._provider, status=status, code=code)
        return ConfigurationError(
            self._provider, self.configuration_error, code=code, status=status
        )


def _json_object(raw: bytes) -> dict[str, object]:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _number(value: object, *, default: float) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    if isinstance(value, str):
        try:
            return max(1.0, float(value))
        except ValueError:
            return default
    return default
