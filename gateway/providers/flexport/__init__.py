"""Flexport (Logistics API 2026-02): bearer token, D2C orders and B2B outbounds, ids-only
webhooks, idempotency keys."""

from __future__ import annotations

from gateway.config import ProviderSettings
from gateway.model.secrets import Secrets
from gateway.providers.base import Provider
from gateway.providers.flexport.adapter import FlexportAdapter
from gateway.providers.flexport.settings import FlexportSettings
from gateway.providers.spec import ProviderContext, ProviderSpec


def _build(settings: ProviderSettings, secrets: Secrets, ctx: ProviderContext) -> Provider:
    assert isinstance(settings, FlexportSettings)
    return FlexportAdapter(settings, secrets, ctx)


PROVIDER = ProviderSpec(name="flexport", settings=FlexportSettings, build=_build)
