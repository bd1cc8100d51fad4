"""The canonical order: what callers send, validated strictly.

Unknown fields are rejected, not dropped; money is a decimal *string*; country, currency
and language codes are checked against the ISO tables. These models are the domain side:
provider wire formats live in each provider's `translate.py`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

import orjson
from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    PlainValidator,
    StrictInt,
    TypeAdapter,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from gateway.model.closed import Closed
from gateway.model.dates import DateOrInstant, Instant, as_date
from gateway.model.iso import COUNTRIES, CURRENCIES, LANGUAGES
from gateway.model.money import Money, Percent
from gateway.model.text import (
    MAX_METADATA_VALUE,
    METADATA_TEXT,
    Documented,
    Email,
    MetadataText,
    PostalCode,
    Shape,
    ShortText,
    Text,
    Trimmed,
    from_store,
)

MAX_LINES = 1000
MAX_QUANTITY = 1_000_000
"""Of one line, of an order or a return."""
StockSnapshot = Mapping[str, int]
"""SKU → units available in one warehouse (what a provider reports, what routing weighs)."""


def _integral(value: Any) -> Any:
    # JSON has one kind of number: 2.0 is the integer 2 (as the document's `integer` says).
    # A string or a boolean is still no number (StrictInt refuses it).
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


INTEGRAL = BeforeValidator(_integral)
"""After a `StrictInt`'s range: an integer, written with or without a zero fraction (`2`,
`2.0`). (Before the range, pydantic would no longer document the range.)"""


class Strict(Closed):
    """Base of every inbound model: unknown fields are an error (422), never dropped. Text
    is trimmed by its type (`gateway.model.text`), which documents what it takes."""


class _IsoCode(Documented):
    """One of `table`'s codes, in any case ("fi", "Fi"): stored in the table's case."""

    def __init__(self, table: frozenset[str], what: str, *, upper: bool) -> None:
        self.table, self.what, self.upper = table, what, upper
        spelled = ("".join(f"[{c.upper()}{c.lower()}]" for c in code) for code in sorted(table))
        super().__init__(pattern=f"^(?:{'|'.join(spelled)})$")

    def __get_pydantic_core_schema__(
        self, source: type[Any], handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_before_validator_function(self._check, handler(source))

    def _check(self, value: Any) -> Any:
        if not isinstance(value, str):
            return value  # pydantic's own type check reports it
        code = value.upper() if self.upper else value.lower()
        if code not in self.table:
            raise ValueError(f"{value!r} is not an {self.what} code")
        return code


CountryCode = Annotated[str, _IsoCode(COUNTRIES, "ISO 3166-1 alpha-2 country", upper=True)]
CurrencyCode = Annotated[str, _IsoCode(CURRENCIES, "ISO 4217 currency", upper=True)]
LanguageCode = Annotated[str, _IsoCode(LANGUAGES, "ISO 639-1 language", upper=False)]
Phone = Annotated[
    str,
    Trimmed(
        None,
        shape=Shape(
            r"\+?[0-9][0-9 ()\-]{3,23}[0-9()\-]",
            "must be a phone number in international format, e.g. +358401234567",
        ),
    ),
]
Gtin = Annotated[
    str,
    Trimmed(None, shape=Shape("[0-9]{8}|[0-9]{12,14}", "must be a GTIN of 8, 12, 13 or 14 digits")),
]
"""Format only: the check digit is not enforced because real catalogues (and the design's own
sample, 06430012345678) carry GTINs whose check digit is wrong, and a provider that cares
validates it itself."""


class Kind(StrEnum):
    D2C = "d2c"
    B2B = "b2b"


class DeliveryType(StrEnum):
    HOME = "home"
    PICKUP_POINT = "pickup_point"
    LETTER = "letter"


class Speed(StrEnum):
    ECONOMY = "economy"
    STANDARD = "standard"
    EXPRESS = "express"


class Recipient(Strict):
    first_name: Text
    last_name: Text
    company: Text | None = None
    email: Email | None = None
    phone: Phone | None = None


class Address(Strict):
    line1: Text
    line2: Text | None = None
    postal_code: PostalCode
    city: Text
    region: ShortText | None = None
    country_code: CountryCode


_PICKUP = "PICKUP_POINT"


class Delivery(Strict):
    # The rule of `_pickup_point`, for the document.
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {
                    "properties": {
                        "type": {"const": DeliveryType.PICKUP_POINT.value},
                        "pickup_point_id": {"type": "string"},
                    },
                    "required": ["type", "pickup_point_id"],
                },
                {
                    "properties": {
                        "type": {
                            "enum": [t.value for t in DeliveryType if t.name != "PICKUP_POINT"]
                        },
                        "pickup_point_id": {"type": "null"},
                    }
                },
            ]
        }
    )

    type: DeliveryType = DeliveryType.HOME
    pickup_point_id: ShortText | None = None
    speed: Speed = Speed.STANDARD

    @model_validator(mode="after")
    def _pickup_point(self) -> Delivery:
        if self.type is DeliveryType.PICKUP_POINT and not self.pickup_point_id:
            raise ValueError("pickup_point_id is required when type is pickup_point")
        if self.type is not DeliveryType.PICKUP_POINT and self.pickup_point_id:
            raise ValueError("pickup_point_id is only allowed when type is pickup_point")
        return self


class Line(Strict):
    sku: ShortText
    quantity: Annotated[StrictInt, Field(ge=1, le=MAX_QUANTITY), INTEGRAL]
    name: Text | None = None
    unit_price: Money | None = None
    tax_percent: Percent | None = None
    gtin: Gtin | None = None
    weight_g: Annotated[StrictInt, Field(ge=0, le=10_000_000), INTEGRAL] | None = None
    dimensions_mm: (
        tuple[
            Annotated[StrictInt, Field(ge=0, le=100_000), INTEGRAL],
            Annotated[StrictInt, Field(ge=0, le=100_000), INTEGRAL],
            Annotated[StrictInt, Field(ge=0, le=100_000), INTEGRAL],
        ]
        | None
    ) = None


class RoutePin(Strict):
    """A caller's request to skip routing; allowed only with the `routing:pin` scope."""

    provider: ShortText
    warehouse: ShortText


