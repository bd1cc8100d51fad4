"""A request's parameters: the query through its documented model, path values by one rule.

Both answer 400 `invalid-query`/`invalid-path` naming each bad parameter (`query.limit`,
`path.id`), so no malformed value reaches a store query or a provider.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from gateway.api.body import loc_of
from gateway.api.keys import SETTINGS
from gateway.api.middlewares import SANDBOX_PREFIX, Handler
from gateway.api.spec import operation_of
from gateway.errors import FieldProblem, ProblemError
from gateway.model.text import control_character

Q = TypeVar("Q", bound=BaseModel)


def read_query(request: web.Request, model: type[Q]) -> Q:
    """The query parameters `model` declares, validated by it and by the route's `choices`
    (see `describe`); others are ignored, but one without a name is refused."""
    query = request.query
    given = {name: query[name] for name in model.model_fields if name in query}
    errors = []
    parsed = None
    try:
        parsed = model.model_validate(given)
    except ValidationError as exc:
        errors = [
            # The parameter, not the union member or validator pydantic adds after it.
            FieldProblem(
                "query." + loc_of(tuple(err["loc"][:1])),
                err["msg"].removeprefix("Value error, "),
                rule=err["type"],
            )
            for err in exc.errors(include_url=False, include_context=False)
        ]
    if "" in query:  # `?=x`: a parameter with no name is malformed, not merely unknown
        errors.append(FieldProblem("query", "a parameter has no name", rule="missing_name"))
    op = operation_of(request.match_info.route)
    for name, choices in (op.choices if op is not None else {}).items():
        allowed = choices(request.app)
        loc = f"query.{name}"
        if name in given and given[name] not in allowed and all(e.loc != loc for e in errors):
            errors.append(FieldProblem(loc, one_of(allowed), rule="enum"))
    if errors or parsed is None:
        raise _invalid("invalid-query", "Invalid query parameters", errors)
    return parsed


def one_of(allowed: Sequence[str]) -> str:
    """What a value outside `allowed` is told, worded as pydantic words it for an enum."""
    quoted = [f"'{value}'" for value in allowed]
    if len(quoted) < 2:
        return f"Input should be {''.join(quoted) or 'nothing: none is configured'}"
    return f"Input should be {', '.join(quoted[:-1])} or {quoted[-1]}"


@web.middleware
async def path_parameters(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse control characters in path values (`/v1/orders/{id}`) before any handler."""
    if request.path.startswith(SANDBOX_PREFIX):
        return await handler(request)
    errors = [
        FieldProblem(f"path.{name}", f"must not contain control characters ({where})")
        for name, value in request.match_info.items()
        if (where := control_character(value))
    ]
    if errors:
        raise _invalid("invalid-path", "Invalid path parameters", errors)
    return await handler(request)


def _invalid(code: str, title: str, errors: list[FieldProblem]) -> ProblemError:
    return ProblemError(
        400,
        code,
        title,
        errors=errors,
        detail="; ".join(f"{e.loc} {e.msg}" for e in errors),
    )


def configured_providers(app: web.Application) -> list[str]:
    """The providers of the configuration: the values a `provider` parameter takes."""
    return sorted(app[SETTINGS].providers)
