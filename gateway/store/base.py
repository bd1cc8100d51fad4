"""The exceptions of the store layer; what the store offers is in `protocols`, its rows in
`records`."""

from __future__ import annotations


class StoreUnavailable(Exception):
    """The database cannot be reached or refused the operation."""


class OrderExists(Exception):
    """(client, external_id) is taken; `order_id` names the order that holds it."""

    def __init__(self, order_id: str) -> None:
        super().__init__(order_id)
        self.order_id = order_id


class ProviderOrderTaken(Exception):
    """The provider order id is held by another gateway order: never adopted (a unique index
    on (provider, provider_order_id) backs this)."""

    def __init__(self, provider: str, provider_order_id: str, holder: str | None) -> None:
        super().__init__(f"{provider} order {provider_order_id} is held by {holder}")
        self.provider = provider
        self.provider_order_id = provider_order_id
        self.holder = holder


class ReturnExists(Exception):
    """(client, external_id) of a return is taken; `return_id` names the return holding it."""

    def __init__(self, return_id: str) -> None:
        super().__init__(return_id)
        self.return_id = return_id


class LeaseLost(Exception):
    """Another worker took the order over: stop touching it."""
