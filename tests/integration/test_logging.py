"""Logs: the request id is on every line a request causes, secrets never are."""

from __future__ import annotations

import base64
import io
import logging
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
import structlog
from aiohttp.test_utils import TestClient, TestServer

from gateway.api.keys import STORE
from gateway.app import build_app
from gateway.config_load import parse
from gateway.observability.logging import REDACTED, configure, redact
from gateway.sandbox.logitrail import Fault as LogitrailFault
from tests.conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    ENV,
    KEYS,
    LOGENTIC_TOKEN,
    WEBHOOK_SECRET,
    LogenticHandle,
    SandboxHandle,
    auth,
    ca_order,
    order,
    read_json,
    settings_dict,
)
from tests.integration.metrics_scrape import scrape


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


HOOK_TOKEN = "lt-hook-token-4f1c"
WRONG_KEY = "not-a-real-key-0xdeadbeef"
WRONG_HOOK_TOKEN = "wrong-hook-token-77aa"


@contextmanager
def production_log(level: str) -> Iterator[io.StringIO]:
    """The production pipeline (JSON renderer, stdlib bridge, redaction) writing to a buffer."""
    buf = io.StringIO()
    old = structlog.get_config()
    root = logging.getLogger()
    handlers, root_level = root.handlers[:], root.level
    configure(level, "json", stream=buf)
    try:
        yield buf
    finally:
        structlog.configure(**old)
        root.handlers[:] = handlers
        root.setLevel(root_level)


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    with production_log("debug") as buf:
        yield buf


@pytest.fixture
def info_log() -> Iterator[io.StringIO]:
    """As in production by default: `[logging] level = "info"`."""
    with production_log("info") as buf:
        yield buf


def http_requests(log: io.StringIO) -> list[tuple[str, int, str]]:
    lines = [orjson.loads(line) for line in log.getvalue().splitlines()]
    return [(e["path"], e["status"], e["level"]) for e in lines if e["event"] == "http.request"]


async def test_probes_are_logged_at_debug_unless_they_fail(
    gateway: TestClient[Any, Any], info_log: io.StringIO
) -> None:
    for path in ("/healthz", "/readyz", "/metrics"):
        assert (await gateway.get(path)).status == 200
    assert (await gateway.get("/openapi.json")).status == 200  # public, but no probe
    # still counted as requests
    m = await scrape(gateway)
    for route in ("/healthz", "/readyz"):
        assert m.value("gateway_http_requests_total", route=route, status="200") == 1
    await gateway.server.app[STORE].close()
    assert (await gateway.get("/readyz")).status == 503
    assert http_requests(info_log) == [("/openapi.json", 200, "info"), ("/readyz", 503, "info")]


async def test_probes_are_logged_at_the_debug_level(
    gateway: TestClient[Any, Any], json_log: io.StringIO
) -> None:
    for path in ("/healthz", "/readyz", "/metrics"):
        assert (await gateway.get(path)).status == 200
    assert http_requests(json_log) == [
        ("/healthz", 200, "debug"),
        ("/readyz", 200, "debug"),
        ("/metrics", 200, "debug"),
    ]


