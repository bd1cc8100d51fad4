"""Shared outbound HTTP: rate limit, Retry-After gate, retries, circuit breaker, OAuth tokens."""

from gateway.transport.auth import OAuthBearer, StaticBearer
from gateway.transport.client import ProviderTransport, Response
from gateway.transport.oauth import TokenCache

__all__ = [
    "OAuthBearer",
    "ProviderTransport",
    "Response",
    "StaticBearer",
    "TokenCache",
]
