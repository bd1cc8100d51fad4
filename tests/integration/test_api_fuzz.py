"""Schema-driven fuzzing of the whole API: no request answers a 5xx, on SQLite and PostgreSQL.

schemathesis reads the gateway's own `/openapi.json` and sends every operation (orders,
returns, events, deliveries, routing, webhooks, operations endpoints) generated requests —
valid ones and deliberately invalid ones (wrong types, out-of-range numbers, NUL and other
odd characters) — once with a client's key and once without one. Only the absence of server
errors is checked: the document does not state every constraint yet, so a 4xx the schema did
not announce is not a failure here.

The run is reproducible (derandomized, a fixed seed, no example database) and bounded (a fixed
number of examples per operation). The gateway and its three sandboxes are served on real
ports from an event loop in a thread of their own, because schemathesis sends its requests
synchronously from the test's thread.
"""

from __future__ import annotations

import asyncio
import copy
import threading
import zlib
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest
import requests
import schemathesis
from aiohttp import web
from aiohttp.test_utils import TestServer
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig

from gateway.api.spec import openapi_document
from gateway.app import build_app
from gateway.config import Settings, parse
from tests.conftest import (
    ENV,
    FLEXPORT_RULES,
    KEYS,
    new_flexport_sandbox,
    new_logentic_sandbox,
    new_logitrail_sandbox,
    settings_dict,
)
from tests.services import PostgresDatabase

T = TypeVar("T")

SEED = 16
CONFIG = Path(__file__).parents[2] / "config"
CLIENT = {"Authorization": f"Bearer {KEYS['storefront-fi']}"}
EXAMPLES = 60
"""Generated requests per operation with a key (the coverage phase adds its boundary cases);
without a key, 5 per operation."""


@dataclass(frozen=True)
class Gateway:
    url: str
    orders: list[str]
    returns: list[str]


