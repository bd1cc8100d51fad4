"""Submit path benchmark: through the gateway vs. straight to the provider, in one run.

The Logitrail sandbox and `gateway serve` run as separate processes on loopback; this process
is the load generator. "Direct" is what a storefront would do without the gateway: create +
confirm with a cached OAuth token. "Gateway" is `POST /v1/orders` doing the same two calls plus
auth, validation, idempotency, routing and its durable SQLite commits. "Replay" resends a
gateway order with its Idempotency-Key (answered from the store, no provider call). "Floor" is
the same POST to bench/floor.py, an empty aiohttp relay (validate, translate, create + confirm,
201): what any relay in this stack costs, so the gateway's own work can be told from the extra
hop. The machine is noisy, so the report gives ratios of numbers measured in this run; direct,
gateway and floor alternate in rounds to share the noise.

    python -m bench [--orders 2000] [--orders-c1 300] [--max-seconds 60]
                    [--store postgresql://…] [--profile | --py-spy]

Writes bench/results/latest.json, bench/results/latest.png and bench/report.md.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench.cost import Cost, Meter
from bench.load import Call, Sample, drive
from bench.processes import Child, free_port, python, started
from bench.profiles import PySpy, cprofile_top, pyspy_top
from bench.provider import CLIENT_ID, CLIENT_SECRET, MERCHANT
from bench.report import chart, markdown
from gateway.model.clients import provider_reference
from gateway.model.orders import CanonicalOrder
from gateway.providers.logitrail.translate import to_order

KEY = "bench-client-key"
RESULTS = Path("bench/results")
ROUNDS = 2

CONFIG = """
[server]
host = "127.0.0.1"
request_budget_s = 10

[store]
url = "{store}"

[logging]
level = "info"
format = "json"

[[clients]]
id = "bench"
key_env = "BENCH_KEY"

[providers.logitrail]
base_url = "{sandbox}"
token_url = "{sandbox}/realms/logitrail/token"
client_id_env = "LT_ID"
client_secret_env = "LT_SECRET"
merchant_id = "{merchant}"
rate_limit = {{ max_rate = 100000, time_period = 1.0 }}
max_concurrency = 64
warehouses = {{ FI-VANTAA = {{}} }}

[routing.default]
provider = "logitrail"
warehouse = "FI-VANTAA"
"""


def canonical(external_id: str) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "currency": "EUR",
        "recipient": {
            "first_name": "Aino",
            "last_name": "Virtanen",
            "email": "aino@example.com",
            "phone": "+358401234567",
        },
        "address": {
            "line1": "Mannerheimintie 1",
            "postal_code": "00100",
            "city": "Helsinki",
            "country_code": "FI",
        },
        "lines": [{"sku": "TSHIRT-M", "quantity": 2, "unit_price": "19.90", "weight_g": 180}],
    }


def provider_body(external_id: str) -> bytes:
    """Exactly what the gateway's own translation sends for `canonical(external_id)` (its
    reference qualified by the bench client, as the gateway's is)."""
    order = CanonicalOrder.model_validate(canonical(external_id))
    return orjson.dumps(to_order(order, reference=provider_reference("bench", external_id)))


class Sides:
    """The four kinds of call, each numbered so every order is distinct."""

    def __init__(
        self, http: aiohttp.ClientSession, sandbox: str, gateway: str, floor: str, token: str
    ):
        self.http, self.sandbox, self.gateway, self.floor = http, sandbox, gateway, floor
        self.provider_headers = {
            "Authorization": f"Bearer {token}",
            "X-Logitrail-Merchant-ID": MERCHANT,
            "Content-Type": "application/json",
        }

    def direct(self, tag: str) -> Call:
        async def call(i: int) -> bool:
            async with self.http.post(
                f"{self.sandbox}/orders/_create",
                data=provider_body(f"{tag}-{i}"),
                headers=self.provider_headers,
            ) as resp:
                if resp.status != 201:
                    return False
                oid = (await resp.json())["order_id"]
            async with self.http.post(
                f"{self.sandbox}/orders/{oid}/_confirm", headers=self.provider_headers
            ) as resp:
                await resp.read()
                return resp.status == 200

        return call

    def through(self, tag: str, *, replay: bool = False) -> Call:
        return self.post(self.gateway, tag, replay=replay)

    def relayed(self, tag: str) -> Call:
        """The floor relay, sent exactly what the gateway is sent (the key is ignored there)."""
        return self.post(self.floor, tag)

    def post(self, base: str, tag: str, *, replay: bool = False) -> Call:
        async def call(i: int) -> bool:
            async with self.http.post(
                f"{base}/v1/orders",
                data=orjson.dumps(canonical(f"{tag}-{i}")),
                headers={
                    "Authorization": f"Bearer {KEY}",
                    "Idempotency-Key": f"{tag}-{i}",
                    "Content-Type": "application/json",
                },
            ) as resp:
                await resp.read()
                replayed = resp.headers.get("Idempotent-Replayed") == "true"
                return resp.status == 201 and replayed == replay

        return call


