"""Typed application keys: everything long-lived hangs off the app under one of these."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from gateway.api.auth import ClientKeys
from gateway.clock import Clock
from gateway.config import Settings
from gateway.observability.audit import Recorder
from gateway.observability.metrics import Metrics
from gateway.orders.changes import OrderChanges
from gateway.orders.events import WebhookIntake
from gateway.orders.feed import Feed
from gateway.orders.holds import OrderHolds
from gateway.orders.operations import Operations
from gateway.orders.parts import PartSubmitter
from gateway.orders.replay import RoutingReplay
from gateway.orders.service import OrderService
from gateway.orders.submission import Submitter
from gateway.providers.base import Provider
from gateway.returns.service import ReturnService
from gateway.returns.submission import ReturnSubmitter
from gateway.store import Store
from gateway.workers.dispatcher import EventDispatcher

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
PROVIDERS = web.AppKey("providers", Mapping[str, Provider])
SUBMITTER = web.AppKey("submitter", Submitter)
PART_SUBMITTER = web.AppKey("part_submitter", PartSubmitter)
SERVICE = web.AppKey("service", OrderService)
CLIENT_KEYS = web.AppKey("client_keys", ClientKeys)
SELF_URL = web.AppKey("self_url", str)
WEBHOOKS = web.AppKey("webhooks", WebhookIntake)
RETURNS = web.AppKey("returns", ReturnService)
RETURN_SUBMITTER = web.AppKey("return_submitter", ReturnSubmitter)
CHANGES = web.AppKey("changes", OrderChanges)
DISPATCHER = web.AppKey("dispatcher", EventDispatcher)
METRICS = web.AppKey("metrics", Metrics)
FEED = web.AppKey("feed", Feed)
OPERATIONS = web.AppKey("operations", Operations)
CLOCK = web.AppKey("clock", Clock)
HOLDS = web.AppKey("holds", OrderHolds)
AUDIT = web.AppKey("audit", Recorder)
REPLAY = web.AppKey("replay", RoutingReplay)