class Served:
    """An event loop in a thread of its own, serving aiohttp apps on real ports."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self._servers: list[TestServer] = []

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    async def serve(self, app: web.Application) -> str:
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        self._servers.append(server)
        return str(server.make_url("")).rstrip("/")

    async def _close(self) -> None:
        for server in reversed(self._servers):
            await server.close()

    def close(self) -> None:
        self.run(self._close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


def _settings(tmp: Path, urls: list[str], store_url: str) -> Settings:
    data = settings_dict(tmp, urls[0], urls[1] + "/v1", urls[2], store__url=store_url)
    # Every provider takes orders: B2B and GB go to Flexport, North America to Logentic.
    north_america = [r for r in data["routing"]["rules"] if r["name"] == "north-america"]
    data["routing"]["rules"] = [*FLEXPORT_RULES, *north_america]
    return parse(data, ENV)


def _document() -> dict[str, Any]:
    """The gateway's /openapi.json, built as it serves it (`gateway` checks that it does);
    schemathesis makes the tests from it when this module is collected."""
    unused = ["http://127.0.0.1:9"] * 3
    app = build_app(_settings(Path("unused"), unused, "sqlite:///unused.db"))
    return openapi_document(app)


DOCUMENT = _document()
SAMPLES = [
    orjson.loads((CONFIG / name).read_bytes())
    for name in ("sample-order.json", "sample-order-ca.json", "sample-order-b2b.json")
]
"""The README's sample orders, one per provider: the fixture places them, and schemathesis
starts from them (as examples) besides what it generates."""


def _with_examples(document: dict[str, Any]) -> dict[str, Any]:
    fuzzed = copy.deepcopy(document)
    for path in ("/v1/orders", "/v1/routing/explain"):
        media = fuzzed["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        media["examples"] = {f"sample-{i}": {"value": o} for i, o in enumerate(SAMPLES)}
    return fuzzed


def _schema(examples: int, *, coverage: bool) -> Any:
    config = {
        "seed": SEED,
        "request-timeout": 30,
        "generation": {
            "mode": "all",  # valid requests and invalid ones
            "max-examples": examples,
            "deterministic": True,
            "database": "none",
        },
        "phases": {"coverage": {"enabled": coverage}, "stateful": {"enabled": False}},
    }
    return schemathesis.openapi.from_dict(
        _with_examples(DOCUMENT), config=SchemathesisConfig.from_dict(config)
    )


with_key = _schema(EXAMPLES, coverage=True)
without_key = _schema(5, coverage=False)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def fuzzed_store(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def gateway(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, fuzzed_store: str
) -> Iterator[Gateway]:
    """A gateway in front of the Logitrail, Logentic and Flexport sandboxes, on real ports."""
    served = Served()
    tmp = tmp_path_factory.mktemp(f"fuzz-{fuzzed_store}")
    sandboxes = new_logitrail_sandbox(), new_logentic_sandbox(), new_flexport_sandbox()
    _logitrail, logentic, flexport = sandboxes
    try:
        store_url = f"sqlite:///{tmp}/fuzz.db"
        if fuzzed_store == "postgres":
            db: PostgresDatabase = request.getfixturevalue("postgres_db")
            store_url = served.run(db.new_schema_url())
        urls = [served.run(served.serve(s.app)) for s in sandboxes]
        gateway = served.run(served.serve(build_app(_settings(tmp, urls, store_url))))
        logentic.webhook_url = f"{gateway}/v1/webhooks/logentic"
        flexport.webhook_url = f"{gateway}/v1/webhooks/flexport"
        served_document = requests.get(f"{gateway}/openapi.json", timeout=10).json()
        assert served_document == DOCUMENT
        yield Gateway(gateway, *_place(gateway, served, _logitrail))
    finally:
        for sandbox in sandboxes:
            sandbox.release()
        served.close()


def _place(url: str, served: Served, logitrail: Any) -> tuple[list[str], list[str]]:
    """Orders at each provider and a return, for the cases that name an existing one."""
    orders = []
    for i, sample in enumerate(SAMPLES):
        # Other external ids than the examples', which the cases may then place too.
        body = {**sample, "external_id": f"PLACED-{i}"}
        headers = {**CLIENT, "Idempotency-Key": f"fuzz-{i}"}
        resp = requests.post(f"{url}/v1/orders", json=body, headers=headers, timeout=30)
        assert resp.status_code == 201, resp.text
        orders.append(resp.json()["id"])
    # Only a shipped order takes a return: Logitrail ships the first, the gateway reads it.
    first = requests.get(f"{url}/v1/orders/{orders[0]}", headers=CLIENT, timeout=30).json()

    async def ship() -> None:
        logitrail.advance(first["provider_order_id"], "processed")

    served.run(ship())
    resp = requests.post(f"{url}/v1/orders/{orders[0]}/refresh", headers=CLIENT, timeout=30)
    assert resp.json()["status"] == "shipped", resp.text
    headers = {**CLIENT, "Idempotency-Key": "fuzz-return"}
    body = {"order_id": orders[0], "remarks": "too small"}
    resp = requests.post(f"{url}/v1/returns", json=body, headers=headers, timeout=30)
    assert resp.status_code in (201, 202), resp.text
    return orders, [resp.json()["id"]]


def _aim(case: Case, gateway: Gateway) -> None:
    """Point half of the cases that name an order or a return at one that exists, so that
    their bodies get past the look-up; the others keep the generated id (nobody's)."""
    given = (case.path_parameters or {}).get("id")
    if given is None:
        return
    known = gateway.returns if case.operation.path.startswith("/v1/returns/") else gateway.orders
    pick = zlib.crc32(repr(given).encode())
    if pick % 2 == 0:
        case.path_parameters["id"] = known[pick // 2 % len(known)]


@with_key.parametrize()
def test_no_request_answers_a_server_error(case: Case, gateway: Gateway) -> None:
    _aim(case, gateway)
    case.call_and_validate(base_url=gateway.url, headers=CLIENT, checks=[not_a_server_error])


@without_key.parametrize()
def test_no_request_without_a_key_answers_a_server_error(case: Case, gateway: Gateway) -> None:
    """No key, or one schemathesis makes up for the bearer scheme: never a client's."""
    _aim(case, gateway)
    case.call_and_validate(base_url=gateway.url, checks=[not_a_server_error])