MAX_METADATA_KEYS = 50
MAX_METADATA_BYTES = 16 * 1024
MAX_METADATA_NUMBER = 2**53 - 1
"""Metadata numbers lie within ±(2^53 − 1), the range every JSON reader (JavaScript's
included) reads exactly (RFC 7493)."""
MetadataScalar = str | int | float | bool | None
_metadata_string = TypeAdapter(MetadataText)


def _metadata_value(value: Any, info: ValidationInfo) -> MetadataScalar:
    # One check for the scalar, so a bad value gets one error, not one per union member.
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        if not from_store(info) and not -MAX_METADATA_NUMBER <= value <= MAX_METADATA_NUMBER:
            raise ValueError(f"must be a number between -{MAX_METADATA_NUMBER} and its opposite")
        return value
    if isinstance(value, str):
        return _metadata_string.validate_python(value, context=info.context)
    raise ValueError("must be a string, number, boolean or null")


_METADATA_VALUE = {
    "type": ["string", "number", "boolean", "null"],
    # Each keyword applies to values of its type only: strings, numbers.
    **METADATA_TEXT.keywords,
    "minimum": -MAX_METADATA_NUMBER,
    "maximum": MAX_METADATA_NUMBER,
}
MetadataValue = Annotated[
    MetadataScalar, PlainValidator(_metadata_value), WithJsonSchema(_METADATA_VALUE)
]


def _metadata_size(value: dict[str, MetadataScalar], info: ValidationInfo) -> Any:
    # Bounds what one order adds to every list page and to each provider call.
    if from_store(info):
        return value
    size = len(orjson.dumps(value))  # its numbers are in range (`_metadata_value`)
    if size > MAX_METADATA_BYTES:
        # A size in bytes, which a JSON schema cannot state: its own rule.
        raise PydanticCustomError(
            "metadata_size",
            "is {size} bytes as JSON; at most {limit}",
            {"size": size, "limit": MAX_METADATA_BYTES},
        )
    return value


