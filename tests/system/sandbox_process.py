"""The Logitrail sandbox as a process of its own: `python -m tests.system.sandbox_process PORT`.

A load test's provider must not share an event loop with the load generator, or the time it
records for a call is when the loop got round to it, not when the call arrived. Besides the
sandbox's own API and control routes it serves `GET /_test/orders`: merchant order id → the
statuses of the orders the sandbox holds for it.
"""

from __future__ import annotations

import sys

from aiohttp import web

from tests.conftest import new_logitrail_sandbox


def main(port: int) -> None:
    box = new_logitrail_sandbox()

    async def orders(_request: web.Request) -> web.Response:
        held: dict[str, list[str]] = {}
        for o in box.orders.values():
            held.setdefault(o.merchants_order, []).append(o.status)
        return web.json_response(held)

    app = web.Application()
    app.router.add_get("/_test/orders", orders)
    app.add_subapp("/lt", box.app)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main(int(sys.argv[1]))
