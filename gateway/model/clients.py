"""Who is calling: a tenant authenticated by its bearer key."""

from __future__ import annotations

from dataclasses import dataclass

REFERENCE_SEPARATOR = "/"
"""Between a tenant's prefix and its own id in every reference a provider is given."""


def provider_reference(prefix: str, external_id: str) -> str:
    """The reference a provider is given (and looked up by) for a tenant's `external_id`.

    Tenants share each provider account, and their ids are unique only per tenant, so the
    reference is qualified by the tenant's prefix: `storefront-fi/SHOP-1001`. Prefixes hold no
    separator and are unique per gateway (configuration checks refuse two that are equal), so
    two tenants' references never collide, whatever their ids contain.
    """
    return f"{prefix}{REFERENCE_SEPARATOR}{external_id}"


@dataclass(frozen=True, slots=True)
class Client:
    id: str
    scopes: frozenset[str]
    reference_prefix: str = ""
    """What qualifies this tenant's references at providers; the client id when empty."""

    def may(self, scope: str) -> bool:
        return scope in self.scopes

    def reference(self, external_id: str) -> str:
        """The provider-side reference of this tenant's `external_id`."""
        return provider_reference(self.reference_prefix or self.id, external_id)
