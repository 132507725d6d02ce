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
    from functions.openapi import _openapi_document

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


# -- route templates with ASP.NET constraints --------------------------------------------


@pytest.mark.parametrize(
    ("template", "path", "schemas"),
    [
        ("jobs/{job_id}", "/api/jobs/{job_id}", {"job_id": {"type": "string"}}),
        (
            "jobs/{job_id:regex(^[0-9]{{1,20}}$)}/bids/{bid_id:guid}/accept",
            "/api/jobs/{job_id}/bids/{bid_id}/accept",
            {
                "job_id": {"type": "string", "pattern": "^[0-9]{1,20}$"},
                "bid_id": {"type": "string", "format": "uuid"},
            },
        ),
        (
            "users/{user_id:regex(^(?:[a-f0-9]{{32}}|me)$)}/plan",
            "/api/users/{user_id}/plan",
            {"user_id": {"type": "string", "pattern": "^(?:[a-f0-9]{32}|me)$"}},
        ),
        (
            "pages/{n:int:min(1)}",
            "/api/pages/{n}",
            {"n": {"type": "integer", "format": "int32", "minimum": 1}},
        ),
        (
            "items/{code:length(2,8)=ab}",
            "/api/items/{code}",
            {"code": {"type": "string", "minLength": 2, "maxLength": 8}},
        ),
        (
            "files/{name:alpha?}",
            "/api/files/{name}",
            {"name": {"type": "string", "pattern": "^[A-Za-z]+$"}},
        ),
    ],
)
def test_constrained_templates_become_plain_paths_and_parameter_schemas(
    template: str, path: str, schemas: dict[str, Any]
) -> None:
    from shared.openapi import parse_route

    parsed_path, parameters = parse_route(template, "api")
    assert parsed_path == path
    assert {p.name: p.schema for p in parameters} == schemas


def test_a_constrained_route_is_documented_under_its_plain_path() -> None:
    from shared.http import EndpointDoc
    from shared.openapi import RouteInfo, build_document

    routes = [
        RouteInfo("get_job", r"jobs/{job_id:regex(^[0-9]+-[a-f0-9]+$)}", ("GET",)),
        RouteInfo("list_jobs", "jobs", ("GET",)),
    ]
    docs = {
        "get_job": EndpointDoc(summary="A job", auth=True),
        "list_jobs": EndpointDoc(
            summary="Jobs", auth=True, links={"get_job": {"job_id": "$response.body#/0/id"}}
        ),
    }
    document = build_document(routes, docs, "api", admin_paths=False)
    validate(document)
    operation = document["paths"]["/api/jobs/{job_id}"]["get"]
    (parameter,) = operation["parameters"]
    assert parameter["schema"] == {"type": "string", "pattern": "^[0-9]+-[a-f0-9]+$"}
    assert {"401", "404"} <= set(operation["responses"])  # 404: a value outside the pattern
    link = document["paths"]["/api/jobs"]["get"]["responses"]["200"]["links"]["GetJob"]
    assert link == {"operationId": "get_job", "parameters": {"job_id": "$response.body#/0/id"}}


def test_an_unknown_constraint_is_an_error_not_a_guess() -> None:
    from shared.openapi import TemplateError, parse_route

    with pytest.raises(TemplateError):
        parse_route("jobs/{job_id:sparkly}")


# -- the document tells the truth ---------------------------------------------------------


def _validator(document: dict[str, Any], name: str) -> Any:
    from jsonschema import Draft202012Validator

    schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _request_schema_name(document: dict[str, Any], path: str, method: str) -> str:
    body = document["paths"][path][method]["requestBody"]["content"]["application/json"]
    return str(body["schema"]["$ref"].rsplit("/", 1)[-1])


@pytest.mark.parametrize(
    ("path", "method", "instance"),
    [
        # What an outside fuzzer found the old document accepting and the app refusing.
        ("/api/jobs", "post", {"name": "x", "kind": ""}),
        ("/api/jobs", "post", {"name": "x", "kind": "text.sentiment"}),  # params required
        ("/api/jobs", "post", {"name": "x", "kind": "history.export", "params": {"a": 1}}),
        ("/api/jobs", "post", {"name": "a\u0000b", "kind": "history.export"}),
        ("/api/register", "post", {"email": "000", "password": "long enough"}),
        ("/api/register", "post", {"email": "a@b.test", "password": "long enough"}),
        ("/api/jobs/{job_id}", "patch", {"name": None}),
        ("/api/jobs/{job_id}", "patch", {"description": None}),
        (
            "/api/jobs/{job_id}/bids",
            "post",
            {"comment": "c", "proposed_deadline": "2099-01-01", "fee": {"amount": ""}},
        ),
        (
            "/api/jobs/{job_id}/bids",
            "post",
            {"comment": "c", "proposed_deadline": "2099-01-01", "fee": {"amount": "1e2"}},
        ),
        (
            "/api/jobs/{job_id}/bids",
            "post",
            {"comment": "c", "proposed_deadline": "2099-01-01", "fee": {"amount": 0}},
        ),
    ],
)
def test_request_schemas_refuse_what_the_app_refuses(
    document: dict[str, Any], path: str, method: str, instance: dict[str, Any]
) -> None:
    validator = _validator(document, _request_schema_name(document, path, method))
    assert not validator.is_valid(instance)


