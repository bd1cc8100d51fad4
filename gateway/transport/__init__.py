"""Shared outbound HTTP: rate limit, Retry-After gate, retries, circuit breaker, OAuth tokens."""

from gateway.transport.client import OAuthBearer, ProviderTransport, Response, StaticBearer
from gateway.transport.clock import SYSTEM_CLOCK, Clock, SystemClock
from gateway.transport.oauth import TokenCache

__all__ = [
    "SYSTEM_CLOCK",
    "Clock",
    "OAuthBearer",
    "ProviderTransport",
    "Response",
    "StaticBearer",
    "SystemClock",
    "TokenCache",
]
