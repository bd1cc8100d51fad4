"""The least any aiohttp relay must do: one inbound POST, the provider's create + confirm, 201.

It validates the canonical order with pydantic and translates it as the gateway does, and sends
the same two provider calls; no auth, no idempotency, no store, no logging. This is the floor
under the gateway in this stack, so the report can say which part of the gap is the gateway's own
work and which part is the extra HTTP hop.

python -m bench.floor --port 9102 --sandbox http://127.0.0.1:9101 --token=T --merchant M

(`--token=T`: a token may begin with "-".)
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator

import aiohttp
import orjson
from aiohttp import web
from pydantic import ValidationError

from gateway.model.orders import CanonicalOrder
from gateway.providers.logitrail.translate import to_order

HTTP: web.AppKey[aiohttp.ClientSession] = web.AppKey("http", aiohttp.ClientSession)


def app(sandbox: str, token: str, merchant: str) -> web.Application:
    headers = {
        "Authorization": f"Bearer {token}",
        "X-Logitrail-Merchant-ID": merchant,
        "Content-Type": "application/json",
    }

    async def relay(request: web.Request) -> web.Response:
        # As gateway/api/body.py reads it: orjson, then the pydantic model.
        try:
            order = CanonicalOrder.model_validate(orjson.loads(await request.read()))
        except (orjson.JSONDecodeError, ValidationError):
            return web.Response(status=422)
        http = request.app[HTTP]
        async with http.post(
            f"{sandbox}/orders/_create",
            data=orjson.dumps(to_order(order, reference=f"floor/{order.external_id}")),
            headers=headers,
        ) as resp:
            body = await resp.read()
            if resp.status != 201:
                return web.Response(status=502)
        created = orjson.loads(body)
        async with http.post(
            f"{sandbox}/orders/{created['order_id']}/_confirm", headers=headers
        ) as resp:
            await resp.read()
            if resp.status != 200:
                return web.Response(status=502)
        return web.Response(status=201, body=body, content_type="application/json")

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def session(application: web.Application) -> AsyncIterator[None]:
        application[HTTP] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        yield
        await application[HTTP].close()

    application = web.Application()
    application.cleanup_ctx.append(session)
    application.router.add_post("/v1/orders", relay)
    application.router.add_get("/healthz", healthz)
    return application


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.floor")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sandbox", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--merchant", required=True)
    args = parser.parse_args()
    web.run_app(
        app(args.sandbox, args.token, args.merchant),
        host="127.0.0.1",
        port=args.port,
        print=None,
        access_log=None,
    )


if __name__ == "__main__":
    main()
