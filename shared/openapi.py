"""The OpenAPI 3.1 document, generated from what the app registers.

Routes and methods come from the function metadata (``app.get_functions()``), request and
response schemas from the pydantic models each ``@http.endpoint`` names. A route added
later appears here without anyone editing a spec file.

The document is meant to be believed by clients and fuzzers alike: route constraints
become parameter schemas, every status an operation can answer is listed (with the
problem+json schema for errors and the headers that come with them), and links tie a
created resource to the operations that take its id.
"""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shared.http import JSON, MAX_BODY_BYTES, PROBLEM_JSON, EndpointDoc
from shared.settings import APP_NAME, APP_VERSION

_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    304: "Not Modified (the ETag in If-None-Match still matches)",
    400: "Invalid input (problem+json; `errors` lists the fields)",
    401: "Missing, malformed, expired or forged bearer token",
    403: "Forbidden",
    404: "Not found (also: a path parameter outside its pattern)",
    409: "Conflict with the resource's state",
    413: f"Body over {MAX_BODY_BYTES // 1024} KiB",
    415: "Body not sent as application/json in UTF-8",
    429: "Too many requests (see Retry-After)",
    503: "A dependency is unavailable (see Retry-After)",
}

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {
            "type": "string",
            "pattern": "^/problems/[a-z0-9-]+$",
            "examples": ["/problems/validation"],
        },
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "only for validation problems: one entry per refused field",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                "required": ["field", "message"],
            },
        },
    },
}

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_REQUEST_ID_HEADER = {
    "description": "The caller's X-Request-Id if it sent a safe one, else a new id",
    "schema": {"type": "string"},
}
# Headers each status carries (``required`` only where every such answer has it).
_STATUS_HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": "Bearer challenge",
            "required": True,
            "schema": {"type": "string", "pattern": "^Bearer"},
        }
    },
    429: {
        "Retry-After": {
            "description": "Seconds to wait before trying again",
            "schema": {"type": "string", "pattern": "^[0-9]+$"},
        }
    },
    503: {
        "Retry-After": {
            "description": "Seconds to wait before trying again",
            "schema": {"type": "string", "pattern": "^[0-9]+$"},
        }
    },
}


@dataclass(frozen=True)
class RouteInfo:
    function: str
    route: str
    methods: tuple[str, ...]


def _built_functions(app: Any) -> list[Any]:
    # ``get_functions()`` may be called once per app (a second call fails its duplicate-name
    # check, and the worker has already made the first), so the builders are read instead.
    builders = getattr(app, "_function_builders", None)
    if builders is not None:
        return [builder.build(app.auth_level) for builder in builders]
    return list(app.get_functions())


def routes_of(app: Any) -> list[RouteInfo]:
    """HTTP routes of a FunctionApp, from the same metadata the Functions host reads."""
    routes = []
    for function in _built_functions(app):
        metadata = json.loads(function.get_function_json())
        for binding in metadata.get("bindings", []):
            if binding.get("type") == "httpTrigger":
                methods = tuple(m.upper() for m in binding.get("methods") or ("GET", "POST"))
                route = binding.get("route") or function.get_function_name()
                routes.append(RouteInfo(function.get_function_name(), route, methods))
    return routes


def background_functions_of(app: Any) -> list[str]:
    """Names of the functions without an HTTP trigger (what the admin endpoint runs)."""
    names = []
    for function in _built_functions(app):
        metadata = json.loads(function.get_function_json())
        if not any(b.get("type") == "httpTrigger" for b in metadata.get("bindings", [])):
            names.append(function.get_function_name())
    return sorted(names)


# -- route templates ------------------------------------------------------------------------


class TemplateError(ValueError):
    """A route template this generator cannot read."""


@dataclass(frozen=True)
class PathParameter:
    name: str
    schema: dict[str, Any]


_PARAMETER = re.compile(r"^(?P<star>\*{0,2})(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<rest>.*)$", re.S)


def _top_level_index(text: str, wanted: str) -> int:
    """Index of the first ``wanted`` outside parentheses (and not escaped), or -1."""
    depth = 0
    escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == wanted and depth == 0:
            return index
    return -1


def _split_constraints(rest: str) -> list[str]:
    """``:int:min(1)`` -> ``["int", "min(1)"]``; colons inside parentheses stay."""
    parts: list[str] = []
    depth = 0
    current = ""
    escaped = False
    for char in rest:
        if escaped:
            current += char
            escaped = False
            continue
        if char == "\\":
            escaped = True
            current += char
            continue
        if char == ":" and depth == 0:
            if current:
                parts.append(current)
            current = ""
            continue
        depth += char == "("
        depth -= char == ")"
        current += char
    if current:
        parts.append(current)
    return parts


