"""Who is calling: a tenant authenticated by its bearer key."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Client:
    id: str
    scopes: frozenset[str]

    def may(self, scope: str) -> bool:
        return scope in self.scopes
