"""Shared outbound HTTP: rate limit, Retry-After gate, retries, circuit breaker, OAuth tokens."""

from gateway.transport.auth import OAuthBearer, StaticBearer
from gateway.transport.client import ProviderTransport, Sent
from gateway.transport.oauth import TokenCache
from gateway.transport.wire import Response

__all__ = [
    "OAuthBearer",
    "ProviderTransport",
    "Response",
    "Sent",
    "StaticBearer",
    "TokenCache",
]