def _constraint_schema(spec: str, schema: dict[str, Any]) -> dict[str, Any]:
    """Fold one ASP.NET route constraint into the parameter's JSON Schema."""
    match = re.fullmatch(r"(?P<kind>[A-Za-z]+)(?:\((?P<arg>.*)\))?", spec, re.S)
    if not match:
        raise TemplateError(f"invalid route constraint {spec!r}")
    kind, arg = match["kind"].lower(), match["arg"]
    numbers = [int(n) for n in arg.split(",")] if arg and kind != "regex" else []
    if kind == "int":
        return {**schema, "type": "integer", "format": "int32"}
    if kind == "long":
        return {**schema, "type": "integer", "format": "int64"}
    if kind in {"float", "double", "decimal"}:
        return {**schema, "type": "number"}
    if kind == "bool":
        return {**schema, "type": "boolean"}
    if kind == "guid":
        return {**schema, "format": "uuid"}
    if kind == "datetime":
        return {**schema, "format": "date-time"}
    if kind == "alpha":
        return {**schema, "pattern": "^[A-Za-z]+$"}
    if kind == "regex" and arg:
        # ASP.NET reads ``{{``/``}}`` in a template as literal braces.
        return {**schema, "pattern": arg.replace("{{", "{").replace("}}", "}")}
    if kind == "min" and len(numbers) == 1:
        return {**schema, "type": "integer", "minimum": numbers[0]}
    if kind == "max" and len(numbers) == 1:
        return {**schema, "type": "integer", "maximum": numbers[0]}
    if kind == "range" and len(numbers) == 2:
        return {**schema, "type": "integer", "minimum": numbers[0], "maximum": numbers[1]}
    if kind == "minlength" and len(numbers) == 1:
        return {**schema, "minLength": numbers[0]}
    if kind == "maxlength" and len(numbers) == 1:
        return {**schema, "maxLength": numbers[0]}
    if kind == "length" and len(numbers) == 1:
        return {**schema, "minLength": numbers[0], "maxLength": numbers[0]}
    if kind == "length" and len(numbers) == 2:
        return {**schema, "minLength": numbers[0], "maxLength": numbers[1]}
    raise TemplateError(f"unknown route constraint {spec!r}")


def parse_route(route: str, prefix: str = "api") -> tuple[str, list[PathParameter]]:
    """An ASP.NET route template as an OpenAPI path and its parameters.

    ``jobs/{job_id:regex(^[0-9]+$)}/bids`` -> ``/api/jobs/{job_id}/bids`` with ``job_id``
    a string of that pattern; ``{n:int:min(1)}`` an integer from 1; defaults (``=x``) and
    the optional mark (``?``) are dropped (an OpenAPI path parameter is always required).
    """
    segments = []
    parameters = []
    for raw in route.strip().strip("/").split("/"):
        if not (raw.startswith("{") and raw.endswith("}") and not raw.startswith("{{")):
            segments.append(raw.replace("{{", "{").replace("}}", "}"))
            continue
        match = _PARAMETER.match(raw[1:-1])
        if not match:
            raise TemplateError(f"segment {raw!r} of {route!r} is not a parameter")
        rest = match["rest"]
        default_at = _top_level_index(rest, "=")
        if default_at >= 0:
            rest = rest[:default_at]
        rest = rest.removesuffix("?")
        schema: dict[str, Any] = {"type": "string"}
        for spec in _split_constraints(rest):
            schema = _constraint_schema(spec, schema)
        parameters.append(PathParameter(match["name"], schema))
        segments.append("{" + match["name"] + "}")
    path = "/".join(segments)
    return (f"/{prefix}/{path}" if prefix else f"/{path}"), parameters


# -- the document ---------------------------------------------------------------------------


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


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query value is text: ``anyOf [X, null]`` of an optional field becomes ``X``."""
    variants = schema.get("anyOf")
    if isinstance(variants, list):
        kept = [v for v in variants if v != {"type": "null"}]
        if len(kept) == 1:
            rest = {k: v for k, v in schema.items() if k != "anyOf"}
            return {**kept[0], **rest}
    return schema


def _allows_null(schema: Mapping[str, Any]) -> bool:
    kind = schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    return any(_allows_null(v) for v in schema.get("anyOf", []) + schema.get("oneOf", []))


def _drop_null_defaults(schema: dict[str, Any]) -> None:
    """``default: null`` on a field that refuses null (an omitted field that keeps its value)
    would contradict the field's own schema: drop it."""
    for prop in schema.get("properties", {}).values():
        if isinstance(prop, dict) and prop.get("default", "") is None and not _allows_null(prop):
            del prop["default"]


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    query_schema = model.model_json_schema()
    required = set(query_schema.get("required", []))
    parameters = []
    for name, prop in query_schema.get("properties", {}).items():
        schema = _without_null({k: v for k, v in prop.items() if k not in {"title"}})
        if schema.get("default", "") is None:
            del schema["default"]
        parameter: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": schema,
        }
        if "description" in prop:
            parameter["description"] = prop["description"]
        parameters.append(parameter)
    return parameters


def _link_name(function: str) -> str:
    return "".join(part.capitalize() for part in function.split("_"))


_HOST_NOT_FOUND = (
    "Not found: problem+json from the app; or, when a path parameter is outside its pattern, "
    "the Functions host's own 404 with an empty body (no function is reached)"
)


