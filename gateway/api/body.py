"""Reading a JSON request body into a model, with the facade's errors.

Wrong content type → 415; over the size limit → 413; not JSON → 400; not the model → 422,
one `{loc, msg, rule}` per field (`validation_problem`).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from gateway.errors import FieldProblem, ProblemError

M = TypeVar("M", bound=BaseModel)


async def read_json(
    request: web.Request,
    model: type[M],
    *,
    what: str = "canonical order",
    immutable: Collection[str] = (),
) -> M:
    if request.content_type != "application/json":
        raise ProblemError(
            415,
            "unsupported-media-type",
            "The body must be application/json",
            detail=f"Content-Type {request.content_type or '(none)'} is not application/json",
        )
    limit = request.app._client_max_size  # aiohttp keeps the limit only here
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise _too_large(limit) from None
    return decode(raw, model, what=what, immutable=immutable)


def decode(
    raw: bytes, model: type[M], *, what: str = "canonical order", immutable: Collection[str] = ()
) -> M:
    """`raw` JSON as `model`, or the facade's 400 `malformed-json` / 422 `validation` problem
    (also what `gateway route` prints for an order file that is not one); `immutable`: see
    `validation_problem`."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ProblemError(
            400,
            "malformed-json",
            "The body is not valid JSON",
            detail=str(exc),
            errors=[FieldProblem("body", str(exc), rule="json")],
        ) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_problem(exc, what=what, immutable=immutable) from None


def too_large(title: str, detail: str) -> ProblemError:
    """413: a body over its limit (`detail` says which)."""
    return ProblemError(413, "payload-too-large", title, detail=detail)


def _too_large(limit: int) -> ProblemError:
    return too_large("The body is too large", f"bodies are limited to {limit} bytes")


def loc_of(parts: tuple[int | str, ...]) -> str:
    """`('lines', 0, 'sku')` → `lines[0].sku`."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "body"


IMMUTABLE = "field-immutable"
"""Code of a change naming a field that cannot change (and the `rule` of each such error)."""


def validation_problem(
    exc: ValidationError,
    *,
    prefix: str = "",
    what: str = "canonical order",
    immutable: Collection[str] = (),
) -> ProblemError:
    """`exc` as the facade's 422. `immutable`: fields of the canonical order the body's model
    (a change) leaves out on purpose — one of them is named as such, not as an unknown field."""
    errors = []
    for err in exc.errors(include_url=False, include_context=False):
        parts = tuple(err["loc"])
        loc = loc_of(parts)
        if prefix:
            loc = f"{prefix}.{loc}" if loc != "body" else prefix
        msg, rule = err["msg"].removeprefix("Value error, "), err["type"]
        if rule == "extra_forbidden" and len(parts) == 1 and parts[0] in immutable:
            msg, rule = f"{parts[0]} cannot be changed after submission", IMMUTABLE
        elif rule == "extra_forbidden":
            msg = f"unknown field (the {what} does not have it)"
        errors.append(FieldProblem(loc, msg, rule=rule))
    if all(e.rule == IMMUTABLE for e in errors):
        return ProblemError(
            422,
            IMMUTABLE,
            "The change names fields that cannot be changed after submission",
            detail="; ".join(e.msg for e in errors)
            + " (to change them, cancel the order and submit a corrected one)",
            errors=errors,
        )
    return ProblemError(
        422,
        "validation",
        f"The request body is not a valid {what}",
        detail=f"{len(errors)} field(s) invalid: " + ", ".join(e.loc for e in errors[:10]),
        errors=errors,
    )
