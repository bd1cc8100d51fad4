"""The OpenAPI 3.1 document, built from the app's router and the pydantic models.

Paths and methods come from the routes the app really serves; schemas come from the models
(`model_json_schema`). What the router cannot know — a summary, the body and answer models,
the scopes — is one decorator beside the handler:

    @routes.post("/v1/orders/{id}/cancel")
    @describe("Cancel at the provider", tag="orders", responses={200: OrderView}, problems=(409,))
    async def cancel(request): ...

A route without `describe` is still listed (summary from its docstring), and a test fails
until it is described. Errors are always `application/problem+json` (`Problem`): 401/403 are
added for authenticated routes, 400 for routes with a query model (`read_query`),
400/413/415/422 for routes with a JSON body.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from gateway import __version__
from gateway.model.responses import Problem
from gateway.model.text import CONTROL_CHARACTERS, SUBSCRIBER_ID_PATTERN, ULID_PATTERN

H = TypeVar("H", bound=Callable[..., Any])
Choices = Callable[[web.Application], Sequence[str]]
"""The values a parameter takes that the app's configuration decides (provider names)."""
ATTRIBUTE = "__openapi__"
REF = "#/components/schemas/{model}"
_REF_PREFIX = REF.format(model="")
_PATH_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    400: "Bad request",
    401: "Not authenticated",
    403: "Not allowed",
    404: "Not found",
    408: "Body not received in time",
    409: "Conflict",
    413: "Body too large",
    415: "Not application/json",
    422: "Not acceptable: the problem names the field and the rule",
    503: "Not ready",
}
HIDDEN_PREFIXES = ("/_sandbox/", "/console")
"""Not the API: the simulators and the operator console's HTML pages."""
PATH_TEXT: Mapping[str, Any] = {"type": "string", "pattern": f"^[^{CONTROL_CHARACTERS}]+$"}
"""A path value: any text without control characters (`path_parameters` refuses those)."""


def _gateway_id(prefix: str) -> Mapping[str, Any]:
    # Any other value names nothing: 404, as for an id of another tenant.
    return {"type": "string", "pattern": f"^{prefix}{ULID_PATTERN}$"}


ORDER_ID = _gateway_id("ord_")
RETURN_ID = _gateway_id("ret_")
EVENT_ID = _gateway_id("evt_")
SUBSCRIBER: Mapping[str, Any] = {"type": "string", "pattern": SUBSCRIBER_ID_PATTERN}
RETRY_ON_CONFLICT: Mapping[int, Sequence[str]] = {409: ["Retry-After"]}
"""`response_headers` of a route whose 409 may say when to try again."""
RESPONSE_HEADERS = {
    "X-Request-ID": "the caller's request id, or a new one; on every log line of the request",
    "Location": "where the resource can be read",
    "Idempotent-Replayed": "`true` when this is the stored answer to an earlier request",
    "Retry-After": "seconds to wait before trying again",
}


@dataclass(frozen=True, slots=True)
class Header:
    name: str
    description: str
    required: bool = False
    pattern: str | None = None
    """The regular expression a value must match, where the handler enforces one."""


@dataclass(frozen=True, slots=True)
class Operation:
    summary: str
    tag: str
    body: type[BaseModel] | Literal["any"] | None = None
    responses: Mapping[int, type[BaseModel] | None] = field(default_factory=dict)
    problems: Sequence[int] = ()
    query: type[BaseModel] | None = None
    headers: Sequence[Header] = ()
    auth: bool = True
    scopes: Sequence[str] = ()
    text: bool = False
    """The 200 answer is text/plain (the Prometheus exposition format)."""
    response_headers: Mapping[int, Sequence[str]] = field(default_factory=dict)
    """Headers (names from `RESPONSE_HEADERS`) a status carries besides `X-Request-ID`."""
    path: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """JSON schema of a path parameter (default `PATH_TEXT`): an id's shape, for instance."""
    choices: Mapping[str, Choices] = field(default_factory=dict)
    """Path or query parameters whose values are an enumeration of the configuration:
    documented as an `enum`; `read_query` refuses any other value (400 naming them)."""


