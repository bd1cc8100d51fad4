"""Client authentication: `Authorization: Bearer <client key>` → a tenant (`Client`).

Keys are kept only as SHA-256 digests; a presented key is hashed and looked up, so no code
path compares secrets character by character.
"""

from __future__ import annotations

import hashlib

from aiohttp import web

from gateway.api.spec import operation_of
from gateway.config import Settings
from gateway.errors import ProblemError
from gateway.model.clients import Client

CLIENT = web.RequestKey("client", Client)


class ClientKeys:
    def __init__(self, settings: Settings) -> None:
        self._by_digest: dict[str, Client] = {}
        for c in settings.clients:
            digest = c.key_digest(settings.secrets)
            self._by_digest[digest] = Client(c.id, frozenset(c.scopes), c.prefix)

    def authenticate(self, header: str | None) -> Client:
        if not header:
            raise _unauthorized("missing Authorization header: send Authorization: Bearer <key>")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise _unauthorized("Authorization must be Bearer <key>")
        try:
            presented = key.strip().encode()
        except UnicodeEncodeError:
            # Bytes that are not UTF-8 (aiohttp keeps them as surrogates) are no one's key.
            presented = None
        client = None if presented is None else self._by_digest.get(_digest(presented))
        if client is None:
            raise _unauthorized("unknown client key")
        return client


def require(request: web.Request) -> Client:
    """The authenticated client, if it holds at least one of the scopes its route is
    described with (`describe(scopes=...)`, which documents them; else 403)."""
    client = request[CLIENT]
    op = operation_of(request.match_info.route)
    scopes = op.scopes if op is not None else ()
    if scopes and not any(client.may(s) for s in scopes):
        raise ProblemError(
            403,
            "forbidden",
            "This client lacks the scope for this call",
            detail=f"needs one of: {', '.join(scopes)}",
        )
    return client


def _digest(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(
        401,
        "unauthorized",
        "Authentication required",
        detail=detail,
        headers={"WWW-Authenticate": 'Bearer realm="gateway"'},
    )
