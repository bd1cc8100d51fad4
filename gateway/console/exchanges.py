"""Where the order page reads an order's provider exchanges from (the audit trail).

One small protocol, so that the audit trail can be plugged in without the console knowing its
store; the default has nothing to show.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from aiohttp import web


class ExchangeSource(Protocol):
    async def __call__(self, order_id: str) -> Sequence[dict[str, Any]]:
        """Exchange dicts: time, operation, method, path, response_status, latency_ms, attempt,
        outcome, request_body, response_body, request_truncated, response_truncated,
        correlation_id."""
        ...


async def no_exchanges(order_id: str) -> Sequence[dict[str, Any]]:
    del order_id  # nothing recorded to look up
    return []


EXCHANGES = web.AppKey("console_exchanges", ExchangeSource)