def _problem_response(status: int, host_may_answer: bool = False) -> dict[str, Any]:
    if host_may_answer:  # the body is problem+json or empty: no one media type to promise
        return {"description": _HOST_NOT_FOUND}
    response: dict[str, Any] = {
        "description": _STATUS_TEXT.get(status, "Error"),
        "content": {PROBLEM_JSON: {"schema": _PROBLEM_REF}},
    }
    headers = dict(_STATUS_HEADERS.get(status, {}))
    if status not in (404, 405):  # the host itself answers some of these, without an id
        headers["X-Request-Id"] = {**_REQUEST_ID_HEADER, "required": True}
    response["headers"] = headers
    return response


def build_document(
    routes: Iterable[RouteInfo],
    docs: Mapping[str, EndpointDoc],
    route_prefix: str = "api",
    admin_paths: bool = True,
    background_functions: Sequence[str] = (),
) -> dict[str, Any]:
    routes = sorted(routes, key=lambda r: (r.route, r.function))
    docs = {name: doc.resolved() for name, doc in docs.items()}  # model references imported
    models: set[type[BaseModel]] = set()
    for route in routes:
        doc = docs.get(route.function)
        if doc is None:
            continue
        for annotation in (doc.body, doc.response, *doc.alternatives.values()):
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
    for definition in schemas.values():
        _drop_null_defaults(definition)
    schemas["Problem"] = PROBLEM_SCHEMA

    def ref(model: type[BaseModel], mode: str) -> Any:
        return refs[(model, mode)]

    def body_schema(annotation: Any) -> dict[str, Any] | None:
        model, is_list = _model_of(annotation)
        if model is None:
            return None
        schema = ref(model, "serialization")
        return {"type": "array", "items": schema} if is_list else schema

    operation_ids = {route.function for route in routes}
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        doc = docs.get(route.function)
        path, path_parameters = parse_route(route.route, route_prefix)
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
            params: list[dict[str, Any]] = [
                {"name": p.name, "in": "path", "required": True, "schema": p.schema}
                for p in path_parameters
            ]
            if doc.query is not None:
                params.extend(_query_parameters(doc.query))
            if params:
                operation["parameters"] = params
            if doc.body is not None:
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": ref(doc.body, "validation")}},
                }
            responses: dict[str, Any] = {}
            success: dict[str, Any] = {
                "description": _STATUS_TEXT.get(doc.status, "Response"),
                "headers": {"X-Request-Id": {**_REQUEST_ID_HEADER, "required": True}},
            }
            schema = body_schema(doc.response)
            if schema is not None:
                success["content"] = {doc.content_type: {"schema": schema}}
            elif doc.media_types:
                success["content"] = {m: {"schema": {}} for m in doc.media_types}
            elif doc.status != 204 and doc.content_type != JSON:
                success["content"] = {doc.content_type: {"schema": {"type": "string"}}}
            links = {
                _link_name(target): {"operationId": target, "parameters": dict(values)}
                for target, values in doc.links.items()
                if target in operation_ids
            }
            if links:
                success["links"] = links
            responses[str(doc.status)] = success
            if doc.content_type == "text/html" or doc.media_types:
                responses["304"] = {"description": _STATUS_TEXT[304]}
            for status, annotation in doc.alternatives.items():
                alternative = body_schema(annotation)
                responses[str(status)] = {
                    "description": _STATUS_TEXT.get(status, "Response"),
                    "content": {JSON: {"schema": alternative or {}}},
                }
            errors = set(doc.errors) - set(doc.alternatives)
            if doc.body is not None or doc.query is not None:
                errors |= {400}
            if doc.body is not None:
                errors |= {413, 415}
            if path_parameters:
                errors |= {404}
            if doc.storage:
                errors |= {503}
            if doc.auth:
                errors |= {401}
                operation["security"] = [{"bearerAuth": []}]
            elif doc.optional_auth:
                errors |= {401}  # a token, if sent, must be valid
                operation["security"] = [{}, {"bearerAuth": []}]
            constrained = any(p.schema != {"type": "string"} for p in path_parameters)
            for status in sorted(errors - set(doc.alternatives)):
                responses[str(status)] = _problem_response(status, status == 404 and constrained)
            operation["responses"] = responses
            paths.setdefault(path, {})[method.lower()] = operation

    if admin_paths:
        name_schema: dict[str, Any] = {"type": "string"}
        if background_functions:
            name_schema["enum"] = list(background_functions)
        paths["/admin/functions/{name}"] = {
            "post": {
                "operationId": "admin_run_function",
                "summary": "Run a non-HTTP function now (Functions admin API; local host only)",
                "tags": ["operations"],
                "parameters": [
                    {"name": "name", "in": "path", "required": True, "schema": name_schema}
                ],
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "input": {
                                        "description": "the trigger's input: a string, or "
                                        "any JSON value but null (passed on as its JSON text)",
                                        "type": ["string", "number", "boolean", "array", "object"],
                                    }
                                },
                            }
                        }
                    }
                },
                "responses": {
                    "202": {"description": "Accepted; the function runs now"},
                    "400": {
                        "description": 'The body is not {"input": "..."}',
                        "content": {
                            PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}
                        },
                    },
                    "404": {
                        "description": "No such function, or not called from this machine",
                        "content": {
                            PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}
                        },
                    },
                },
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
