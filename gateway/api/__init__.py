"""The HTTP facade: routes and middlewares."""

from __future__ import annotations

from aiohttp import web

from gateway.api import events, exchanges, ops, orders, returns, routing, webhooks


def add_routes(app: web.Application) -> None:
    tables = (orders.routes, returns.routes, routing.routes, ops.routes, webhooks.routes)
    for table in (*tables, exchanges.routes, events.routes):
        app.add_routes(table)
