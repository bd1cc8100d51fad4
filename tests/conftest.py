"""Shared fixtures: real sandboxes on real sockets, the real gateway app in front of them."""

from __future__ import annotations

import asyncio
import base64
import copy
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.api.keys import STORE
from gateway.app import build_app
from gateway.config import Settings
from gateway.config_load import parse
from gateway.observability.logging import configure
from gateway.sandbox.flexport import FlexportSandbox
from gateway.sandbox.logentic import LogenticSandbox
from gateway.sandbox.logitrail import LogitrailSandbox, SandboxClient
from gateway.sandbox.simulators import DEMO_PRODUCTS
from gateway.store import Store
from tests.services import PostgresDatabase, Unavailable, postgres_session, redis_session
from tests.unit.fakes import SkipAheadClock

configure("warning", "console")

CLIENT_ID = "gw-test"
CLIENT_SECRET = "s3cret-test"
MERCHANT = "M-TEST"
KEYS = {"storefront-fi": "key-fi", "storefront-se": "key-se"}
LOGENTIC_TOKEN = "lgt-test-token"
WEBHOOK_SECRET = "whk-test-secret"
LOGITRAIL_WEBHOOK_TOKEN = "lt-hook-token"
SUBSCRIBER_SECRET = "whsec_" + base64.b64encode(b"subscriber-secret-32-bytes-long!").decode()
FLEXPORT_TOKEN = "fx-test-token"
FLEXPORT_WEBHOOK_SECRET = "fx-webhook-secret"
ENV = {
    "LOGITRAIL_WEBHOOK_TOKEN": LOGITRAIL_WEBHOOK_TOKEN,
    "SUB_SECRET": SUBSCRIBER_SECRET,
    "FLEXPORT_TOKEN": FLEXPORT_TOKEN,
    "FLEXPORT_WEBHOOK_SECRET": FLEXPORT_WEBHOOK_SECRET,
    "LOGENTIC_API_TOKEN": LOGENTIC_TOKEN,
    "LOGENTIC_WEBHOOK_SECRET": WEBHOOK_SECRET,
    "LOGITRAIL_CLIENT_ID": CLIENT_ID,
    "LOGITRAIL_CLIENT_SECRET": CLIENT_SECRET,
    "KEY_FI": KEYS["storefront-fi"],
    "KEY_SE": KEYS["storefront-se"],
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--regen-golden",
        action="store_true",
        help="rewrite golden files from the current translation (review the diff!)",
    )


SAMPLE_ORDER: dict[str, Any] = {
    "external_id": "SHOP-1001",
    "kind": "d2c",
    "channel": "web-fi",
    "ordered_at": "2026-11-20T10:00:00Z",
    "currency": "EUR",
    "language": "fi",
    "recipient": {
        "first_name": "Aino",
        "last_name": "Virtanen",
        "company": None,
        "email": "aino@example.com",
        "phone": "+358401234567",
    },
    "address": {
        "line1": "Mannerheimintie 1",
        "line2": None,
        "postal_code": "00100",
        "city": "Helsinki",
        "region": None,
        "country_code": "FI",
    },
    "delivery": {"type": "home", "pickup_point_id": None, "speed": "standard"},
    "lines": [
        {
            "sku": "TSHIRT-M",
            "quantity": 2,
            "name": "T-shirt M",
            "unit_price": "19.90",
            "tax_percent": "25.5",
            "gtin": "06430012345678",
            "weight_g": 180,
            "dimensions_mm": [250, 30, 200],
        }
    ],
    "not_before": None,
    "not_after": None,
    "tags": ["vip"],
    "metadata": {"cart": "c-77"},
}


def order(external_id: str = "SHOP-1001", **changes: Any) -> dict[str, Any]:
    """A valid canonical order body (the README's sample order) with top-level changes."""
    body = copy.deepcopy(SAMPLE_ORDER)
    body["external_id"] = external_id
    body.update(changes)
    return body


def ref(external_id: str, client: str = "storefront-fi") -> str:
    """The reference a provider is given for a tenant's `external_id` (tenant-qualified)."""
    return f"{client}/{external_id}"


