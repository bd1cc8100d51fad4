"""Each type's JSON schema (what `/openapi.json` says) takes exactly what its validator takes.

For every text, code, money, date and id type of a request: a value generated from the
documented schema is accepted by the validator, and for any value — made of the characters
that matter to the rules (white space, controls, digits, letters, `@`, `.`, `+`, `-`) — the
validator accepts it exactly when the schema does, under both validators clients and the
fuzz tests use (Python's jsonschema and jsonschema-rs). Derandomized: the same examples each
run.
"""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker
from pydantic import TypeAdapter, ValidationError

from gateway.model.dates import DateOrInstant, Instant
from gateway.model.money import Money, Percent
from gateway.model.orders import CountryCode, CurrencyCode, Gtin, LanguageCode, Phone
from gateway.model.query import OrderCursor
from gateway.model.text import (
    Email,
    LongText,
    MetadataText,
    OrderId,
    PostalCode,
    ShortText,
    SubscriberId,
    Text,
)

TYPES: dict[str, Any] = {
    "ShortText": ShortText,
    "Text": Text,
    "PostalCode": PostalCode,
    "Email": Email,
    "MetadataText": MetadataText,
    "LongText": LongText,
    "Phone": Phone,
    "Gtin": Gtin,
    "OrderId": OrderId,
    "SubscriberId": SubscriberId,
    "OrderCursor": OrderCursor,
    "CountryCode": CountryCode,
    "CurrencyCode": CurrencyCode,
    "LanguageCode": LanguageCode,
    "Money": Money,
    "Percent": Percent,
    "Instant": Instant,
    "DateOrInstant": DateOrInstant,
}
# The characters the rules are about, and a few of every other kind.
ALPHABET = (
    " \t\n\r\x0b\x0c\x1c\x1f\x85\xa0\u2000\u2028\u3000"  # white space (str.strip() removes it)
    "\x00\x07\x1b\x7f\x80\x9f"  # controls
    "0123456789+-.:@()_TZ"
    "aAfFiIsSuUeEnNdD"  # letters of codes (fi, FI, usd, en) and of ids
    "ordt_01HJKMNPVXYZ"
    "é€😀"
)
RULES = settings(
    max_examples=200,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def _validators(schema: dict[str, Any]) -> tuple[Any, Any]:
    python = Draft202012Validator(schema, format_checker=FormatChecker())
    rust = jsonschema_rs.validator_for(schema, validate_formats=True)
    return python, rust


def _accepts(adapter: TypeAdapter[Any], value: object) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True


def _strings(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    """Values the schema describes: from its pattern (and each branch's), within its lengths."""
    branches = schema.get("anyOf", [schema])
    patterns = [
        st.from_regex(b["pattern"], fullmatch=True).filter(
            lambda v, b=b: b.get("minLength", 0) <= len(v) <= b.get("maxLength", len(v))
        )
        for b in branches
    ]
    return st.one_of(patterns)


@pytest.mark.parametrize("name", sorted(TYPES))
def test_what_the_schema_describes_is_accepted(name: str) -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(TYPES[name])
    schema = adapter.json_schema()
    python, rust = _validators(schema)

    @RULES
    @given(_strings(schema))
    def check(value: str) -> None:
        if python.is_valid(value):  # the pattern holds; a format (a real date) may not
            assert _accepts(adapter, value), (name, value)
            assert rust.is_valid(value), (name, value)

    check()


@pytest.mark.parametrize("name", sorted(TYPES))
def test_the_validator_accepts_exactly_what_the_schema_does(name: str) -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(TYPES[name])
    python, rust = _validators(adapter.json_schema())
    values = st.one_of(
        st.text(alphabet=ALPHABET, max_size=80),
        st.from_regex(
            r"[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
            r"(Z|[+-][0-9]{2}:[0-9]{2})?)?",
            fullmatch=True,
        ),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.none(),
    )

    @RULES
    @given(values)
    def check(value: object) -> None:
        documented = python.is_valid(value)
        assert rust.is_valid(value) == documented, (name, value)
        assert _accepts(adapter, value) == documented, (name, value, documented)

    check()