async def measure(
    sides: Sides, meters: dict[str, Meter], orders: int, concurrency: int, max_seconds: float
) -> dict[str, dict[str, Any]]:
    """direct, gateway, floor and replay at one concurrency, alternating the first three in
    rounds; what the gateway, replay and floor cost their own process is metered."""
    c = concurrency
    per_round = max(1, orders // ROUNDS)
    samples = {side: Sample() for side in ("direct", "gateway", "floor", "replay")}
    costs = {side: Cost() for side in ("gateway", "floor", "replay")}
    calls = {"direct": sides.direct, "gateway": sides.through, "floor": sides.relayed}

    async def metered(side: str, n: int, call: Call, first: int = 0) -> None:
        async def run() -> int:
            sample = await drive(n, c, call, max_seconds, first)
            samples[side] = samples[side].merge(sample)
            return len(sample.latencies) + sample.errors

        meter = meters.get("floor" if side == "floor" else "gateway")
        if side == "direct" or meter is None:
            await run()
        else:
            await meter.around(costs[side], run)

    for side, call in calls.items():
        await drive(20, min(c, 20), call(f"warm-{side[0]}{c}"), max_seconds)
    for r in range(ROUNDS):
        for side, call in calls.items():
            await metered(side, per_round, call(f"{side[0]}{c}"), r * per_round)
    sent = len(samples["gateway"].latencies) + samples["gateway"].errors
    await metered("replay", sent, sides.through(f"g{c}", replay=True))
    return {
        side: {**sample.summary(), **(costs[side].summary() if side in costs else {})}
        for side, sample in samples.items()
    }


@asynccontextmanager
async def store_url(given: str | None, work: Path) -> AsyncIterator[str]:
    """A fresh SQLite file, or a fresh schema (dropped after) in the PostgreSQL `given`."""
    if given is None:
        yield f"sqlite:///{work / 'bench.db'}"
        return
    import asyncpg  # noqa: PLC0415 (only for --store postgresql://)

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(given)
    try:
        await conn.execute(f"CREATE SCHEMA {schema}")
        yield f"{given}{'&' if '?' in given else '?'}search_path={schema}"
    finally:
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()


async def token(http: aiohttp.ClientSession, sandbox: str) -> str:
    async with http.post(
        f"{sandbox}/realms/logitrail/token",
        data={"grant_type": "client_credentials", "scope": "orders:read orders:manage"},
        headers={"Authorization": aiohttp.encode_basic_auth(CLIENT_ID, CLIENT_SECRET)},
    ) as resp:
        resp.raise_for_status()
        return str((await resp.json())["access_token"])


def gateway_config(store: str, sandbox_url: str, *, audit: bool) -> str:
    """The gateway's config file for a run (`audit`: keep provider exchanges, the default)."""
    text = CONFIG.format(store=store, sandbox=sandbox_url, merchant=MERCHANT)
    return text if audit else text + "\n[audit]\nenabled = false\n"


async def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    async with AsyncExitStack() as stack:
        sandbox_port = free_port()
        sandbox = await started(
            stack,
            Child(
                "sandbox",
                python("-m", "bench.provider", "--port", str(sandbox_port)),
                {},
                work / "sandbox.log",
                sandbox_port,
            ),
            "/_control/faults",
        )
        config = work / "gateway.toml"
        store = await stack.enter_async_context(store_url(args.store, work))
        config.write_text(gateway_config(store, sandbox.url, audit=not args.no_audit))
        gateway_port = free_port()
        profiler = ["-m", "cProfile", "-o", str(work / "gateway.prof")] if args.profile else []
        argv = python(*profiler, "-m", "gateway", "serve", "--config", str(config))
        gateway = await started(
            stack,
            Child(
                "gateway",
                [*argv, "--port", str(gateway_port)],
                {"BENCH_KEY": KEY, "LT_ID": CLIENT_ID, "LT_SECRET": CLIENT_SECRET},
                work / "gateway.log",
                gateway_port,
            ),
            "/healthz",
        )
        spy = None
        if args.py_spy:
            assert gateway.proc is not None
            spy = PySpy(gateway.proc.pid, work / "gateway.pyspy")
            await spy.start()
        connector = aiohttp.TCPConnector(limit=0)
        http = await stack.enter_async_context(aiohttp.ClientSession(connector=connector))
        provider_token = await token(http, sandbox.url)
        floor_port = free_port()
        floor = await started(
            stack,
            Child(
                "floor",
                python(
                    "-m",
                    "bench.floor",
                    "--port",
                    str(floor_port),
                    "--sandbox",
                    sandbox.url,
                    f"--token={provider_token}",  # a token may begin with "-"
                    "--merchant",
                    MERCHANT,
                ),
                {},
                work / "floor.log",
                floor_port,
            ),
            "/healthz",
        )
        sides = Sides(http, sandbox.url, gateway.url, floor.url, provider_token)
        assert gateway.proc is not None
        assert floor.proc is not None
        meters = {
            "gateway": Meter(gateway.proc.pid, http, gateway.url),
            "floor": Meter(floor.proc.pid, http, None),
        }
        results: dict[str, Any] = {}
        if not args.skip_c1:
            results["c=1"] = await measure(sides, meters, args.orders_c1, 1, args.max_seconds)
        results[f"c={args.concurrency}"] = await measure(
            sides, meters, args.orders, args.concurrency, args.max_seconds
        )
        async with http.get(f"{sandbox.url}/_control/orders") as resp:
            orders = await resp.json()
        per_external = Counter(o["merchants_order"] for o in orders)
        results["provider_orders"] = len(orders)
        results["duplicates"] = sum(1 for n in per_external.values() if n > 1)
        if spy is not None:
            await spy.stop()
            results["pyspy_top"] = (
                [f"py-spy failed: {spy.error}"] if spy.error else pyspy_top(spy.out)
            )
        await gateway.stop()  # the profiler writes its file on a clean exit
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__)
    parser.add_argument("--orders", type=int, default=2000, help="orders per side at c=N")
    parser.add_argument("--orders-c1", type=int, default=300, help="orders per side at c=1")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--skip-c1", action="store_true", help="measure at c=N only")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="per measurement")
    parser.add_argument(
        "--store", help="a PostgreSQL URL to measure on (a fresh schema); default: SQLite"
    )
    parser.add_argument(
        "--no-audit",
        action="store_true",
        help="keep no provider exchanges (what the audit trail costs: a run with, one without)",
    )
    parser.add_argument("--profile", action="store_true", help="run the gateway under cProfile")
    parser.add_argument(
        "--py-spy", action="store_true", help="sample the gateway's threads with py-spy"
    )
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    started_at = time.time()
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as tmp:
        results = asyncio.run(run(args, Path(tmp)))
        results["profile_top"] = cprofile_top(Path(tmp) / "gateway.prof") if args.profile else []
    results["meta"] = {
        "started_at": started_at,
        "seconds": round(time.time() - started_at, 1),
        "profiled": args.profile,
        "audit": not args.no_audit,
        "py_spy": args.py_spy,
        "store": "postgresql" if args.store else "sqlite",
    }
    (RESULTS / "latest.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    chart(results, RESULTS / "latest.png")
    text = markdown(results)
    Path("bench/report.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