@pytest.mark.parametrize(
    ("path", "method", "instance"),
    [
        ("/api/jobs", "post", {"name": "x", "kind": "history.export"}),
        ("/api/jobs", "post", {"name": "x", "kind": "history.export", "params": None}),
        ("/api/jobs", "post", {"name": "x", "kind": "text.sentiment", "params": {"texts": ["a"]}}),
        ("/api/jobs/{job_id}", "patch", {"name": "renamed"}),
        (
            "/api/jobs/{job_id}/bids",
            "post",
            {"comment": "ok", "proposed_deadline": "2099-01-01", "fee": {"amount": "99.90"}},
        ),
        (
            "/api/jobs/{job_id}/bids",
            "post",
            {"comment": "ok", "proposed_deadline": "2099-01-01", "fee": {"amount": 12}},
        ),
    ],
)
def test_request_schemas_accept_what_the_app_accepts(
    document: dict[str, Any], path: str, method: str, instance: dict[str, Any]
) -> None:
    validator = _validator(document, _request_schema_name(document, path, method))
    assert validator.is_valid(instance), list(validator.iter_errors(instance))


def test_every_status_an_operation_can_answer_is_listed(document: dict[str, Any]) -> None:
    paths = document["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            responses = operation["responses"]
            if "security" in operation:
                assert "401" in responses, (method, path)
                assert responses["401"]["headers"]["WWW-Authenticate"]["required"] is True
            if "requestBody" in operation and not path.startswith("/admin"):
                assert {"400", "413", "415"} <= set(responses), (method, path)
            if "{" in path:
                assert "404" in responses, (method, path)
            for status, response in responses.items():
                if status.startswith(("4", "5")) and "content" in response:
                    media = response["content"].get("application/problem+json")
                    if media is not None:
                        assert media["schema"] == {"$ref": "#/components/schemas/Problem"}
    for path, method in [
        ("/api/login", "post"),
        ("/api/register", "post"),
        ("/api/resend-otp", "post"),
        ("/api/jobs", "post"),
        ("/api/jobs/{job_id}/bids", "post"),
    ]:
        assert "429" in paths[path][method]["responses"], (method, path)
        assert "Retry-After" in paths[path][method]["responses"]["429"]["headers"]
    assert "503" in paths["/api/jobs"]["post"]["responses"]
    health = paths["/api/health"]["get"]["responses"]["503"]["content"]["application/json"]
    assert health["schema"]["$ref"].endswith("HealthOut")


def test_links_lead_from_created_resources_to_the_operations_on_them(
    document: dict[str, Any],
) -> None:
    paths = document["paths"]
    created = paths["/api/jobs"]["post"]["responses"]["201"]["links"]
    assert created["GetJob"] == {
        "operationId": "get_job",
        "parameters": {"job_id": "$response.body#/id"},
    }
    assert created["ListBids"]["operationId"] == "list_bids"
    bid = paths["/api/jobs/{job_id}/bids"]["post"]["responses"]["201"]["links"]
    assert bid["AcceptBid"]["parameters"] == {
        "job_id": "$response.body#/job_id",
        "bid_id": "$response.body#/id",
    }
    listed = paths["/api/jobs/{job_id}/bids"]["get"]["responses"]["200"]["links"]
    assert listed["AcceptBid"]["operationId"] == "accept_bid"
    operation_ids = {op["operationId"] for ops in paths.values() for op in ops.values()}
    for ops in paths.values():
        for op in ops.values():
            for response in op["responses"].values():
                for link in response.get("links", {}).values():
                    assert link["operationId"] in operation_ids


def test_query_parameters_are_never_nullable(document: dict[str, Any]) -> None:
    for operations in document["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                assert "null" not in json.dumps(parameter["schema"]), parameter
    kind = next(
        p for p in document["paths"]["/api/jobs"]["get"]["parameters"] if p["name"] == "kind"
    )
    assert kind["schema"]["enum"] == ["history.export", "text.sentiment", "weather.report"]


def test_a_weather_report_refuses_cities_the_weather_route_refuses() -> None:
    from shared.domain.errors import ValidationFailed
    from shared.services.job_kinds import validate_params

    assert validate_params("weather.report", {"cities": ["Paris,FR"]})["cities"] == ["Paris,FR"]
    for city in ("  ", ",", "Pa\u0085ris", "a\nb"):
        with pytest.raises(ValidationFailed) as refused:
            validate_params("weather.report", {"cities": [city]})
        assert refused.value.errors[0].message == "must not be blank or contain control characters"
