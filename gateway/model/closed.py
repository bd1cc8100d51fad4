"""`Closed`: the base of every model the gateway takes or gives whole — a request body, a
configuration table, an answer. An unknown field is an error, never dropped, and a model once
built does not change."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
