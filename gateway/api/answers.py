"""How the facade writes its answers: a view, a use-case's stored answer, a problem."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from gateway.errors import ProblemError
from gateway.model.view import View
from gateway.submissions.idempotency import Keyed

PROBLEM_JSON = "application/problem+json"


def json_response(
    body: View | Mapping[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """`body`: a view, or one a use-case wrote out as JSON values already (`order_view`), or
    the OpenAPI document."""
    if isinstance(body, View):
        raw = body.__pydantic_serializer__.to_json(body)  # `model_dump_json`, as bytes
    else:
        raw = orjson.dumps(body)
    return web.Response(status=status, body=raw, headers=headers, content_type="application/json")


def answer_response(keyed: Keyed) -> web.Response:
    """A submit's answer as its key keeps it (a replay sends exactly these bytes again), with
    `Location` naming the resource it created, if any."""
    answer = keyed.answer
    headers = {"Idempotent-Replayed": "true"} if keyed.replayed else {}
    headers.update(keyed.resource.location(keyed.resource_id))
    return web.Response(
        status=answer.status,
        body=answer.body,
        headers=headers,
        content_type=PROBLEM_JSON if answer.status >= 400 else "application/json",
    )


def problem_response(problem: ProblemError, instance: str) -> web.Response:
    return web.Response(
        status=problem.status,
        body=orjson.dumps(problem.body(instance)),
        content_type=PROBLEM_JSON,
        headers=problem.headers,
    )
