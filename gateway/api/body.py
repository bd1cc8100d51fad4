"""Reading a JSON request body into a model, with the facade's errors.

Wrong content type → 415; over the size limit → 413; not JSON → 400; not the model → 422.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from gateway.errors import FieldProblem, ProblemError
from gateway.model.problems import validation_problem

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