async def test_a_full_run_logs_json_lines_without_any_secret(
    tmp_path: Path,
    logitrail: SandboxHandle,
    logentic: LogenticHandle,
    json_log: io.StringIO,
) -> None:
    data = settings_dict(tmp_path, logitrail.url, logentic.url)
    data["providers"]["logitrail"]["webhook_token_env"] = "LOGITRAIL_WEBHOOK_TOKEN"
    settings = parse(data, {**ENV, "LOGITRAIL_WEBHOOK_TOKEN": HOOK_TOKEN})
    async with TestClient(TestServer(build_app(settings))) as gw:
        logentic.sandbox.webhook_url = str(gw.make_url("/v1/webhooks/logentic"))
        # Logitrail: OAuth token, create, confirm; then a token that expired → 401 → refresh
        fi = await gw.post("/v1/orders", json=order("SEC-1"), headers=auth(key="sec-1"))
        assert fi.status == 201
        issued = _live_tokens(logitrail)
        logitrail.sandbox.expire_tokens()
        logitrail.sandbox.inject(LogitrailFault(op="confirm", status=503))  # a retry
        again = await gw.post("/v1/orders", json=order("SEC-2"), headers=auth(key="sec-2"))
        assert again.status == 201
        issued |= _live_tokens(logitrail)
        # Logentic: static bearer, signed webhooks back from the sandbox, a forged one
        ca = await read_json(
            await gw.post("/v1/orders", json=ca_order("SEC-3"), headers=auth(key="sec-3"))
        )
        await logentic.sandbox.advance(int(ca["provider_order_id"]), "IN_TRANSIT")
        await logentic.sandbox.drain_webhooks()
        forged = await logentic.sandbox.send_webhook(
            "order-completed", {"id": "evt-x", "data": {"id": 1}}, signature="00" * 32
        )
        assert forged == 401
        # Logitrail webhooks carry their secret in the URL
        fi_id = (await read_json(fi))["provider_order_id"]
        envelope = {
            "event_id": "lt-evt-1",
            "event_type": "order.updated",
            "payload": {"order": {"id": fi_id, "status": "picking"}},
        }
        hook = await gw.post(f"/v1/webhooks/logitrail?token={HOOK_TOKEN}", json=envelope)
        assert hook.status == 200
        bad = await gw.post(f"/v1/webhooks/logitrail?token={WRONG_HOOK_TOKEN}", json=envelope)
        assert bad.status == 401
        # a caller with a wrong key
        denied = await gw.get("/v1/orders", headers={"Authorization": f"Bearer {WRONG_KEY}"})
        assert denied.status == 401
        # what a library might log through the stdlib: the URL with its token, a header
        logging.getLogger("aiohttp.client").warning(
            "POST %s failed (Authorization: Bearer %s)",
            f"http://gw/v1/webhooks/logitrail?token={HOOK_TOKEN}",
            next(iter(issued)),
        )

    text = json_log.getvalue()
    lines = [orjson.loads(line) for line in text.splitlines()]  # every line is one JSON object
    events = {e["event"] for e in lines}
    assert {
        "provider.token.refreshed",
        "provider.auth.refresh_on_401",
        "provider.call.retry",
        "submission.done",
        "webhook.received",
        "webhook.rejected",
        "http.request",
    } <= events
    assert all({"event", "level", "timestamp"} <= e.keys() for e in lines)
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    secrets = {
        CLIENT_SECRET,
        LOGENTIC_TOKEN,
        WEBHOOK_SECRET,
        HOOK_TOKEN,
        WRONG_KEY,
        WRONG_HOOK_TOKEN,
        basic,
        *KEYS.values(),
        *issued,
    }
    assert len(issued) == 2  # the first token and its refresh
    leaked = sorted(s for s in secrets if s in text)
    assert leaked == []
    library = next(e for e in lines if e["event"].startswith("POST http://gw/"))
    assert library["event"] == (
        "POST http://gw/v1/webhooks/logitrail?token=[redacted] failed"
        " (Authorization: Bearer [redacted])"
    )


async def test_provider_calls_of_a_submission_name_order_provider_and_request(
    gateway: TestClient[Any, Any], captured: list[dict[str, Any]]
) -> None:
    resp = await gateway.post(
        "/v1/orders", json=order("BIND-1"), headers={**auth(key="bind-1"), "X-Request-ID": "r-b1"}
    )
    order_id = (await read_json(resp))["id"]
    calls = [e for e in captured if e["event"] == "provider.call"]
    assert {e["op"] for e in calls} >= {"create", "confirm"}
    for e in calls:
        assert e["order_id"] == order_id
        assert e["provider"] == "logitrail"
        assert e["request_id"] == "r-b1"


