"""Submit path benchmark: through the gateway vs. calling the provider directly, same run.

Both sides talk to the same in-process Logitrail sandbox over real sockets. "Direct" is what a
storefront would do without the gateway: create + confirm with a cached OAuth token. "Gateway"
is `POST /v1/orders` doing the same two calls plus validation, idempotency, routing and three
durable SQLite commits. The machine is noisy, so the report gives ratios of the two measured
in this run, not absolute numbers to compare across runs.

    python -m bench [--orders 300] [--concurrency 20] [--out bench/report.md]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from gateway.app import build_app
from gateway.config import parse
from gateway.observability.logging import configure
from gateway.sandbox.logitrail import LogitrailSandbox, SandboxClient

KEY = "bench-key"
ENV = {"K": KEY, "LT_ID": "bench", "LT_SECRET": "bench-secret"}
SCOPES = frozenset({"orders:read", "orders:manage"})


def order(n: int, tag: str) -> dict[str, Any]:
    return {
        "external_id": f"{tag}-{n}",
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


async def timed(
    n: int, concurrency: int, call: Callable[[int], Awaitable[None]]
) -> tuple[list[float], float]:
    """Per-call latencies (s) and wall time for `n` calls, `concurrency` at a time."""
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            start = time.perf_counter()
            await call(i)
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return latencies, time.perf_counter() - start


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(orders: int, concurrency: int) -> dict[str, Any]:
    sandbox = LogitrailSandbox(
        clients=[SandboxClient("bench", "bench-secret", SCOPES)], merchant_id="M-B"
    )
    provider = TestServer(sandbox.app)
    await provider.start_server()
    base = str(provider.make_url("")).rstrip("/")
    tmp = tempfile.TemporaryDirectory()
    settings = parse(
        {
            "server": {"request_budget_s": 10},
            "store": {"url": f"sqlite:///{tmp.name}/bench.db"},
            "clients": [{"id": "shop", "key_env": "K"}],
            "providers": {
                "logitrail": {
                    "base_url": base,
                    "token_url": f"{base}/realms/logitrail/token",
                    "client_id_env": "LT_ID",
                    "client_secret_env": "LT_SECRET",
                    "merchant_id": "M-B",
                    "rate_limit": {"max_rate": 100000, "time_period": 1},
                    "max_concurrency": 100,
                    "warehouses": {"FI-VANTAA": {}},
                }
            },
            "routing": {"default": {"provider": "logitrail", "warehouse": "FI-VANTAA"}},
        },
        ENV,
    )
    gateway = TestServer(build_app(settings))
    await gateway.start_server()
    results: dict[str, Any] = {}
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{base}/realms/logitrail/token",
            data={"grant_type": "client_credentials", "scope": "orders:read orders:manage"},
            headers={"Authorization": aiohttp.encode_basic_auth("bench", "bench-secret")},
        ) as resp:
            token = (await resp.json())["access_token"]
        direct_headers = {"Authorization": f"Bearer {token}", "X-Logitrail-Merchant-ID": "M-B"}

        async def direct(tag: str, i: int) -> None:
            async with http.post(
                f"{base}/orders/_create",
                json={
                    "merchants_order": f"{tag}-{i}",
                    "customer": {
                        "firstName": "Aino",
                        "lastName": "Virtanen",
                        "address": "Mannerheimintie 1",
                        "postalCode": "00100",
                        "city": "Helsinki",
                        "countryCode": "FI",
                    },
                    "products": [{"qty": 2, "merchants_id": "TSHIRT-M"}],
                    "destination": "home",
                },
                headers=direct_headers,
            ) as resp:
                assert resp.status == 201, resp.status
                oid = (await resp.json())["order_id"]
            async with http.post(f"{base}/orders/{oid}/_confirm", headers=direct_headers) as resp:
                assert resp.status == 200, resp.status

        gw = str(gateway.make_url("/v1/orders"))

        async def through(tag: str, i: int) -> None:
            async with http.post(
                gw,
                json=order(i, tag),
                headers={"Authorization": f"Bearer {KEY}", "Idempotency-Key": f"{tag}-{i}"},
            ) as resp:
                assert resp.status == 201, (resp.status, await resp.text())

        for label, conc in (("sequential", 1), (f"concurrency {concurrency}", concurrency)):
            # Warm both paths, then interleave the two measurements to share the noise.
            await direct(f"w{label}", 0)
            await through(f"w{label}", 0)
            d_lat, d_wall = await timed(orders, conc, lambda i, t=label: direct(f"d{t}", i))
            g_lat, g_wall = await timed(orders, conc, lambda i, t=label: through(f"g{t}", i))
            results[label] = {
                "direct": {
                    "p50_ms": statistics.median(d_lat) * 1e3,
                    "p95_ms": pct(d_lat, 0.95) * 1e3,
                    "per_s": orders / d_wall,
                },
                "gateway": {
                    "p50_ms": statistics.median(g_lat) * 1e3,
                    "p95_ms": pct(g_lat, 0.95) * 1e3,
                    "per_s": orders / g_wall,
                },
            }
    await gateway.close()
    await provider.close()
    tmp.cleanup()
    duplicates = sum(
        1
        for n in {o.merchants_order for o in sandbox.orders.values()}
        if len(sandbox.orders_by_merchant_order(n)) > 1
    )
    results["provider_orders"] = len(sandbox.orders)
    results["duplicates"] = duplicates
    return results


def report(results: dict[str, Any], orders: int) -> str:
    lines = [
        "# Submit path: gateway vs. direct provider calls",
        "",
        f"{orders} orders per measurement; Logitrail sandbox in-process; SQLite "
        "(WAL, synchronous=FULL). Ratios are gateway ÷ direct from the same run.",
        "",
        "| mode | direct p50 ms | gateway p50 ms | p50 ratio | p95 ratio | throughput ratio |",
        "|---|---|---|---|---|---|",
    ]
    for mode, r in results.items():
        if not isinstance(r, dict):
            continue
        d, g = r["direct"], r["gateway"]
        lines.append(
            f"| {mode} | {d['p50_ms']:.2f} | {g['p50_ms']:.2f} | "
            f"{g['p50_ms'] / d['p50_ms']:.2f}× | {g['p95_ms'] / d['p95_ms']:.2f}× | "
            f"{g['per_s'] / d['per_s']:.2f}× |"
        )
    lines += [
        "",
        f"Provider orders: {results['provider_orders']}, duplicates: {results['duplicates']}.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench")
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("bench/report.md"))
    args = parser.parse_args()
    configure("warning", "console")
    results = asyncio.run(run(args.orders, args.concurrency))
    text = report(results, args.orders)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
