"""How a transport authenticates its calls: the `Auth` protocol and its two kinds of bearer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from gateway.transport.oauth import TokenCache


class Auth(Protocol):
    async def headers(self) -> dict[str, str]: ...

    def rejected(self, sent: Mapping[str, str]) -> bool:
        """The provider answered 401 to `sent`: drop it; True if fresh credentials may help."""
        ...


class StaticBearer:
    """A long-lived API token (Logentic, Flexport): nothing to refresh."""

    def __init__(self, token: str) -> None:
        self._headers = {"Authorization": f"Bearer {token}"}

    async def headers(self) -> dict[str, str]:
        return self._headers

    def rejected(self, sent: Mapping[str, str]) -> bool:
        return False


class OAuthBearer:
    """Bearer tokens from a `TokenCache`."""

    def __init__(self, cache: TokenCache) -> None:
        self._cache = cache

    async def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self._cache.token()}"}

    def rejected(self, sent: Mapping[str, str]) -> bool:
        value = sent.get("Authorization", "")
        self._cache.invalidate(value.removeprefix("Bearer "))
        return True
