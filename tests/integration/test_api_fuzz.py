"""Schema-driven fuzzing of the whole API with every check, on SQLite and PostgreSQL.

schemathesis reads the gateway's own `/openapi.json` and sends every operation (orders,
returns, events, deliveries, routing, webhooks, operations endpoints) generated requests —
valid ones and deliberately invalid ones (wrong types, out-of-range numbers, NUL and other
odd characters, missing headers, other methods) — once with a client's key and once without
one, and runs all its checks on each answer (`CHECKS`): no server error; each status, content
type, header and body as the document gives it (problems included); a request the document
allows is accepted and one it refuses is refused. So the document says what the API
enforces, and a client generated from it sends nothing the API refuses for its shape.

The run is reproducible (derandomized, a fixed seed, no example database) and bounded (a fixed
number of examples per operation). The gateway and its three sandboxes are served on real
ports from an event loop in a thread of their own, because schemathesis sends its requests
synchronously from the test's thread.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import re
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
from schemathesis.checks import CHECKS as ALL_CHECKS
from schemathesis.checks import CheckContext
from schemathesis.config import SchemathesisConfig
from schemathesis.core.transport import Response
from schemathesis.specs.openapi.checks import positive_data_acceptance

from gateway.api.spec import openapi_document
from gateway.app import build_app
from gateway.config import Settings
from gateway.config_load import parse
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
EXAMPLES = 100
"""Generated requests per operation with a key (the coverage phase adds its boundary cases);
without a key, `EXAMPLES_WITHOUT_KEY`."""
EXAMPLES_WITHOUT_KEY = 10


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


def _schema(examples: int, *, coverage: bool, key: bool) -> Any:
    config: dict[str, Any] = {
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
    if key:
        # Given as the document's security scheme, so schemathesis knows a case carries it
        # (a header added by hand would turn its no-credentials cases into valid ones).
        config["auth"] = {"openapi": {"clientKey": {"bearer": KEYS["storefront-fi"]}}}
    return schemathesis.openapi.from_dict(
        _with_examples(DOCUMENT), config=SchemathesisConfig.from_dict(config)
    )


with_key = _schema(EXAMPLES, coverage=True, key=True)
without_key = _schema(EXAMPLES_WITHOUT_KEY, coverage=False, key=False)


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
    their bodies get past the look-up; the others keep the generated id (nobody's). Give half
    of the valid idempotency keys a number of their own, so that their bodies get past the
    key (generated keys repeat: `0`, `00`…); the others may replay or be reused."""
    given = (case.path_parameters or {}).get("id")
    if given is not None:
        known = (
            gateway.returns if case.operation.path.startswith("/v1/returns/") else gateway.orders
        )
        pick = zlib.crc32(repr(given).encode())
        if pick % 2 == 0:
            case.path_parameters["id"] = known[pick // 2 % len(known)]
    key = (case.headers or {}).get("Idempotency-Key")
    if isinstance(key, str) and KEY.fullmatch(key) and (n := next(_KEYS_GIVEN)) % 2 == 0:
        case.headers["Idempotency-Key"] = f"{key[:200]}~{n}"


_KEYS_GIVEN = itertools.count()
KEY = re.compile(
    next(
        p["schema"]["pattern"]
        for p in DOCUMENT["paths"]["/v1/orders"]["post"]["parameters"]
        if p["name"] == "Idempotency-Key"
    )
)


BEYOND_THE_SCHEMA = frozenset(
    {
        "unroutable",  # no routing rule takes the order (the configuration's rules)
        "provider-rules",  # the routed provider's own rules (a pickup point's id, a SKU)
        "provider-rejected",  # the provider refused it
        "idempotency-key-reused",  # the key was first used with another body
        "order-not-found",  # a return of an order the caller does not have
        "returns-unsupported",  # the order's provider takes no returns
        "decision-unsupported",  # the return's provider takes no such decision
        "routing-invalid",  # a replay's proposal, checked as check-config checks a file
    }
)
"""422 codes of rules about the world, not the request's shape, which no JSON schema can
state: a schema-valid request may meet one. A `validation` problem is one of them only when
every error in it names such a rule (`UNSTATED_RULES`)."""
UNSTATED_RULES = frozenset({"date_window", "metadata_size", None})
"""`date_window`: between two fields; `metadata_size`: bytes of JSON; no rule: one of the order
a request refers to (what it has left to return, a pinned warehouse)."""


def positive_data_acceptance_but_stated_rules(
    ctx: CheckContext, response: Response, case: Case
) -> bool | None:
    """schemathesis' `positive_data_acceptance`, but for a 422 of `BEYOND_THE_SCHEMA`.

    Its expected statuses leave out 422, the status of a request whose shape is fine but
    that breaks a rule no schema states. A 400, or a 422 `validation` naming a shape rule, for
    a request the document allows is still a failure."""
    if response.status_code == 422:
        problem = orjson.loads(response.content)
        rules = {e.get("rule") for e in problem.get("errors", [])}
        if problem["code"] in BEYOND_THE_SCHEMA or (
            problem["code"] == "validation" and rules <= UNSTATED_RULES
        ):
            return None
    return positive_data_acceptance(ctx, response, case)


CHECKS = [
    *(check for check in ALL_CHECKS.get_all() if check is not positive_data_acceptance),
    positive_data_acceptance_but_stated_rules,
]
"""Every check schemathesis has: a server error, a status or content type or header the
document does not give, an answer that does not conform to its schema, a schema-valid request
refused (`positive_data_acceptance`, see above) or an invalid one accepted, a missing required
header or an unsupported method not refused, a request without credentials not refused. The
stateful ones (`use_after_free`, `ensure_resource_availability`, `object_level_authorization`)
find nothing to compare outside the stateful phase, which is off: they pass."""


@with_key.parametrize()
def test_every_request_is_answered_as_the_document_says(case: Case, gateway: Gateway) -> None:
    _aim(case, gateway)
    case.call_and_validate(base_url=gateway.url, checks=CHECKS)


@without_key.parametrize()
def test_every_request_without_a_key_is_answered_as_the_document_says(
    case: Case, gateway: Gateway
) -> None:
    """No key, or one schemathesis makes up for the bearer scheme: never a client's."""
    _aim(case, gateway)
    case.call_and_validate(base_url=gateway.url, checks=CHECKS)
