"""The canonical order: what callers send, validated strictly.

Unknown fields are rejected, not dropped; money is a decimal *string*; country, currency
and language codes are checked against the ISO tables. These models are the domain side:
provider wire formats live in each provider's `translate.py`.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

import orjson
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    StrictInt,
    TypeAdapter,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from gateway.model.iso import COUNTRIES, CURRENCIES, LANGUAGES
from gateway.model.text import (
    MAX_METADATA_VALUE,
    Email,
    MetadataText,
    PostalCode,
    ShortText,
    Text,
    from_store,
)

MAX_LINES = 1000
MAX_QUANTITY = 1_000_000
"""Of one line, of an order or a return."""

# [0-9], not \d: \d also matches other scripts' digits ("١٩"), which providers would receive.
_DECIMAL = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,6})?$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()\-]{4,24}$")
_GTIN = re.compile(r"^([0-9]{8}|[0-9]{12}|[0-9]{13}|[0-9]{14})$")


class Strict(BaseModel):
    """Base of every inbound model: unknown fields are an error (422), never dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _decimal_string(value: Any) -> Any:
    # Money arrives as a JSON string so that no float ever touches it.
    if isinstance(value, Decimal):
        return value
    if not isinstance(value, str):
        raise ValueError('must be a decimal string such as "19.90", not a JSON number')
    if not _DECIMAL.match(value):
        raise ValueError("must be a non-negative decimal string with at most 6 decimals")
    return Decimal(value)


Money = Annotated[
    Decimal,
    BeforeValidator(_decimal_string),
    PlainSerializer(str, return_type=str, when_used="json"),
]
"""A non-negative decimal carried as a string on the wire."""


def _utc_instant(value: Any, info: ValidationInfo) -> Any:
    # Providers and the store convert to UTC: year 1 at +01:00 has no UTC instant.
    if isinstance(value, datetime) and not from_store(info):
        try:
            value.astimezone(UTC)
        except OverflowError:
            raise ValueError("must lie between 0001-01-01 and 9999-12-31 in UTC") from None
    return value


Instant = Annotated[AwareDatetime, AfterValidator(_utc_instant)]
"""A date-time with a time zone that is an instant in UTC's range."""
DateOrInstant = Annotated[AwareDatetime | date, AfterValidator(_utc_instant)]
"""A calendar date, or an `Instant` (checked after the union, so a date-time out of range is
refused, not read as a date)."""


def _iso(table: frozenset[str], what: str, upper: bool) -> Any:
    def check(value: Any) -> Any:
        if not isinstance(value, str):
            return value  # pydantic's own type check reports it
        code = value.upper() if upper else value.lower()
        if code not in table:
            raise ValueError(f"{value!r} is not an {what} code")
        return code

    return BeforeValidator(check)


CountryCode = Annotated[str, _iso(COUNTRIES, "ISO 3166-1 alpha-2 country", upper=True)]
CurrencyCode = Annotated[str, _iso(CURRENCIES, "ISO 4217 currency", upper=True)]
LanguageCode = Annotated[str, _iso(LANGUAGES, "ISO 639-1 language", upper=False)]


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
    phone: str | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value):
            raise ValueError("must be an e-mail address such as name@example.com")
        return value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is not None and not _PHONE.match(value):
            raise ValueError("must be a phone number in international format, e.g. +358401234567")
        return value


class Address(Strict):
    line1: Text
    line2: Text | None = None
    postal_code: PostalCode
    city: Text
    region: ShortText | None = None
    country_code: CountryCode


class Delivery(Strict):
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
    quantity: Annotated[StrictInt, Field(ge=1, le=MAX_QUANTITY)]
    name: Text | None = None
    unit_price: Money | None = None
    tax_percent: Money | None = None
    gtin: str | None = None
    weight_g: Annotated[StrictInt, Field(ge=0, le=10_000_000)] | None = None
    dimensions_mm: (
        tuple[
            Annotated[StrictInt, Field(ge=0, le=100_000)],
            Annotated[StrictInt, Field(ge=0, le=100_000)],
            Annotated[StrictInt, Field(ge=0, le=100_000)],
        ]
        | None
    ) = None

    @field_validator("gtin")
    @classmethod
    def _gtin(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # Format only: the check digit is not enforced because real catalogues (and the
        # design's own sample, 06430012345678) carry GTINs whose check digit is wrong, and a
        # provider that cares validates it itself.
        if not _GTIN.match(value):
            raise ValueError("must be a GTIN of 8, 12, 13 or 14 digits")
        return value

    @field_validator("tax_percent")
    @classmethod
    def _tax(cls, value: Decimal | None) -> Decimal | None:
        if value is not None and value > 100:
            raise ValueError("must be between 0 and 100")
        return value


class RoutePin(Strict):
    """A caller's request to skip routing; allowed only with the `routing:pin` scope."""

    provider: ShortText
    warehouse: ShortText


MAX_METADATA_KEYS = 50
MAX_METADATA_BYTES = 16 * 1024
MetadataScalar = str | int | float | bool | None
_metadata_string = TypeAdapter(MetadataText)


def _metadata_value(value: Any, info: ValidationInfo) -> MetadataScalar:
    # One check for the scalar, so a bad value gets one error, not one per union member.
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return _metadata_string.validate_python(value.strip(), context=info.context)
    raise ValueError("must be a string, number, boolean or null")


MetadataValue = Annotated[
    MetadataScalar,
    PlainValidator(_metadata_value),
    WithJsonSchema(
        {"type": ["string", "number", "boolean", "null"], "maxLength": MAX_METADATA_VALUE}
    ),
]


def _metadata_size(value: dict[str, MetadataScalar], info: ValidationInfo) -> Any:
    # Bounds what one order adds to every list page and to each provider call.
    if from_store(info):
        return value
    try:
        size = len(orjson.dumps(value))
    except orjson.JSONEncodeError:
        raise ValueError("holds a number outside the 64-bit range") from None
    if size > MAX_METADATA_BYTES:
        raise ValueError(f"is {size} bytes as JSON; at most {MAX_METADATA_BYTES}")
    return value


Metadata = Annotated[
    dict[ShortText, MetadataValue],
    Field(
        max_length=MAX_METADATA_KEYS,
        description=f"at most {MAX_METADATA_KEYS} keys of up to 64 characters; string values "
        f"up to {MAX_METADATA_VALUE} characters; {MAX_METADATA_BYTES} bytes in all as JSON",
    ),
    AfterValidator(_metadata_size),
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
    not_after: DateOrInstant | None = None
    tags: Annotated[list[ShortText], Field(max_length=50)] = Field(default_factory=list)
    metadata: Metadata = Field(default_factory=dict)
    routing: RoutePin | None = None

    @model_validator(mode="after")
    def _window(self) -> CanonicalOrder:
        if (
            self.not_before is not None
            and self.not_after is not None
            and _as_date(self.not_before) > _as_date(self.not_after)
        ):
            raise ValueError("not_before must not be later than not_after")
        return self

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


def _as_date(value: datetime | date) -> date:
    return value.date() if isinstance(value, datetime) else value


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


OPEN_PHASES = frozenset({Phase.PENDING, Phase.CREATING, Phase.CREATED, Phase.CONFIRMING})
