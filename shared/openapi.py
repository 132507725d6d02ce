"""The OpenAPI 3.1 document, generated from what the app registers.

Routes and methods come from the function metadata (``app.get_functions()``), request and
response schemas from the pydantic models each ``@http.endpoint`` names. A route added
later appears here without anyone editing a spec file.
"""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shared.http import JSON, PROBLEM_JSON, EndpointDoc
from shared.settings import APP_NAME, APP_VERSION

# A route parameter; braces inside one are doubled (ASP.NET: "{id:regex(^a{{2}}$)}").
_PARAM = re.compile(r"\{\*?(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<rest>(?:[^{}]|\{\{|\}\})*)\}")

_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "Invalid input (problem+json with field errors)",
    401: "Missing, expired or invalid bearer token",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict with the resource's state",
    413: "Body over 64 KiB",
    429: "Too many requests",
    503: "A dependency is unavailable",
}

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "examples": ["/problems/validation"]},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                "required": ["field", "message"],
            },
        },
    },
}


@dataclass(frozen=True)
class RouteInfo:
    function: str
    route: str
    methods: tuple[str, ...]


def routes_of(app: Any) -> list[RouteInfo]:
    """HTTP routes of a FunctionApp, from the same metadata the Functions host reads."""
    routes = []
    # ``get_functions()`` may be called once per app (a second call fails its duplicate-name
    # check, and the worker has already made the first), so the builders are read instead.
    builders = getattr(app, "_function_builders", None)
    functions = (
        [builder.build(app.auth_level) for builder in builders]
        if builders is not None
        else app.get_functions()
    )
    for function in functions:
        metadata = json.loads(function.get_function_json())
        for binding in metadata.get("bindings", []):
            if binding.get("type") == "httpTrigger":
                methods = tuple(m.upper() for m in binding.get("methods") or ("GET", "POST"))
                route = binding.get("route") or function.get_function_name()
                routes.append(RouteInfo(function.get_function_name(), route, methods))
    return routes


def _model_of(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """(model, is_list) for ``Model`` or ``list[Model]``."""
    if annotation is None:
        return None, False
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation)
        return (
            (item, True) if isinstance(item, type) and issubclass(item, BaseModel) else (None, True)
        )
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    return None, False


def _path_and_parameters(route: str, prefix: str) -> tuple[str, list[dict[str, Any]]]:
    parameters = []
    for match in _PARAM.finditer(route):
        rest = match["rest"]
        schema: dict[str, Any] = {"type": "string"}
        if rest.startswith(":int") or rest.startswith(":long"):
            schema = {"type": "integer"}
        parameters.append({"name": match["name"], "in": "path", "required": True, "schema": schema})
    path = _PARAM.sub(lambda m: "{" + m["name"] + "}", route.strip("/"))
    return f"/{prefix}/{path}" if prefix else f"/{path}", parameters


def build_document(
    routes: Iterable[RouteInfo],
    docs: Mapping[str, EndpointDoc],
    route_prefix: str = "api",
    admin_paths: bool = True,
) -> dict[str, Any]:
    routes = sorted(routes, key=lambda r: (r.route, r.function))
    models: set[type[BaseModel]] = set()
    for route in routes:
        doc = docs.get(route.function)
        if doc is None:
            continue
        for annotation in (doc.body, doc.response):
            model, _ = _model_of(annotation)
            if model is not None:
                models.add(model)
    ordered = sorted(models, key=lambda m: m.__name__)
    refs: dict[Any, Any] = {}
    schemas: dict[str, Any] = {}
    if ordered:
        keys: list[Any] = [(model, "validation") for model in ordered] + [
            (model, "serialization") for model in ordered
        ]
        refs, definitions = models_json_schema(keys, ref_template="#/components/schemas/{model}")
        schemas.update(definitions.get("$defs", {}))
    schemas["Problem"] = PROBLEM_SCHEMA

    def ref(model: type[BaseModel], mode: str) -> Any:
        return refs[(model, mode)]

    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        doc = docs.get(route.function)
        path, parameters = _path_and_parameters(route.route, route_prefix)
        for method in route.methods:
            operation: dict[str, Any] = {"operationId": route.function}
            if doc is None:
                operation["summary"] = route.function
                operation["responses"] = {"default": {"description": "Response"}}
                paths.setdefault(path, {})[method.lower()] = operation
                continue
            operation["summary"] = doc.summary
            if doc.tags:
                operation["tags"] = list(doc.tags)
            params = list(parameters)
            if doc.query is not None:
                query_schema = doc.query.model_json_schema()
                required = set(query_schema.get("required", []))
                for name, prop in query_schema.get("properties", {}).items():
                    params.append(
                        {
                            "name": name,
                            "in": "query",
                            "required": name in required,
                            "schema": {k: v for k, v in prop.items() if k != "title"},
                            **(
                                {"description": prop["description"]}
                                if "description" in prop
                                else {}
                            ),
                        }
                    )
            if params:
                operation["parameters"] = params
            if doc.body is not None:
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": ref(doc.body, "validation")}},
                }
            responses: dict[str, Any] = {}
            model, is_list = _model_of(doc.response)
            description = _STATUS_TEXT.get(doc.status, "Response")
            if model is not None:
                schema = ref(model, "serialization")
                if is_list:
                    schema = {"type": "array", "items": schema}
                responses[str(doc.status)] = {
                    "description": description,
                    "content": {doc.content_type: {"schema": schema}},
                }
            elif doc.status == 204 or (doc.response is None and doc.content_type == JSON):
                responses[str(doc.status)] = {"description": description}
            else:
                responses[str(doc.status)] = {
                    "description": description,
                    "content": {doc.content_type: {"schema": {"type": "string"}}},
                }
            errors = set(doc.errors)
            if doc.body is not None or doc.query is not None:
                errors |= {400}
            if doc.body is not None:
                errors |= {413}
            if doc.auth:
                errors |= {401}
                operation["security"] = [{"bearerAuth": []}]
            elif doc.optional_auth:
                operation["security"] = [{}, {"bearerAuth": []}]
            for status in sorted(errors):
                responses[str(status)] = {
                    "description": _STATUS_TEXT.get(status, "Error"),
                    "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
                }
            operation["responses"] = responses
            paths.setdefault(path, {})[method.lower()] = operation

    if admin_paths:
        paths["/admin/functions/{name}"] = {
            "post": {
                "operationId": "admin_run_function",
                "summary": "Run a non-HTTP function now (Functions admin API; local host only)",
                "tags": ["operations"],
                "parameters": [
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"input": {"type": "string"}},
                            }
                        }
                    }
                },
                "responses": {"202": {"description": "Accepted; the function runs now"}},
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": APP_NAME,
            "version": APP_VERSION,
            "description": "Weather lookups, accounts, subscriptions with live updates, and "
            "a job system, on Azure Functions. Errors are RFC 9457 problem+json.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
