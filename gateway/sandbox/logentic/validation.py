"""Input checks as Logentic (a Laravel application) answers them: 422 naming EVERY failing field.

`{"message": "<first message> (and N more errors)", "errors": {"<dotted.field>": ["…"]}}`,
with Laravel's wording ("The recipient.email field is required."). Each function returns the
cleaned values it accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from .errors import ApiError

if TYPE_CHECKING:
    from .state import LogenticItem, LogenticState

ORDER_TYPES = ("DELIVERY",)
RECIPIENT_FIELDS = ("name", "email", "phone")
PLACE_FIELDS = ("address1", "postal_code", "city", "province_code", "country_code")
ITEM_NUMBERS = ("width_in", "depth_in", "height_in", "weight")
MAX_PER_PAGE = 100


class Errors:
    """Failing fields in the order found, each with its messages."""

    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.fields.setdefault(field, []).append(message)

    def raise_any(self) -> None:
        if not self.fields:
            return
        messages = [m for ms in self.fields.values() for m in ms]
        more = len(messages) - 1
        suffix = f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
        raise ApiError(422, messages[0] + suffix, errors=self.fields)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(e: Errors, field: str, value: Any, *, required: bool) -> str | None:
    if _blank(value):
        if required:
            e.add(field, f"The {field} field is required.")
        return None
    if not isinstance(value, str):
        e.add(field, f"The {field} field must be a string.")
        return None
    return value


def _numeric(e: Errors, field: str, value: Any, *, integer: bool) -> Any:
    """A required integer (`integer`) or number; None, and the field's error, if it is not."""
    if _blank(value):
        e.add(field, f"The {field} field is required.")
        return None
    if isinstance(value, bool) or not isinstance(value, int if integer else int | float):
        e.add(field, f"The {field} field must be {'an integer' if integer else 'a number'}.")
        return None
    return value


def _reference(e: Errors, field: str, value: Any) -> str | None:
    """An optional id that may come as a string or a number (Shopify ids); kept as a string."""
    if _blank(value):
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        e.add(field, f"The {field} field must be a string.")
        return None
    return str(value)


# orders ------------------------------------------------------------------------------------
def order_fields(body: Any, state: LogenticState, *, creating: bool) -> dict[str, Any]:
    """The accepted fields of `POST /orders` (`creating`) or of a `PUT /orders/{id}`.

    On create every required field is checked; on update only the fields given are (a given
    field is still required to be non-empty), and `status` may also be CANCELLED.
    """
    e = Errors()
    body = body if isinstance(body, dict) else {}
    out: dict[str, Any] = {}

    def asked(key: str) -> bool:
        return creating or key in body

    _choices(e, body, out, creating=creating)
    if asked("warehouse_id"):
        warehouse_id = _numeric(e, "warehouse_id", body.get("warehouse_id"), integer=True)
        if warehouse_id is not None and warehouse_id not in state.warehouses:
            e.add("warehouse_id", "The selected warehouse_id is invalid.")
        elif warehouse_id is not None:
            out["warehouse_id"] = warehouse_id
    if asked("recipient"):
        recipient = _object(
            e, "recipient", body.get("recipient"), RECIPIENT_FIELDS, creating=creating
        )
        if recipient is not None:
            out["recipient"] = recipient
    if asked("place"):
        place = _object(
            e, "place", body.get("place"), PLACE_FIELDS, optional=("address2",), creating=creating
        )
        if place is not None:
            _country(e, place.get("country_code"))
            out["place"] = place
    if asked("stored_items"):
        lines = _stored_items(e, body.get("stored_items"), state)
        if lines is not None:
            out["stored_items"] = lines
    for key in ("external_name", "notes"):
        if key in body:
            out[key] = _text(e, key, body[key], required=False)
    if "shopify_order_id" in body:
        out["shopify_order_id"] = _reference(e, "shopify_order_id", body["shopify_order_id"])
    e.raise_any()
    return out


def _choices(e: Errors, body: dict[str, Any], out: dict[str, Any], *, creating: bool) -> None:
    """`order_type` (DELIVERY) and `status` (PENDING; on update also CANCELLED)."""
    allowed = {
        "order_type": ORDER_TYPES,
        "status": ("PENDING",) if creating else ("PENDING", "CANCELLED"),
    }
    for field, choices in allowed.items():
        if not creating and field not in body:
            continue
        value = _text(e, field, body.get(field), required=True)
        if value is not None and value not in choices:
            e.add(field, f"The selected {field} is invalid.")
        elif value is not None:
            out[field] = value


