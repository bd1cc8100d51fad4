"""Submits: `POST /v1/orders` and `POST /v1/returns`, each exactly once per Idempotency-Key
(`IdempotentSubmit`). The key is read by the pattern the document gives for it; the answer
the key keeps is rendered here (`submit_answer`), from the outcome the use-case reached."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel

from gateway.api.answers import answer_response
from gateway.api.auth import require
from gateway.api.body import read_json
from gateway.api.problems import problem_of
from gateway.api.spec import H, Header, describe
from gateway.errors import FieldProblem, ProblemError
from gateway.model.clients import Client
from gateway.submissions.idempotency import (
    Answer,
    Keyed,
    Render,
    Settled,
    SubmitOutcome,
    Submitted,
)
from gateway.submissions.resources import Resource

M = TypeVar("M", bound=BaseModel)
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


async def submitted(
    request: web.Request,
    model: type[M],
    what: str,
    submit: Callable[[Client, str, M, Render], Awaitable[Keyed]],
) -> web.Response:
    """The answer to a submit of a `what` (a `model` body), run by `submit` under its key."""
    client = require(request)
    key = idempotency_key(request, what)
    body = await read_json(request, model, what=f"canonical {what}")
    return answer_response(await submit(client, key, body, submit_answer))


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


OUTCOME_STATUS = {SubmitOutcome.DONE: 201, SubmitOutcome.QUEUED: 202, SubmitOutcome.REJECTED: 422}
"""A submit's answer by how far it got while the caller waited."""


def submit_answer(resource: Resource, settled: Settled) -> Answer:
    """The answer an Idempotency-Key keeps (`Render`): the resource's view as `201`/`202`, a
    rejected one under the `provider-rejected` problem, or the natural key's holder."""
    if isinstance(settled, Submitted):
        status = OUTCOME_STATUS[settled.outcome]
        rejected = settled.outcome is SubmitOutcome.REJECTED
        view = _rejected(settled.view, resource, status) if rejected else settled.view
        return Answer(status, orjson.dumps(view))
    problem = problem_of(settled)
    assert problem is not None
    return Answer(problem.status, orjson.dumps(problem.body(instance=resource.path)))


def _rejected(view: dict[str, Any], resource: Resource, status: int) -> dict[str, Any]:
    """A resource its provider refused: a problem under which the resource's view stands as
    `order` or `return`."""
    error = (view.get("submission") or {}).get("last_error") or {}
    reason = error.get("provider_message") or f"the provider refused the {resource.noun}"
    fields = error.get("fields") or []
    return {
        "type": "/problems/provider-rejected",
        "title": f"The provider rejected the {resource.noun}",
        "status": status,
        "detail": f"{view['provider']}: {reason}",
        "instance": f"{resource.path}/{view['id']}",
        "code": "provider-rejected",
        "provider": view["provider"],
        "provider_code": error.get("provider_code"),
        "correlation_id": error.get("correlation_id"),
        "errors": [{"loc": f["loc"], "msg": f["msg"], "rule": view["provider"]} for f in fields],
        resource.noun: view,
    }