Metadata = Annotated[
    dict[ShortText, MetadataValue],
    Field(max_length=MAX_METADATA_KEYS),
    AfterValidator(_metadata_size),
    # Keys as names, not as pydantic's `patternProperties` (which would leave other keys free).
    WithJsonSchema(
        {
            "type": "object",
            "maxProperties": MAX_METADATA_KEYS,
            "propertyNames": TypeAdapter(ShortText).json_schema(),
            "additionalProperties": _METADATA_VALUE,
            "description": f"at most {MAX_METADATA_KEYS} keys of up to 64 characters; string "
            f"values up to {MAX_METADATA_VALUE} characters, numbers within "
            f"±{MAX_METADATA_NUMBER}; {MAX_METADATA_BYTES} bytes in all as JSON",
        }
    ),
]


class CanonicalOrder(Strict):
    external_id: ShortText
    kind: Kind = Kind.D2C
    channel: ShortText | None = None
    ordered_at: Instant | None = None
    currency: CurrencyCode | None = None
    language: LanguageCode | None = None
    recipient: Recipient
    address: Address
    delivery: Delivery = Field(default_factory=Delivery)
    lines: Annotated[list[Line], Field(min_length=1, max_length=MAX_LINES)]
    not_before: DateOrInstant | None = None
    not_after: DateOrInstant | None = Field(
        default=None, description="not earlier than `not_before` (422 `date_window`)"
    )
    tags: Annotated[list[ShortText], Field(max_length=50)] = Field(default_factory=list)
    metadata: Metadata = Field(default_factory=dict)
    routing: RoutePin | None = None
    hold_until: Instant | None = Field(
        default=None,
        description="hold the order until then, and release it by itself (a pre-order)",
    )
    ship_by: Instant | None = Field(
        default=None, description="when the order must leave the warehouse at the latest"
    )

    @field_validator("not_after")
    @classmethod
    def _window(cls, value: datetime | date | None, info: ValidationInfo) -> Any:
        # A rule between two fields, which the document can only describe.
        before = info.data.get("not_before")
        if value is not None and before is not None and as_date(before) > as_date(value):
            raise PydanticCustomError(
                "date_window", "not_after must not be earlier than not_before"
            )
        return value

    def total_weight_g(self) -> int | None:
        """Sum of quantity × weight; None when any line's weight is unknown."""
        total = 0
        for line in self.lines:
            if line.weight_g is None:
                return None
            total += line.weight_g * line.quantity
        return total

    def total_value(self) -> Decimal | None:
        """Sum of quantity × unit price; None when any line's price is unknown."""
        total = Decimal(0)
        for line in self.lines:
            if line.unit_price is None:
                return None
            total += line.unit_price * line.quantity
        return total

    def units(self) -> Counter[str]:
        """Units ordered per SKU (a SKU may stand on several lines)."""
        units: Counter[str] = Counter()
        for line in self.lines:
            units[line.sku] += line.quantity
        return units


class Status(StrEnum):
    """Canonical order statuses."""

    ACCEPTED = "accepted"
    SUBMITTED = "submitted"
    IN_PROGRESS = "in_progress"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    ON_HOLD = "on_hold"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXCEPTION = "exception"


class Phase(StrEnum):
    """Submission phases persisted on the order row (docs/architecture.md#exactly-once)."""

    PENDING = "pending"
    CREATING = "creating"
    CREATED = "created"
    CONFIRMING = "confirming"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    """Cancelled while still queued: no provider call was ever made."""
    HELD = "held"
    """On hold before routing (a hold rule, a caller's hold, `hold_until`): sent nowhere,
    not due; a release routes it and makes it `pending`."""
    PARTS = "parts"
    """Split over two or more parts, each submitted on its own (its own row, phase and lease):
    the order itself is sent nowhere, and its status is derived from its parts'."""


OPEN_PHASES = frozenset({Phase.PENDING, Phase.CREATING, Phase.CREATED, Phase.CONFIRMING})
