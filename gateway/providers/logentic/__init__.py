"""Logentic (Canada): static bearer token, items by integer id, signed webhooks."""

from __future__ import annotations

from gateway.config import ProviderSettings
from gateway.model.secrets import Secrets
from gateway.providers.base import Provider
from gateway.providers.logentic.adapter import LogenticAdapter
from gateway.providers.logentic.settings import LogenticSettings
from gateway.providers.spec import ProviderContext, ProviderSpec


def _build(settings: ProviderSettings, secrets: Secrets, ctx: ProviderContext) -> Provider:
    assert isinstance(settings, LogenticSettings)
    return LogenticAdapter(settings, secrets, ctx)


PROVIDER = ProviderSpec(name="logentic", settings=LogenticSettings, build=_build)
