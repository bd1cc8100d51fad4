"""Shared outbound HTTP: rate limit, Retry-After gate, retries, circuit breaker, OAuth tokens."""

from gateway.transport.auth import OAuthBearer, StaticBearer
from gateway.transport.client import ProviderTransport, Response
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
