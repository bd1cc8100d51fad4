"""Submits: `POST /v1/orders` and `POST /v1/returns`, each exactly once per Idempotency-Key
(`IdempotentSubmit`). The key is read by the pattern the document gives for it."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel

from gateway.api.answers import answer_response
from gateway.api.auth import require
from gateway.api.body import read_json
from gateway.api.spec import H, Header, describe
from gateway.errors import FieldProblem, ProblemError
from gateway.model.clients import Client
from gateway.submissions.idempotency import Answer

M = TypeVar("M", bound=BaseModel)
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


async def submitted(
    request: web.Request,
    model: type[M],
    what: str,
    submit: Callable[[Client, str, M], Awaitable[Answer]],
) -> web.Response:
    """The answer to a submit of a `what` (a `model` body), run by `submit` under its key."""
    client = require(request)
    key = idempotency_key(request, what)
    body = await read_json(request, model, what=f"canonical {what}")
    return answer_response(await submit(client, key, body))


def idempotency_key(request: web.Request, what: str) -> str:
    """The request's `Idempotency-Key` (400 when missing or malformed)."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        raise ProblemError(
            400,
            "idempotency-key-missing",
            "Idempotency-Key header required",
            detail=f"send a unique Idempotency-Key header with every new {what}",
            errors=[FieldProblem("header.Idempotency-Key", "required")],
        )
    if not _KEY.match(key):
        raise ProblemError(
            400,
            "idempotency-key-invalid",
            "Idempotency-Key is malformed",
            detail="1–255 printable ASCII characters without spaces",
            errors=[FieldProblem("header.Idempotency-Key", "malformed")],
        )
    return key


def describe_submit(
    summary: str,
    *,
    tag: str,
    body: type[BaseModel],
    view: type[BaseModel],
    what: str,
    scopes: Sequence[str],
) -> Callable[[H], H]:
    """`describe` of a submit of `what` (exactly once per key, see `IdempotentSubmit`): its
    `view` when done (201) or accepted (202), 409 while its key runs; the `Idempotency-Key`
    header with the pattern `idempotency_key` enforces."""
    located = ["Location", "Idempotent-Replayed"]
    key = Header(
        "Idempotency-Key", f"unique per new {what}; a replay answers the same", True, _KEY.pattern
    )
    return describe(
        summary,
        tag=tag,
        body=body,
        responses={201: view, 202: view},
        problems=(409,),
        response_headers={201: located, 202: located, 409: ["Retry-After"]},
        headers=[key],
        scopes=scopes,
    )