def describe(
    summary: str,
    *,
    tag: str,
    body: type[BaseModel] | Literal["any"] | None = None,
    responses: Mapping[int, type[BaseModel] | None] | None = None,
    problems: Sequence[int] = (),
    query: type[BaseModel] | None = None,
    headers: Sequence[Header] = (),
    auth: bool = True,
    scopes: Sequence[str] = (),
    text: bool = False,
    response_headers: Mapping[int, Sequence[str]] | None = None,
    path: Mapping[str, Mapping[str, Any]] | None = None,
    choices: Mapping[str, Choices] | None = None,
) -> Callable[[H], H]:
    """Describe a handler for the OpenAPI document (see the module docstring).

    `responses` maps success statuses to their model (None: no body); `problems` lists the
    error statuses particular to this route. `scopes`: any one of them is enough.
    """
    op = Operation(
        summary,
        tag,
        body,
        responses or {200: None},
        problems,
        query,
        headers,
        auth,
        scopes,
        text,
        response_headers or {},
        path or {},
        choices or {},
    )

    def mark(handler: H) -> H:
        setattr(handler, ATTRIBUTE, op)
        return handler

    return mark


def operation_of(route: web.AbstractRoute) -> Operation | None:
    op = getattr(route.handler, ATTRIBUTE, None)
    return op if isinstance(op, Operation) else None


def api_routes(app: web.Application) -> list[tuple[str, str, web.AbstractRoute]]:
    """(path template, method, route) of every route the facade serves (not the sandboxes)."""
    out = []
    for route in app.router.routes():
        resource = route.resource
        if resource is None or route.method in ("HEAD", "*"):
            continue
        path = resource.canonical
        if path.startswith(HIDDEN_PREFIXES):
            continue
        out.append((path, route.method.lower(), route))
    return out


def openapi_document(app: web.Application) -> dict[str, Any]:
    routes = api_routes(app)
    models: set[type[BaseModel]] = {Problem}
    for _path, _method, route in routes:
        op = operation_of(route)
        if op is None:
            continue
        if isinstance(op.body, type):
            models.add(op.body)
        if op.query is not None:
            models.add(op.query)
        models.update(m for m in op.responses.values() if m is not None)
    # One mode per model keeps one schema per name; requests and answers use distinct models.
    keyed, defs = models_json_schema(
        [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)],
        ref_template=REF,
    )
    names = _public_names(defs.get("$defs", {}))
    defs, keyed = _renamed(defs, names), _renamed(keyed, names)
    refs: dict[Any, Any] = {model: schema for (model, _mode), schema in keyed.items()}
    schemas: dict[str, Any] = defs.get("$defs", {})
    build = _Build(app, refs, schemas)
    paths: dict[str, dict[str, Any]] = {}
    for path, method, route in sorted(routes, key=lambda r: (r[0], r[1])):
        paths.setdefault(path, {})[method] = _operation(path, method, route, build)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Order Routing Gateway",
            "version": __version__,
            "description": "One REST facade in front of several 3PL providers: validate, "
            "store, route, submit exactly once, follow, report back.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "headers": {
                name: {"description": text, "schema": {"type": "string"}}
                for name, text in RESPONSE_HEADERS.items()
            },
            "securitySchemes": {
                "clientKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "the client's key; each client is a tenant",
                }
            },
        },
    }


def _public_names(defs: Mapping[str, Any]) -> dict[str, str]:
    """Each schema under its title — the class name, or its `title` (`ConfigDict(title=...)`,
    `__pydantic_config__` on a dataclass) — never pydantic's module path for two equal names.

    Two schemas with one title is a programming error: the document would have to choose one,
    so building it fails, naming both."""
    owners: dict[str, str] = {}
    for key, schema in defs.items():
        title = schema.get("title", key)
        if title in owners:
            raise ValueError(
                f"two schemas are titled {title!r} ({owners[title]}, {key}): give one a title"
            )
        owners[title] = key
    return {key: title for title, key in owners.items()}


def _renamed(value: Any, names: Mapping[str, str]) -> Any:
    """`value` with its definitions and every `$ref` to them under their public names."""
    if isinstance(value, list):
        return [_renamed(item, names) for item in value]
    if not isinstance(value, dict):
        return value
    out: dict[Any, Any] = {}
    for key, item in value.items():
        if key == "$ref" and isinstance(item, str) and item.startswith(_REF_PREFIX):
            name = item.removeprefix(_REF_PREFIX)
            out[key] = REF.format(model=names.get(name, name))
        elif key == "$defs":
            out[key] = {names.get(k, k): _renamed(v, names) for k, v in item.items()}
        else:
            out[key] = _renamed(item, names)
    return out