def _object(
    e: Errors,
    name: str,
    value: Any,
    required: tuple[str, ...],
    *,
    optional: tuple[str, ...] = (),
    creating: bool,
) -> dict[str, Any] | None:
    """A nested object (`recipient`, `place`); on update only its given keys are checked."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        e.add(name, f"The {name} field must be an array.")
        return None
    cleaned: dict[str, Any] = {}
    for key in required:
        if creating or key in value:
            text = _text(e, f"{name}.{key}", value.get(key), required=True)
            if text is not None:
                cleaned[key] = text
    for key in optional:
        if key in value:
            cleaned[key] = _text(e, f"{name}.{key}", value[key], required=False)
    return cleaned


def _country(e: Errors, code: str | None) -> None:
    field = "place.country_code"
    if code is None:
        return
    if len(code) != 2:
        e.add(field, f"The {field} field must be 2 characters.")
    elif not code.isascii() or not code.isalpha():
        e.add(field, f"The {field} field must only contain letters.")


def _stored_items(e: Errors, lines: Any, state: LogenticState) -> list[dict[str, Any]] | None:
    if lines is None or lines == []:
        e.add("stored_items", "The stored_items field is required.")
        return None
    if not isinstance(lines, list):
        e.add("stored_items", "The stored_items field must be an array.")
        return None
    cleaned = [_line(e, i, line, state) for i, line in enumerate(lines)]
    return [line for line in cleaned if line is not None]


def _line(e: Errors, index: int, line: Any, state: LogenticState) -> dict[str, Any] | None:
    where = f"stored_items.{index}"
    if not isinstance(line, dict):
        e.add(where, f"The {where} field must be an array.")
        return None
    raw_id, raw_variant = line.get("item_id"), line.get("shopify_variant_id")
    item: LogenticItem | None = None
    if _blank(raw_id) and _blank(raw_variant):
        for field, other in (("item_id", "shopify_variant_id"), ("shopify_variant_id", "item_id")):
            e.add(
                f"{where}.{field}",
                f"The {where}.{field} field is required when {where}.{other} is not present.",
            )
    variant = _reference(e, f"{where}.shopify_variant_id", raw_variant)
    if not _blank(raw_id):
        item_id = _numeric(e, f"{where}.item_id", raw_id, integer=True)
        item = state.items.get(item_id) if item_id is not None else None
        if item_id is not None and item is None:
            e.add(f"{where}.item_id", f"The selected {where}.item_id is invalid.")
    elif variant is not None:
        item = state.item_by_variant(variant)
        if item is None:
            e.add(
                f"{where}.shopify_variant_id",
                f"The selected {where}.shopify_variant_id is invalid.",
            )
    quantity = _numeric(e, f"{where}.quantity", line.get("quantity"), integer=False)
    if quantity is not None and quantity <= 0:
        e.add(f"{where}.quantity", f"The {where}.quantity field must be greater than 0.")
        quantity = None
    if item is None or quantity is None:
        return None
    cleaned: dict[str, Any] = {"item_id": item.id, "quantity": quantity}
    if variant is not None:
        cleaned["shopify_variant_id"] = variant
    return cleaned


# items -------------------------------------------------------------------------------------
def item_fields(body: Any) -> dict[str, Any]:
    """The accepted fields of `POST /items` (other optional fields are accepted and ignored)."""
    e = Errors()
    body = body if isinstance(body, dict) else {}
    out: dict[str, Any] = {"name": _text(e, "name", body.get("name"), required=True)}
    for field in ITEM_NUMBERS:
        value = _numeric(e, field, body.get(field), integer=False)
        if value is not None and value < 0:
            e.add(field, f"The {field} field must be at least 0.")
        out[field] = value
    if "external_name" in body:
        out["external_name"] = _text(e, "external_name", body["external_name"], required=False)
    if "shopify_variant_id" in body:
        out["shopify_variant_id"] = _reference(e, "shopify_variant_id", body["shopify_variant_id"])
    e.raise_any()
    return out


# query parameters --------------------------------------------------------------------------
def page_params(query: Mapping[str, str], default_per_page: int) -> tuple[int, int]:
    """`page` (from 1) and `per_page` (capped at 100) of a list request."""
    e = Errors()
    values = []
    for name, default in (("page", 1), ("per_page", default_per_page)):
        raw = query.get(name, "").strip()
        if not raw:
            values.append(default)
        elif not raw.isdigit():
            e.add(name, f"The {name} field must be an integer.")
        elif int(raw) < 1:
            e.add(name, f"The {name} field must be at least 1.")
        else:
            values.append(int(raw))
    e.raise_any()
    return values[0], min(values[1], MAX_PER_PAGE)


def updated_range(query: Mapping[str, str]) -> tuple[float | None, float | None]:
    """`updated_at_start`/`updated_at_end` as timestamps, both inclusive.

    A date alone means the whole day (UTC): from its first instant, to its last.
    """
    e = Errors()
    bounds: list[float | None] = []
    for name in ("updated_at_start", "updated_at_end"):
        raw = query.get(name, "").strip()
        if not raw:
            bounds.append(None)
            continue
        try:
            bounds.append(_instant(raw, end=name.endswith("end")))
        except ValueError:
            e.add(name, f"The {name} field must be a valid date.")
            bounds.append(None)
    e.raise_any()
    return bounds[0], bounds[1]


def _instant(raw: str, *, end: bool) -> float:
    if len(raw) == 10:
        day = date.fromisoformat(raw)
        start = datetime.combine(day, time(), tzinfo=UTC)
        return (start + timedelta(days=1)).timestamp() - 1e-6 if end else start.timestamp()
    when = datetime.fromisoformat(raw)
    return (when if when.tzinfo is not None else when.replace(tzinfo=UTC)).timestamp()
