"""`View`: the base of every answer of the API — a closed model built from what the store or
a provider holds (an order's by `gateway.orders.views.view_of`), written as it is
(`model_dump_json`), and documented by its own schema in `/openapi.json`: what is documented
is what is sent.

A view is built in one validation of the row's values (pydantic's, in its compiled core):
most of what a view costs is that one call, so a builder gives it everything at once, nested
parts as plain values. Two types hold what the API writes in a form of its own:

- `Stamp`: an instant as the API writes it (`stamp`), documented as a `date-time`; a
  `datetime` given is written so, and a history entry of the store is read as it is.
- `StoredAs(model)`: a JSON document validated as `model` when the gateway took it, and
  stored (an order's body): shown as stored, documented as `model`, never validated again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BeforeValidator, ConfigDict, Field, GetCoreSchemaHandler
from pydantic_core import CoreSchema, core_schema

from gateway.model.closed import Closed


class View(Closed):
    # `from_attributes`: a row whose fields are the view's (a history entry) is read as is.
    model_config = ConfigDict(from_attributes=True, serialize_by_alias=True)


ItemT = TypeVar("ItemT", bound=View)


class Page(View, Generic[ItemT]):
    """A page of a list newest first (`GET /v1/orders`, `GET /v1/returns`)."""

    items: list[ItemT]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


def history_of(what: str) -> Any:
    """The `history` field of a view of `what` (an order, a return): only a read of one has
    it; a list leaves it out."""
    return Field(
        default=None,
        description=f"every status transition (single-{what} reads only)",
        exclude_if=_unread,
    )


def _unread(history: object) -> bool:
    return history is None


def stamp(value: datetime, timespec: str = "milliseconds") -> str:
    """`value` as the API writes an instant: RFC 3339, UTC as `Z`, to the millisecond
    (`2026-05-01T12:00:00.250Z`) or to `timespec` (see `datetime.isoformat`)."""
    return value.isoformat(timespec=timespec).replace("+00:00", "Z")


def instant(epoch: float) -> datetime:
    """The UTC instant of `epoch` seconds (the store keeps schedules as epoch seconds)."""
    return datetime.fromtimestamp(epoch, UTC)


def _stamped(value: Any) -> Any:
    return stamp(value) if isinstance(value, datetime) else value


Stamp = Annotated[str, BeforeValidator(_stamped, json_schema_input_type=datetime)]
"""An instant as `stamp` writes it (given a `datetime`), documented as a `date-time`."""


class StoredAs:
    """`Annotated[dict[str, Any], StoredAs(model)]`: see the module docstring."""

    def __init__(self, model: type[Closed]) -> None:
        self.model = model

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        # The model's schema is only the document's (a `$ref`): the wrapper never calls it,
        # and the value is written as the JSON it holds.
        return core_schema.no_info_wrap_validator_function(
            _as_stored,
            handler.generate_schema(self.model),
            serialization=core_schema.simple_ser_schema("any"),
        )


def _as_stored(value: Any, _validate: core_schema.ValidatorFunctionWrapHandler) -> Any:
    return value