def test_redaction_removes_url_tokens_and_credentials_in_messages() -> None:
    event = redact(
        None,
        "info",
        {
            "event": "GET /hook?token=abc123&x=1 with Bearer eyJ.secret",
            "url": "https://h/p?api_key=k-99&page=2",
            "headers": {"Authorization": "Basic Z3c6cw==", "Accept": "application/json"},
        },
    )
    assert event["event"] == "GET /hook?token=[redacted]&x=1 with Bearer [redacted]"
    assert event["url"] == "https://h/p?api_key=[redacted]&page=2"
    assert event["headers"] == {"Authorization": REDACTED, "Accept": "application/json"}


def _live_tokens(handle: SandboxHandle) -> set[str]:
    """Access tokens the sandbox has issued and not yet forgotten (its records redact them)."""
    return set(handle.sandbox._state._tokens)


def test_redaction_hides_secret_keys_whatever_the_value_and_keeps_the_rest() -> None:
    event = redact(
        None,
        "info",
        {"event": "x", "token": 1234, "api_key": None, "count": 3, "ok": True, "id": "ord_1"},
    )
    assert event == {
        "event": "x",
        "token": REDACTED,
        "api_key": None,
        "count": 3,
        "ok": True,
        "id": "ord_1",
    }


@pytest.mark.parametrize("space", [" ", "\t", "\n"])
def test_a_bearer_value_under_an_innocent_key_is_hidden_whatever_whitespace_parts_it(
    space: str,
) -> None:
    event = redact(
        None, "info", {"event": "x", "note": f"Bearer{space}s3cr3t", "n": [f"Basic{space}abc"]}
    )
    assert "s3cr3t" not in str(event)
    assert "abc" not in str(event)


CACHED = """
import asyncio, io, sys
import structlog
from gateway.observability.logging import configure

configure("info", "json", stream=sys.stdout, cache_loggers=True)
log = structlog.get_logger("cached")

async def request(rid):
    structlog.contextvars.bind_contextvars(request_id=rid)
    log.debug("hidden")
    log.info("req.line", authorization="Bearer s3cr3t-value")
    await asyncio.sleep(0)
    log.info("req.after", note="sent with Bearer s3cr3t-value")

async def main():
    await asyncio.gather(*(asyncio.create_task(request(f"r-{i}")) for i in range(3)))

asyncio.run(main())
"""


def test_cached_loggers_keep_each_requests_id_and_redact(tmp_path: Path) -> None:
    """`gateway serve` caches its loggers: context is still merged per line, redaction and
    the level filter still apply (run in a child process: a cached logger stays cached)."""
    done = subprocess.run(
        [sys.executable, "-c", CACHED], capture_output=True, check=True, timeout=60
    )
    lines = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert sorted((e["request_id"], e["event"]) for e in lines) == sorted(
        (f"r-{i}", event) for i in range(3) for event in ("req.line", "req.after")
    )
    assert b"s3cr3t" not in done.stdout
    assert all(e["level"] == "info" for e in lines)


async def test_an_order_on_the_happy_path_writes_three_lines_at_info(
    gateway: TestClient[Any, Any], info_log: io.StringIO
) -> None:
    resp = await gateway.post("/v1/orders", json=order("LOG-3"), headers=auth(key="log-3"))
    assert resp.status == 201
    lines = [orjson.loads(line) for line in info_log.getvalue().splitlines()]
    mine = ("order.", "submission.", "http.")
    events = [e["event"] for e in lines if e["event"].startswith(mine)]
    # Each line costs the loop a render and a write: the provider's id is named once, by
    # `submission.done` (its create is logged at debug).
    assert sorted(events) == ["http.request", "order.accepted", "submission.done"]
    done = next(e for e in lines if e["event"] == "submission.done")
    assert done["provider_order_id"]