def auth(client: str = "storefront-fi", key: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {KEYS[client]}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers


def new_logitrail_sandbox(**kw: Any) -> LogitrailSandbox:
    scopes = frozenset(
        {"orders:read", "orders:manage", "order_returns:read", "order_returns:manage"}
    )
    return LogitrailSandbox(
        clients=[SandboxClient(CLIENT_ID, CLIENT_SECRET, scopes)], merchant_id=MERCHANT, **kw
    )


@dataclass
class SandboxHandle:
    sandbox: LogitrailSandbox
    url: str


@dataclass
class LogenticHandle:
    sandbox: LogenticSandbox
    url: str
    """The base URL of the API (`…/v1`)."""


CA_ITEMS = {"TSHIRT-M": 28000, "MUG": 28001}


def new_logentic_sandbox(**kw: Any) -> LogenticSandbox:
    sandbox = LogenticSandbox(
        token=LOGENTIC_TOKEN,
        webhook_secret=WEBHOOK_SECRET,
        warehouses={1: "MTL", 2: "TOR"},
        per_page=5,
        **kw,
    )
    for sku in CA_ITEMS:
        sandbox.add_item(sku, stock={1: 50, 2: 50})
    return sandbox


@pytest.fixture
def clock() -> SkipAheadClock:
    """The time of the gateway under test and of the sandboxes: real time, which a test skips
    ahead (`await clock.advance(s)`) instead of sleeping."""
    return SkipAheadClock()


@pytest.fixture
async def logentic(clock: SkipAheadClock) -> AsyncIterator[LogenticHandle]:
    sandbox = new_logentic_sandbox(clock=clock.time)
    server = TestServer(sandbox.app)
    await server.start_server()
    try:
        yield LogenticHandle(sandbox, str(server.make_url("/v1")))
    finally:
        sandbox.release()
        await server.close()


def ca_order(external_id: str = "CA-1", **changes: Any) -> dict[str, Any]:
    """A valid canonical order that routes to Logentic (Canada, with email/phone/region)."""
    body = order(external_id, currency="CAD", language="fr")
    body["address"] = {
        "line1": "4606 Test Avenue",
        "line2": "Suite 440",
        "postal_code": "H2R 2Y8",
        "city": "Montreal",
        "region": "QC",
        "country_code": "CA",
    }
    body["lines"] = [
        {
            "sku": "TSHIRT-M",
            "quantity": 2,
            "unit_price": "24.90",
            "weight_g": 180,
            "dimensions_mm": [250, 30, 200],
        }
    ]
    body.update(changes)
    return body


@dataclass
class FlexportHandle:
    sandbox: FlexportSandbox
    url: str
    """The `base_url` (paths are `/logistics/api/2026-02/…` below it)."""


def new_flexport_sandbox(**kw: Any) -> FlexportSandbox:
    sandbox = FlexportSandbox(
        tokens={FLEXPORT_TOKEN: None}, webhook_token=FLEXPORT_WEBHOOK_SECRET, **kw
    )
    for merchant_sku, (logistics_sku, name) in DEMO_PRODUCTS.items():
        sandbox.add_product(merchant_sku, logistics_sku=logistics_sku, name=name)
    return sandbox


@pytest.fixture
async def flexport(clock: SkipAheadClock) -> AsyncIterator[FlexportHandle]:
    sandbox = new_flexport_sandbox(clock=clock.time)
    server = TestServer(sandbox.app)
    await server.start_server()
    try:
        yield FlexportHandle(sandbox, str(server.make_url("")).rstrip("/"))
    finally:
        sandbox.release()
        await server.close()


def gb_order(external_id: str = "GB-1", **changes: Any) -> dict[str, Any]:
    """A valid canonical D2C order that routes to Flexport under `FLEXPORT_RULES`."""
    body = order(external_id, currency="GBP", language="en")
    body["address"] = {
        "line1": "10 Downing Street",
        "line2": None,
        "postal_code": "SW1A 2AA",
        "city": "London",
        "region": None,
        "country_code": "GB",
    }
    body["lines"] = [
        {"sku": "TSHIRT-M", "quantity": 2, "unit_price": "19.90", "gtin": "06430012345678"}
    ]
    body.update(changes)
    return body


def b2b_order(external_id: str = "WH-1", **changes: Any) -> dict[str, Any]:
    """A valid canonical B2B order (a US retailer's DC) for Flexport's outbound API."""
    body = order(external_id, kind="b2b", currency="USD", language="en")
    body["recipient"] = {**body["recipient"], "company": "Retail DC 7"}
    body["address"] = {
        "line1": "1 Distribution Way",
        "line2": "Dock 4",
        "postal_code": "89502",
        "city": "Reno",
        "region": "NV",
        "country_code": "US",
    }
    body["lines"] = [
        {"sku": "TSHIRT-M", "quantity": 24},
        {"sku": "MUG", "quantity": 12},
        {"sku": "TSHIRT-M", "quantity": 6},
    ]
    body.update(changes)
    return body


FLEXPORT_RULES: list[dict[str, Any]] = [
    {
        "name": "wholesale",
        "when": {"kind": "b2b"},
        "candidates": [{"provider": "flexport", "warehouse": "reserve"}],
    },
    {
        "name": "nordics",
        "when": {"country": ["FI", "SE", "NO", "DK"]},
        "candidates": [{"provider": "logitrail", "warehouse": "FI-VANTAA"}],
    },
    {
        "name": "uk",
        "when": {"country": "GB"},
        "candidates": [{"provider": "flexport", "warehouse": "auto"}],
    },
]
"""Routing for Flexport tests (`routing__rules=FLEXPORT_RULES`): B2B to the outbound API,
GB to D2C orders; the default rules stay as they are for every other test."""


@pytest.fixture
async def logitrail(clock: SkipAheadClock) -> AsyncIterator[SandboxHandle]:
    sandbox = new_logitrail_sandbox(clock=clock.time)
    server = TestServer(sandbox.app)
    await server.start_server()
    try:
        yield SandboxHandle(sandbox, str(server.make_url("")).rstrip("/"))
    finally:
        sandbox.release()
        await server.close()


def settings_dict(
    tmp_path: Path,
    logitrail_url: str,
    logentic_url: str | None = None,
    flexport_url: str | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "server": {"request_budget_s": 5.0, "shutdown_timeout_s": 1.0},
        "store": {"url": f"sqlite:///{tmp_path}/gateway.db"},
        "clients": [
            {"id": "storefront-fi", "key_env": "KEY_FI"},
            {"id": "storefront-se", "key_env": "KEY_SE"},
        ],
        "providers": {
            "logitrail": {
                "base_url": logitrail_url,
                "token_url": f"{logitrail_url}/realms/logitrail/token",
                "client_id_env": "LOGITRAIL_CLIENT_ID",
                "client_secret_env": "LOGITRAIL_CLIENT_SECRET",
                "merchant_id": MERCHANT,
                "scopes": ["orders:read", "orders:manage"],
                "rate_limit": {"max_rate": 1000, "time_period": 1.0},
                "max_concurrency": 50,
                "timeout_s": 5,
                "retry": {
                    "max_attempts": 4,
                    "base_delay_s": 0.01,
                    "max_delay_s": 0.1,
                    "budget_s": 10,
                },
                "warehouses": {"FI-VANTAA": {}},
            }
        },
        "routing": {
            "rules": [
                {
                    "name": "nordics",
                    "when": {"country": ["FI", "SE", "NO", "DK"]},
                    "candidates": [{"provider": "logitrail", "warehouse": "FI-VANTAA"}],
                }
            ],
        },
        "submission": {
            "lease_s": 3,
            "poll_interval_s": 0.05,
            "backoff_base_s": 0.05,
            "backoff_max_s": 0.5,
        },
    }
    if logentic_url is not None:
        data["providers"]["logentic"] = {
            "base_url": logentic_url,
            "token_env": "LOGENTIC_API_TOKEN",
            "webhook_secret_env": "LOGENTIC_WEBHOOK_SECRET",
            "rate_limit": {"max_rate": 1000, "time_period": 1.0},
            "max_concurrency": 50,
            "timeout_s": 5,
            "retry": {"max_attempts": 4, "base_delay_s": 0.01, "max_delay_s": 0.1, "budget_s": 10},
            "warehouses": {"MTL": {"warehouse_id": 1}, "TOR": {"warehouse_id": 2}},
            "per_page": 5,  # small pages, so every list crosses page boundaries
        }
        data["routing"]["rules"].append(
            {
                "name": "north-america",
                "when": {"country": ["CA", "US"]},
                "stock_aware": True,
                "candidates": [
                    {"provider": "logentic", "warehouse": "MTL"},
                    {"provider": "logentic", "warehouse": "TOR"},
                ],
            }
        )
    if flexport_url is not None:
        data["providers"]["flexport"] = {
            "base_url": flexport_url,
            "api_version": "2026-02",
            "token_env": "FLEXPORT_TOKEN",
            "webhook_secret_env": "FLEXPORT_WEBHOOK_SECRET",
            "rate_limit": {"max_rate": 1000, "time_period": 1.0},
            "max_concurrency": 50,
            "timeout_s": 5,
            "retry": {"max_attempts": 4, "base_delay_s": 0.01, "max_delay_s": 0.1, "budget_s": 10},
            "warehouses": {"auto": {"kind": "d2c"}, "reserve": {"kind": "b2b"}},
            "probe_token": False,  # its start-up call would show in every request count
        }
    for dotted, value in overrides.items():
        target = data
        *path, last = dotted.split("__")
        for part in path:
            target = target.setdefault(part, {})
        target[last] = value
    return data


def make_settings(
    tmp_path: Path,
    logitrail_url: str,
    logentic_url: str | None = None,
    flexport_url: str | None = None,
    **overrides: Any,
) -> Settings:
    """Settings as the config file would give them; `a__b=v` sets key b of table a."""
    return parse(
        settings_dict(tmp_path, logitrail_url, logentic_url, flexport_url, **overrides), ENV
    )


@pytest.fixture
def gateway_store_url(tmp_path: Path) -> str:
    """The store of the gateway under test: SQLite. A module that redefines this fixture as
    `store_url` runs every test of it on every backend."""
    return f"sqlite:///{tmp_path}/gateway.db"


@pytest.fixture
async def make_gateway(
    tmp_path: Path,
    logitrail: SandboxHandle,
    logentic: LogenticHandle,
    flexport: FlexportHandle,
    gateway_store_url: str,
    clock: SkipAheadClock,
) -> AsyncIterator[Callable[..., Any]]:
    """Start a gateway (real app, real socket, on the test's `clock`) against the Logitrail,
    Logentic and Flexport sandboxes. Logentic's and Flexport's webhooks are pointed at the
    gateway started last.
    """
    clients: list[TestClient[Any, Any]] = []

    async def start(
        *, wrap_store: Callable[[Store], Store] | None = None, **overrides: Any
    ) -> TestClient[Any, Any]:
        """`wrap_store`: puts something around the real store before anything uses it."""
        overrides.setdefault("store__url", gateway_store_url)
        settings = make_settings(tmp_path, logitrail.url, logentic.url, flexport.url, **overrides)
        app = build_app(settings, clock=clock)
        if wrap_store is not None:
            wrap = wrap_store

            async def wrapped(app: web.Application) -> AsyncIterator[None]:
                app[STORE] = wrap(app[STORE])
                yield

            app.cleanup_ctx.insert(1, wrapped)  # right after the store is opened
        client = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        logentic.sandbox.webhook_url = str(client.make_url("/v1/webhooks/logentic"))
        flexport.sandbox.webhook_url = str(client.make_url("/v1/webhooks/flexport"))
        return client

    try:
        yield start
    finally:
        logitrail.sandbox.release()
        flexport.sandbox.release()
        for client in reversed(clients):
            await client.close()


@pytest.fixture
async def gateway(make_gateway: Callable[..., Any]) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = await make_gateway()
    return client


def order_calls(handle: SandboxHandle) -> list[str]:
    """Ops the sandbox received other than token requests (a prefetch may make one)."""
    return [r.op for r in handle.sandbox.requests if r.op != "token"]


async def read_json(resp: aiohttp.ClientResponse) -> Any:
    return await resp.json(content_type=None)


# Real services (tests/services.py) -------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_db() -> Iterator[PostgresDatabase]:
    """This session's own PostgreSQL database (local server, or a throw-away cluster)."""
    try:
        with postgres_session() as db:
            yield db
    except Unavailable as exc:
        pytest.skip(f"no PostgreSQL: {exc}")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """A Redis URL (local server, or a throw-away redis-server)."""
    try:
        with redis_session() as url:
            yield url
    except Unavailable as exc:
        pytest.skip(f"no Redis: {exc}")


@pytest.fixture(params=["sqlite", "postgres"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store URL on each backend: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/store.db"
    db: PostgresDatabase = request.getfixturevalue("postgres_db")
    return await db.new_schema_url()


@pytest.fixture
async def redis_prefix(redis_server: str) -> AsyncIterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    from redis.asyncio import Redis  # noqa: PLC0415

    prefix = f"gwtest-{uuid.uuid4().hex[:10]}"
    yield prefix
    client = Redis.from_url(redis_server)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 5.0) -> Any:
    """Poll `check` until it returns something truthy (returned), failing after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, "condition never held"
        await asyncio.sleep(0.03)
