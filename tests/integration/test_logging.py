"""Logs: the request id is on every line a request causes, secrets never are."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from aiohttp.test_utils import TestClient

from gateway.observability.logging import REDACTED, redact
from tests.conftest import CLIENT_SECRET, KEYS, auth, order


@pytest.fixture
def captured() -> Iterator[list[dict[str, Any]]]:
    """Events as the real pipeline shapes them (contextvars merged, redaction applied)."""
    lines: list[dict[str, Any]] = []

    def keep(_logger: Any, _method: str, event: Any) -> Any:
        lines.append(dict(event))
        raise structlog.DropEvent

    old = structlog.get_config()
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, redact, keep],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
    )
    try:
        yield lines
    finally:
        structlog.configure(**old)


async def test_every_line_of_a_request_carries_its_request_id(
    gateway: TestClient[Any, Any], captured: list[dict[str, Any]]
) -> None:
    resp = await gateway.post(
        "/v1/orders",
        json=order("LOG-1"),
        headers={**auth(key="log-1"), "X-Request-ID": "req-abc-123"},
    )
    assert resp.status == 201
    mine = [e for e in captured if e.get("request_id") == "req-abc-123"]
    events = {e["event"] for e in mine}
    assert {"order.accepted", "submission.created", "submission.done", "http.request"} <= events
    # nothing the request caused is logged without it (start-up lines have no request)
    caused = [e for e in captured if e["event"].startswith(("order.", "submission.", "http."))]
    assert all(e.get("request_id") == "req-abc-123" for e in caused)


async def test_secrets_are_never_logged(
    gateway: TestClient[Any, Any], captured: list[dict[str, Any]]
) -> None:
    await gateway.post("/v1/orders", json=order("LOG-2"), headers=auth(key="log-2"))
    structlog.get_logger("test").info(
        "probe",
        authorization="Bearer abc.def",
        client_secret=CLIENT_SECRET,
        note="header was Bearer xyz123",
    )
    text = repr(captured)
    assert CLIENT_SECRET not in text
    assert KEYS["storefront-fi"] not in text
    assert "abc.def" not in text
    assert "xyz123" not in text
    probe = next(e for e in captured if e["event"] == "probe")
    assert probe["authorization"] == REDACTED
    assert probe["note"] == "header was Bearer [redacted]"
