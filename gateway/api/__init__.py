"""The HTTP facade (DESIGN §3): routes and middlewares."""

from __future__ import annotations

from aiohttp import web

from gateway.api import events, ops, orders, routing, webhooks


def add_routes(app: web.Application) -> None:
    for table in (orders.routes, routing.routes, ops.routes, webhooks.routes, events.routes):
        app.add_routes(table)
