"""The OpenAPI document: valid 3.1, and every registered HTTP route is in it."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from openapi_spec_validator import validate


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    import function_app  # noqa: F401 - registers every blueprint
    from functions.ops import _openapi_document

    return dict(json.loads(_openapi_document()))


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_every_http_function_is_documented_with_its_methods(document: dict[str, Any]) -> None:
    import function_app
    from shared.openapi import routes_of

    routes = routes_of(function_app.app)
    assert len(routes) >= 20
    for route in routes:
        # braces inside a parameter are doubled (ASP.NET), e.g. a regex's {{13}}
        path = "/api/" + re.sub(r"\{\*?([A-Za-z_]\w*)(?:[^{}]|\{\{|\}\})*\}", r"{\1}", route.route)
        assert path in document["paths"], path
        for method in route.methods:
            operation = document["paths"][path][method.lower()]
            assert operation["operationId"] == route.function
            assert operation["summary"]


def test_bodies_responses_auth_and_errors_are_described(document: dict[str, Any]) -> None:
    create = document["paths"]["/api/jobs"]["post"]
    body = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][body.rsplit("/", 1)[-1]]
    assert {"name", "kind"} <= set(schema["required"])
    assert schema["additionalProperties"] is False
    assert create["security"] == [{"bearerAuth": []}]
    assert {"201", "400", "401", "413"} <= set(create["responses"])
    problem = create["responses"]["400"]["content"]["application/problem+json"]["schema"]
    assert problem == {"$ref": "#/components/schemas/Problem"}
    weather = document["paths"]["/api/weather"]["get"]
    assert {p["name"] for p in weather["parameters"]} == {"city", "country", "units"}
    assert weather["security"] == [{}, {"bearerAuth": []}]
    listing = document["paths"]["/api/jobs"]["get"]
    sort = next(p for p in listing["parameters"] if p["name"] == "sort")
    assert "scheduled_time" in json.dumps(sort["schema"])
