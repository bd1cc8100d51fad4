"""Logitrail (Finland): OAuth2 client credentials, passive orders confirmed in a second call."""

from __future__ import annotations

from gateway.config import ProviderSettings
from gateway.model.secrets import Secrets
from gateway.providers.base import Provider
from gateway.providers.logitrail.adapter import LogitrailAdapter
from gateway.providers.logitrail.settings import LogitrailSettings
from gateway.providers.spec import ProviderContext, ProviderSpec


def _build(settings: ProviderSettings, secrets: Secrets, ctx: ProviderContext) -> Provider:
    assert isinstance(settings, LogitrailSettings)
    return LogitrailAdapter(settings, secrets, ctx)


PROVIDER = ProviderSpec(name="logitrail", settings=LogitrailSettings, build=_build)
