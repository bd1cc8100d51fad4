"""Who is calling: a tenant authenticated by its bearer key."""

from __future__ import annotations

from dataclasses import dataclass

REFERENCE_SEPARATOR = "/"
"""Between a tenant's prefix and its own id in every reference a provider is given."""


SUBMISSION_MARK = "~"
"""Between a prefix and the number of a corrected order's submission (`storefront-fi~2/…`)."""


PART_MARK = "#"
"""Between a prefix (and its submission number) and the number of a split order's part
(`storefront-fi#2/…`)."""


def provider_reference(prefix: str, external_id: str, submission: int = 1, part: int = 1) -> str:
    """The reference a provider is given (and looked up by) for a tenant's `external_id`.

    Tenants share each provider account, and their ids are unique only per tenant, so the
    reference is qualified by the tenant's prefix: `storefront-fi/SHOP-1001`. Prefixes hold no
    separator and are unique per gateway (configuration checks refuse two that are equal), so
    two tenants' references never collide, whatever their ids contain.

    A corrected order that supersedes a rejected one (its `submission` 2, 3, …) must not be
    found under its predecessor's reference (the provider may still hold the refused order):
    its number qualifies the prefix, `storefront-fi~2/SHOP-1001`. Prefixes hold no `~`
    either, so this never equals a first submission's reference of any tenant, whatever the
    external_id (a suffix could: `SHOP-1001~2` may be another order's own id).

    Part 2, 3, … of a split order is its own provider order, qualified the same way by its
    number: `storefront-fi#2/SHOP-1001` (`storefront-fi~2#3/SHOP-1001` for a correction's).
    Part 1 keeps the order's own reference, so an unsplit order and its part 1 are one thing.
    Prefixes hold no `#`, so no other tenant's or order's reference equals a part's.
    """
    tag = prefix if submission == 1 else f"{prefix}{SUBMISSION_MARK}{submission}"
    if part != 1:
        tag = f"{tag}{PART_MARK}{part}"
    return f"{tag}{REFERENCE_SEPARATOR}{external_id}"


def part_reference(reference: str, part: int) -> str | None:
    """The reference of a split order's `part`, from the order's own (`provider_reference`'s
    tag qualified by the part: `storefront-fi~2/X` → `storefront-fi~2#3/X`); part 1's is the
    order's. None for a reference without a tag (an order stored before references were
    tenant-qualified): such an order is not split."""
    if part == 1:
        return reference
    tag, sep, external_id = reference.partition(REFERENCE_SEPARATOR)
    if not sep:
        return None
    return f"{tag}{PART_MARK}{part}{REFERENCE_SEPARATOR}{external_id}"


@dataclass(frozen=True, slots=True)
class Client:
    id: str
    scopes: frozenset[str]
    reference_prefix: str = ""
    """What qualifies this tenant's references at providers; the client id when empty."""

    def may(self, scope: str) -> bool:
        return scope in self.scopes

    def reference(self, external_id: str, submission: int = 1, part: int = 1) -> str:
        """The provider-side reference of this tenant's `external_id` (`submission`: of a
        corrected order; `part`: of a split order's part; see `provider_reference`)."""
        return provider_reference(self.reference_prefix or self.id, external_id, submission, part)