@dataclass(frozen=True, slots=True)
class _Build:
    """What every operation of one document is built from."""

    app: web.Application
    refs: Mapping[type[BaseModel], Any]
    schemas: Mapping[str, Any]


def _operation(path: str, method: str, route: web.AbstractRoute, build: _Build) -> dict[str, Any]:
    op = operation_of(route)
    handler_name = getattr(route.handler, "__name__", "handler")
    if op is None:
        doc = (route.handler.__doc__ or handler_name).strip().splitlines()[0]
        op = Operation(doc, "undescribed", responses={200: None})
    out: dict[str, Any] = {
        "operationId": f"{method}_{handler_name}",
        "summary": op.summary,
        "tags": [op.tag],
    }
    if route.handler.__doc__:
        out["description"] = " ".join(route.handler.__doc__.split())
    if params := _parameters(path, op, build):
        out["parameters"] = params
    if op.body is not None:
        schema = {} if op.body == "any" else build.refs[op.body]
        out["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
    if op.auth:
        out["security"] = [{"clientKey": []}]
        if op.scopes:
            out["x-scopes-any"] = list(op.scopes)
    out["responses"] = _responses(op, build.refs)
    return out


def _parameters(path: str, op: Operation, build: _Build) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": dict(op.path.get(name, PATH_TEXT))}
        for name in _PATH_PARAM.findall(path)
    ]
    params += [
        {
            "name": h.name,
            "in": "header",
            "required": h.required,
            "description": h.description,
            "schema": {"type": "string", **({"pattern": h.pattern} if h.pattern else {})},
        }
        for h in op.headers
    ]
    if op.query is not None:
        query = build.schemas[build.refs[op.query]["$ref"].removeprefix(_REF_PREFIX)]
        params += _query_params(query)
    for param in params:
        if (allowed := op.choices.get(param["name"])) is not None:
            param["schema"] = {"type": "string", "enum": list(allowed(build.app))}
    return params


def _responses(op: Operation, refs: Mapping[type[BaseModel], Any]) -> dict[str, Any]:
    problem = {"application/problem+json": {"schema": refs[Problem]}}
    out: dict[str, Any] = {}
    for status, model in op.responses.items():
        answer: dict[str, Any] = {"description": _STATUS_TEXT.get(status, "OK")}
        if op.text:
            answer["content"] = {"text/plain": {"schema": {"type": "string"}}}
        elif model is not None:
            answer["content"] = {"application/json": {"schema": refs[model]}}
        out[str(status)] = answer
    statuses = set(op.problems)
    if op.auth:
        statuses |= {401, 403}
    if op.query is not None:
        statuses |= {400}
    if op.body is not None:
        statuses |= {400, 413, 415, 422}
    for status in sorted(statuses):
        out.setdefault(
            str(status), {"description": _STATUS_TEXT.get(status, "Error"), "content": problem}
        )
    out["default"] = {"description": "Any other error", "content": problem}
    for key, answer in out.items():
        extra = op.response_headers.get(int(key), ()) if key.isdigit() else ()
        answer["headers"] = {
            name: {"$ref": f"#/components/headers/{name}"} for name in ("X-Request-ID", *extra)
        }
    return out


def _query_params(schema: Mapping[str, Any]) -> list[dict[str, Any]]:
    required = set(schema.get("required", []))
    out = []
    for name, declared in schema.get("properties", {}).items():
        param: dict[str, Any] = {"name": name, "in": "query", "required": name in required}
        prop = dict(declared)
        if "description" in prop:
            param["description"] = prop.pop("description")
        prop.pop("title", None)
        # A query value is text or absent, never null: the model's `None` means absent.
        if prop.get("default", 0) is None:
            del prop["default"]
        if (kept := [b for b in prop.pop("anyOf", []) if b != {"type": "null"}]) and not prop.get(
            "anyOf"
        ):
            prop = {**kept[0], **prop} if len(kept) == 1 else {**prop, "anyOf": kept}
        param["schema"] = prop
        out.append(param)
    return out
