"""Operator sign-in, stateless signed session cookies, CSRF tokens and the sign-in limit.

A session is `<operator>.<expiry>.<nonce>.<mac>`, HMAC-SHA256 under the console secret: no
table to keep or clean, and replicas given one secret (`[console] session_secret_env`) accept
each other's cookies. The CSRF token is an HMAC of the session cookie: a form must carry the
token of the very session that sends it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from gateway.clock import Clock
from gateway.config import Settings


@dataclass(frozen=True, slots=True)
class Operator:
    id: str
    tenants: frozenset[str]
    """Client ids the operator may see and act for (every configured client for `*`)."""


class Operators:
    def __init__(self, settings: Settings) -> None:
        clients = frozenset(c.id for c in settings.clients)
        self._all: list[tuple[bytes, Operator]] = []
        for op in settings.operators:
            tenants = clients if "*" in op.tenants else frozenset(op.tenants) & clients
            digest = bytes.fromhex(op.key_digest(settings.secrets))
            self._all.append((digest, Operator(op.id, tenants)))
        self._by_id = {o.id: o for _, o in self._all}

    def authenticate(self, key: str) -> Operator | None:
        """The operator of `key`; every operator's digest is compared, in constant time, so
        neither the answer nor its time tells an unknown key from a wrong one."""
        presented = hashlib.sha256(key.encode("utf-8", "replace")).digest()
        found = None
        for digest, op in self._all:
            if hmac.compare_digest(digest, presented):
                found = op
        return found

    def get(self, operator_id: str) -> Operator | None:
        return self._by_id.get(operator_id)


class Sessions:
    def __init__(self, secret: bytes | None, ttl_s: float, clock: Clock) -> None:
        self._secret = secret or secrets.token_bytes(32)
        self._ttl = ttl_s
        self._clock = clock

    @property
    def ttl_s(self) -> float:
        return self._ttl

    def issue(self, operator_id: str) -> str:
        expiry = int(self._clock.time() + self._ttl)
        body = f"{operator_id}.{expiry}.{secrets.token_urlsafe(12)}"
        return f"{body}.{self._mac('session', body)}"

    def verify(self, cookie: str | None) -> str | None:
        """The operator id of a valid, unexpired session cookie, else None."""
        if not cookie or cookie.count(".") < 3:
            return None
        body, _, mac = cookie.rpartition(".")
        if not _same(mac, self._mac("session", body)):
            return None
        operator_id, expiry, _nonce = body.rsplit(".", 2)
        if not expiry.isdigit() or int(expiry) <= self._clock.time():
            return None
        return operator_id

    def csrf(self, cookie: str) -> str:
        return self._mac("csrf", cookie)

    def csrf_ok(self, cookie: str, token: str | None) -> bool:
        return token is not None and _same(token, self.csrf(cookie))

    def _mac(self, purpose: str, text: str) -> str:
        return hmac.new(self._secret, f"{purpose}:{text}".encode(), hashlib.sha256).hexdigest()


def _same(given: str, expected: str) -> bool:
    """Constant-time equality of text a client sent (any characters) with a hex MAC;
    `compare_digest` on `str` refuses non-ASCII text with TypeError, so compare bytes."""
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())


class SignInLimit:
    """A token bucket per client address: `per_minute` attempts, refilled continuously."""

    def __init__(self, per_minute: int, clock: Clock) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(per_minute)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, address: str) -> bool:
        now = self._clock.time()
        tokens, at = self._buckets.get(address, (self._burst, now))
        tokens = min(self._burst, tokens + (now - at) * self._rate)
        if len(self._buckets) > 10_000:  # bounded: forget full buckets of the past
            self._buckets = {a: b for a, b in self._buckets.items() if b[0] < self._burst}
        if tokens < 1.0:
            self._buckets[address] = (tokens, now)
            return False
        self._buckets[address] = (tokens - 1.0, now)
        return True
