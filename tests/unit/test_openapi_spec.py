"""The OpenAPI builder on a small app: a described route is one decorator, and it validates."""

from __future__ import annotations

import pytest
from aiohttp import web
from openapi_spec_validator import validate
from pydantic import BaseModel

from gateway.api.spec import Header, describe, openapi_document


class Thing(BaseModel):
    name: str
    size: int = 1


class ThingQuery(BaseModel):
    colour: str | None = None


async def _created(_request: web.Request) -> web.Response:
    return web.json_response({})


def _app() -> web.Application:
    routes = web.RouteTableDef()

    @routes.post("/v1/things/{id}/paint")
    @describe(
        "Paint a thing",
        tag="things",
        body=Thing,
        responses={200: Thing},
        problems=(409,),
        query=ThingQuery,
        headers=[Header("Idempotency-Key", "once", required=True)],
        scopes=("things:write",),
    )
    async def paint(_request: web.Request) -> web.Response:
        """Paint it now."""
        return web.json_response({})

    @routes.get("/v1/legacy")
    async def legacy(_request: web.Request) -> web.Response:
        """An old route nobody described yet.

        More words.
        """
        return web.json_response({})

    app = web.Application()
    app.add_routes(routes)
    sandbox = web.Application()
    sandbox.router.add_get("/orders", _created)
    app.add_subapp("/_sandbox/x", sandbox)
    return app


def test_described_route_becomes_a_full_operation() -> None:
    doc = openapi_document(_app())
    validate(doc)
    op = doc["paths"]["/v1/things/{id}/paint"]["post"]
    assert op["summary"] == "Paint a thing"
    assert op["description"] == "Paint it now."
    assert op["tags"] == ["things"]
    names = [(p["name"], p["in"], p["required"]) for p in op["parameters"]]
    assert names == [
        ("id", "path", True),
        ("Idempotency-Key", "header", True),
        ("colour", "query", False),
    ]
    assert op["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Thing"
    }
    assert set(op["responses"]) == {
        "200",
        "400",
        "401",
        "403",
        "409",
        "413",
        "415",
        "422",
        "default",
    }
    assert op["security"] == [{"clientKey": []}]
    assert op["x-scopes-any"] == ["things:write"]
    assert doc["components"]["schemas"]["Thing"]["required"] == ["name"]


def test_undescribed_route_is_listed_from_its_docstring_and_sandboxes_are_not() -> None:
    doc = openapi_document(_app())
    legacy = doc["paths"]["/v1/legacy"]["get"]
    assert legacy["summary"] == "An old route nobody described yet."
    assert legacy["tags"] == ["undescribed"]
    assert not [p for p in doc["paths"] if p.startswith("/_sandbox")]
    assert "head" not in doc["paths"]["/v1/legacy"]


def _twins() -> tuple[type[BaseModel], type[BaseModel]]:
    """Two answer models both named `Decision`, as two modules of the gateway have."""

    def routing() -> type[BaseModel]:
        class Decision(BaseModel):
            rule: str

        return Decision

    def returns() -> type[BaseModel]:
        class Decision(BaseModel):
            code: str

        return Decision

    return returns(), routing()


def _app_answering(*models: type[BaseModel]) -> web.Application:
    routes = web.RouteTableDef()
    for i, model in enumerate(models):

        async def read(_request: web.Request) -> web.Response:
            return web.json_response({})

        read.__name__ = f"read_{i}"
        routes.get(f"/v1/things/{i}")(
            describe("A thing", tag="things", responses={200: model})(read)
        )
    app = web.Application()
    app.add_routes(routes)
    return app


def test_schemas_are_named_by_title_and_two_equal_names_fail_the_build() -> None:
    first, second = _twins()
    with pytest.raises(ValueError, match="two schemas are titled 'Decision'"):
        openapi_document(_app_answering(first, second))
    # pydantic alone would call them `tests__unit__…__Decision__1`; a title names one publicly.
    second.model_config["title"] = "RouteDecision"
    second.model_rebuild(force=True)
    doc = openapi_document(_app_answering(first, second))
    validate(doc)
    assert set(doc["components"]["schemas"]) >= {"Decision", "RouteDecision", "Problem"}
    answer = doc["paths"]["/v1/things/1"]["get"]["responses"]["200"]["content"]
    assert answer["application/json"]["schema"] == {"$ref": "#/components/schemas/RouteDecision"}
