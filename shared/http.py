"""HTTP plumbing shared by every HTTP function: parsing, auth, responses, errors.

A function body reads like a sentence::

    @bp.route(route="jobs/{job_id}", methods=["DELETE"])
    @http.endpoint(summary="Cancel a job", response=JobOut, auth=True)
    def cancel_job(req: func.HttpRequest) -> func.HttpResponse:
        user = http.authenticate(req)
        job = jobs.cancel(container(), user, req.route_params["job_id"])
        return http.ok(job)

``endpoint`` gives every response an ``X-Request-Id``, puts the request context into the
log lines, turns domain exceptions into RFC 9457 problem+json in this one place, answers
500 without internals for anything unexpected, and records the route's models so that
``/api/openapi.json`` documents it.

Models are named by reference, so that importing the app imports no pydantic (a cold start
pays for the models of the one invocation it serves, not for every model of the API): an
area's models live in ``functions/models/<area>.py``; the area module binds
``models = http.lazy_models("functions.models.<area>")`` (imported on first attribute
access), uses ``models.JobIn`` in function bodies, and names models in ``endpoint`` as
``"jobs:JobIn"`` or ``"list[jobs:JobOut]"`` (short for ``functions.models.jobs:JobIn``),
resolved when the OpenAPI document is built (a full ``"package.module:Name"`` or a class
itself works too).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
import json
import math
import re
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import azure.functions as func

from shared import telemetry, warmup
from shared.auth import Principal
from shared.domain.errors import (
    AppError,
    ConcurrencyConflict,
    Conflict,
    FieldError,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
    UpstreamUnavailable,
    ValidationFailed,
)
from shared.logging import function_name_var, get_logger, request_id_var, user_id_var

MAX_BODY_BYTES = 64 * 1024
PROBLEM_JSON = "application/problem+json"
JSON = "application/json"

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

log = get_logger("app.http")
ModelT = TypeVar("ModelT", bound="BaseModel")

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


# -- route documentation (read by the OpenAPI generator) ------------------------------


@dataclass(frozen=True)
class EndpointDoc:
    summary: str
    body: ModelRef | None = None
    query: ModelRef | None = None
    response: Any = None  # a model reference, list[Model], or None for no body
    status: int = 200
    auth: bool = False  # True: bearer required; "optional" handled by optional_auth
    optional_auth: bool = False
    tags: tuple[str, ...] = ()
    errors: tuple[int, ...] = ()
    content_type: str = JSON
    extra: Mapping[str, Any] = field(default_factory=dict)
    media_types: tuple[str, ...] = ()  # several possible success media types (static files)
    # Other answers with a body of their own: {status: model} (e.g. health's 503).
    alternatives: Mapping[int, Any] = field(default_factory=dict)
    # OpenAPI links from the success response: {target function: {param: expression}}.
    links: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    storage: bool = True  # reads or writes Storage, so may answer 503 when it is unreachable

    def resolved(self) -> EndpointDoc:
        """This doc with its model references imported (the OpenAPI generator reads these)."""
        return dataclasses.replace(
            self,
            body=resolve_model(self.body),
            query=resolve_model(self.query),
            response=resolve_model(self.response),
            alternatives={s: resolve_model(m) for s, m in self.alternatives.items()},
        )


# A model named by reference: "package.module:Name", "list[package.module:Name]", "area:Name"
# (a module of MODELS_PACKAGE), or the class (or list[class]) itself.
ModelRef = Any
MODELS_PACKAGE = "functions.models"


def resolve_model(ref: ModelRef) -> Any:
    """The model class (or ``list[Model]``) a reference names; None stays None."""
    if not isinstance(ref, str):
        return ref
    many = ref.startswith("list[") and ref.endswith("]")
    path = ref[len("list[") : -1] if many else ref
    module_name, sep, name = path.partition(":")
    if not sep or not module_name or not name:
        raise ValueError(f"not a model reference (module:Name): {ref!r}")
    if "." not in module_name:  # "jobs:JobIn" is short for "functions.models.jobs:JobIn"
        module_name = f"{MODELS_PACKAGE}.{module_name}"
    model = getattr(importlib.import_module(module_name), name)
    return list[model] if many else model  # type: ignore[valid-type]


class LazyModels:
    """A module of models imported on first attribute access (``models.JobIn``)."""

    def __init__(self, module_name: str) -> None:
        self._module_name = module_name

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(importlib.import_module(self._module_name), name)

    def __repr__(self) -> str:
        return f"LazyModels({self._module_name!r})"


def lazy_models(module_name: str) -> Any:
    """``module_name``, imported when a function first reads one of its names.

    Type checkers should see the module itself: ``if TYPE_CHECKING: from functions.models
    import jobs as models`` / ``else: models = http.lazy_models("functions.models.jobs")``.
    """
    return LazyModels(module_name)


ENDPOINT_DOCS: dict[str, EndpointDoc] = {}


def _resolve_every_model() -> None:
    for doc in ENDPOINT_DOCS.values():
        doc.resolved()  # imports functions.models.<area>, pydantic and shared.models


warmup.register("models", _resolve_every_model, before="services")


# -- the decorator -------------------------------------------------------------------


def endpoint(
    summary: str,
    *,
    body: ModelRef | None = None,
    query: ModelRef | None = None,
    response: ModelRef | None = None,
    status: int = 200,
    auth: bool = False,
    optional_auth: bool = False,
    tags: tuple[str, ...] = (),
    errors: tuple[int, ...] = (),
    content_type: str = JSON,
    media_types: tuple[str, ...] = (),
    alternatives: Mapping[int, Any] | None = None,
    links: Mapping[str, Mapping[str, str]] | None = None,
    storage: bool = True,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Wrap an HTTP function: request id, log context, problem+json, OpenAPI metadata."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        ENDPOINT_DOCS[fn.__name__] = EndpointDoc(
            summary=summary,
            body=body,
            query=query,
            response=response,
            status=status,
            auth=auth,
            optional_auth=optional_auth,
            tags=tags,
            errors=errors,
            content_type=content_type,
            media_types=media_types,
            alternatives=dict(alternatives or {}),
            links={target: dict(params) for target, params in (links or {}).items()},
            storage=storage,
        )
        name = fn.__name__

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(
                req: func.HttpRequest, *args: Any, **kwargs: Any
            ) -> func.HttpResponse:
                request_id, tokens = _enter(req, name)
                started = time.perf_counter()
                with _traced(req, name, request_id):
                    try:
                        response = await fn(req, *args, **kwargs)
                    except Exception as exc:  # noqa: BLE001 - the one place errors become responses
                        response = _error_response(exc, req)
                    _annotate(response)
                return _leave(response, request_id, tokens, req, started)

            return async_wrapper

        @functools.wraps(fn)
        def wrapper(req: func.HttpRequest, *args: Any, **kwargs: Any) -> func.HttpResponse:
            request_id, tokens = _enter(req, name)
            started = time.perf_counter()
            with _traced(req, name, request_id):
                try:
                    response = fn(req, *args, **kwargs)
                except Exception as exc:  # noqa: BLE001 - the one place errors become responses
                    response = _error_response(exc, req)
                _annotate(response)
            return _leave(response, request_id, tokens, req, started)

        return wrapper

    return decorate


def _traced(req: func.HttpRequest, name: str, request_id: str) -> Any:
    """The invocation's span (when telemetry is exported): request id, route, job id."""
    return telemetry.invocation(
        "http", name, request_id=request_id, job_id=req.route_params.get("job_id"),
        **{"http.request.method": req.method, "url.path": _path_of(req.url)},
    )  # fmt: skip


def _annotate(response: func.HttpResponse) -> None:
    telemetry.annotate(**{"http.response.status_code": response.status_code})


def _enter(req: func.HttpRequest, name: str) -> tuple[str, list[Any]]:
    incoming = req.headers.get("x-request-id") or ""
    request_id = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
    tokens = [
        (request_id_var, request_id_var.set(request_id)),
        (function_name_var, function_name_var.set(name)),
        (user_id_var, user_id_var.set(None)),
    ]
    return request_id, tokens


HSTS = "max-age=31536000"  # a year; not includeSubDomains: sibling hosts are not ours


def _in_azure() -> bool:
    from shared.settings import get_settings

    return get_settings().running_in_azure


def _leave(
    response: func.HttpResponse,
    request_id: str,
    tokens: list[Any],
    req: func.HttpRequest,
    started: float,
) -> func.HttpResponse:
    response.headers["X-Request-Id"] = request_id
    if _in_azure():  # https only there (never on local http: a browser would remember it)
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    log.info(
        "request handled",
        extra={
            "method": req.method,
            "path": _path_of(req.url),
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        },
    )
    for var, token in reversed(tokens):
        var.reset(token)
    warmup.after_first_request()  # a new instance: load the other routes' needs meanwhile
    return response


def _path_of(url: str) -> str:
    # Only the path: query strings may carry personal data.
    without_scheme = url.split("://", 1)[-1]
    slash = without_scheme.find("/")
    path = without_scheme[slash:] if slash >= 0 else "/"
    return path.split("?", 1)[0]


def _error_response(exc: Exception, req: func.HttpRequest) -> func.HttpResponse:
    from azure.core.exceptions import ServiceRequestError, ServiceResponseError

    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        # Storage (or another Azure service) cannot be reached: a 503 the caller may retry.
        log.warning("dependency unreachable", extra={"error_type": type(exc).__name__})
        exc = UpstreamUnavailable("A storage service is unreachable; retry shortly", retry_after=5)
    if isinstance(exc, ConcurrencyConflict):
        # Retries inside the service ran out: the resource is being changed right now.
        log.warning("concurrent modification", extra={"problem": "conflict"})
        exc = Conflict("The resource was changed by another request; retry")
    if isinstance(exc, AppError):
        if exc.status >= 500:
            log.warning("request failed: %s", exc.slug, extra={"problem": exc.slug})
        return problem_response(exc)
    log.exception("unhandled error", extra={"error_type": type(exc).__name__})
    return problem_response(AppError("An unexpected error occurred. It has been logged."))


def problem_response(error: AppError) -> func.HttpResponse:
    """An RFC 9457 problem+json response for ``error``; never carries a stack trace."""
    body: dict[str, Any] = {
        "type": f"/problems/{error.slug}",
        "title": error.title,
        "status": error.status,
        "detail": error.detail or error.title,
    }
    if error.errors:
        body["errors"] = [{"field": e.field, "message": e.message} for e in error.errors]
    return func.HttpResponse(
        body=json.dumps(body),
        status_code=error.status,
        headers=dict(error.headers),
        mimetype=PROBLEM_JSON,
        charset="utf-8",
    )


# -- parsing ---------------------------------------------------------------------------


def _field_errors(exc: ValidationError) -> list[FieldError]:
    from shared.domain.text import error_message  # imports pydantic: only with an error

    errors = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(part) for part in err.get("loc", ())) or "body"
        message = error_message(err)
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        errors.append(FieldError(field=loc, message=message))
    return errors


def read_json(req: func.HttpRequest) -> Any:
    """The body as JSON, or None when there is none.

    Refused before anything else sees it: over 64 KiB (413); a declared media type that is
    not JSON, or a charset other than UTF-8 (415); bytes that are not UTF-8, text that is
    not JSON, ``NaN``/``Infinity``, numbers that are too long or out of range, nesting
    deeper than ``MAX_JSON_DEPTH``, and escapes that do not make Unicode text (lone
    surrogates) (400). So no later layer meets a value Python cannot handle or store.
    """
    raw = req.get_body() or b""
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The body is {len(raw)} bytes; the limit is {MAX_BODY_BYTES}")
    if not raw.strip():
        return None
    _require_json_media_type(req.headers.get("content-type"))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _body_error(f"not UTF-8: byte {exc.start} cannot be decoded") from exc
    _check_depth(text)
    try:
        value = json.loads(
            text,
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_refuse_constant,
        )
    except _JsonLimit as exc:
        raise _body_error(str(exc)) from exc
    except json.JSONDecodeError as exc:
        raise ValidationFailed(
            "The body is not valid JSON",
            errors=[FieldError(field="body", message=f"not valid JSON: {exc}")],
        ) from exc
    _check_text(value)
    return value


MAX_JSON_DEPTH = 32
"""Arrays and objects nested deeper than this are refused (no request needs more)."""
MAX_NUMBER_CHARS = 64
"""A JSON number literal longer than this is refused (Python would refuse or crawl)."""

_JSON_MEDIA_TYPE = re.compile(r"^application/(?:[\w.+-]+\+)?json$")
# A JSON string (skipped whole) or a bracket; what lies outside strings decides the depth.
_JSON_STRUCTURE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


class _JsonLimit(ValueError):
    """A JSON value past one of our limits (raised from inside the parser's hooks)."""


def _body_error(message: str) -> ValidationFailed:
    return ValidationFailed(
        "The body is not acceptable JSON", errors=[FieldError(field="body", message=message)]
    )


def _require_json_media_type(content_type: str | None) -> None:
    """415 for a body declared as anything but JSON in UTF-8; no header is taken as JSON."""
    if content_type is None or not content_type.strip():
        return
    media_type, *parameters = (part.strip() for part in content_type.split(";"))
    charset = next(
        (value.strip().strip('"') for name, _, value in (p.partition("=") for p in parameters)
         if name.strip().lower() == "charset"),
        "utf-8",
    )  # fmt: skip
    if not _JSON_MEDIA_TYPE.match(media_type.lower()) or charset.lower() not in {
        "utf-8",
        "utf8",
    }:
        raise UnsupportedMediaType(
            f"The body must be application/json in UTF-8, not {content_type[:100]!r}",
            headers={"Accept": JSON},
        )


def _check_depth(text: str) -> None:
    depth = 0
    for match in _JSON_STRUCTURE.finditer(text):
        bracket = match.group()
        if bracket in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise _body_error(f"nested deeper than {MAX_JSON_DEPTH} levels")
        elif bracket in "]}":
            depth -= 1


def _parse_int(literal: str) -> int:
    if len(literal) > MAX_NUMBER_CHARS:
        raise _JsonLimit(f"a number longer than {MAX_NUMBER_CHARS} characters")
    return int(literal)


def _parse_float(literal: str) -> float:
    if len(literal) > MAX_NUMBER_CHARS:
        raise _JsonLimit(f"a number longer than {MAX_NUMBER_CHARS} characters")
    value = float(literal)
    if not math.isfinite(value):
        raise _JsonLimit(f"the number {literal} is out of range")
    return value


def _refuse_constant(literal: str) -> Any:
    raise _JsonLimit(f"{literal} is not a JSON number")


def _check_text(value: Any) -> None:
    """Every string and key must be Unicode text (``"\\ud800"`` alone is not)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise _body_error("a string holds an unpaired surrogate escape") from exc
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


def parse_body(req: func.HttpRequest, model: type[ModelT]) -> ModelT:
    """The body validated by ``model``: field errors as 400, unknown fields rejected."""
    data = read_json(req)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValidationFailed(
            "The body must be a JSON object",
            errors=[FieldError(field="body", message="must be a JSON object")],
        )
    from pydantic import ValidationError

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed("The request body is not valid", errors=_field_errors(exc)) from exc


# C0 and C1 control characters and DEL (Table keys refuse them, and no query value needs
# them), and U+FFFD, which is what percent-escapes that are not UTF-8 decode to.
_QUERY_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\ufffd]")


def parse_query(req: func.HttpRequest, model: type[ModelT]) -> ModelT:
    """The query string validated by ``model`` (one value per name).

    Control characters, and escapes that are not UTF-8, are refused in every value before
    the model sees it: no query value of this API can hold them.
    """
    params = dict(req.params)
    errors = [
        FieldError(field=name, message="must not contain control characters or non-UTF-8 bytes")
        for name, value in params.items()
        if _QUERY_UNSAFE.search(name) or _QUERY_UNSAFE.search(value)
    ]
    if errors:
        raise ValidationFailed("The query string is not valid", errors=errors)
    from pydantic import ValidationError

    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise ValidationFailed("The query string is not valid", errors=_field_errors(exc)) from exc


# -- auth -------------------------------------------------------------------------------


def _bearer_token(req: func.HttpRequest) -> str | None:
    header = req.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("The Authorization header must be 'Bearer <token>'")
    return token.strip()


def authenticate(req: func.HttpRequest) -> Principal:
    """The caller, from a valid bearer token; 401 with WWW-Authenticate otherwise."""
    principal = optional_principal(req)
    if principal is None:
        raise Unauthorized("A bearer token is required")
    return principal


def optional_principal(req: func.HttpRequest) -> Principal | None:
    """The caller if a token was sent (it must then be valid), else None."""
    token = _bearer_token(req)
    if token is None:
        return None
    from shared.container import container
    from shared.domain.accounts import email_key

    c = container()
    claims = c.tokens.verify(token, c.clock.now())
    email = str(claims.get("email", ""))
    principal = Principal(
        user_id=str(claims["sub"]),
        email=email,
        is_admin=email_key(email) in c.settings.admin_email_set,  # as the user view does
    )
    user_id_var.set(principal.user_id)
    telemetry.annotate(user_id=principal.user_id)
    return principal


# -- responses ---------------------------------------------------------------------------


def _is_model(value: Any) -> bool:
    # Only a process that has imported pydantic can hold a model: no import here.
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and isinstance(value, pydantic.BaseModel)


def to_jsonable(value: Any) -> Any:
    """Models, dataclass-like values and datetimes as JSON values (times in UTC with Z)."""
    if _is_model(value):
        return value.model_dump(mode="json", by_alias=True)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


def format_time(value: datetime) -> str:
    """ISO 8601 UTC with ``Z`` (naive values are taken to be UTC)."""
    from datetime import UTC

    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> func.HttpResponse:
    return func.HttpResponse(
        body=json.dumps(to_jsonable(data), ensure_ascii=False),
        status_code=status,
        headers=dict(headers or {}),
        mimetype=JSON,
        charset="utf-8",
    )


def ok(data: Any, headers: Mapping[str, str] | None = None) -> func.HttpResponse:
    return json_response(data, 200, headers)


def created(data: Any, location: str | None = None) -> func.HttpResponse:
    return json_response(data, 201, {"Location": location} if location else None)


def accepted(data: Any = None) -> func.HttpResponse:
    return json_response(data if data is not None else {"status": "accepted"}, 202)


def no_content() -> func.HttpResponse:
    return func.HttpResponse(status_code=204)


# -- the caller's address -----------------------------------------------------------------


def client_address(req: func.HttpRequest, trusted_hops: int | None = None) -> str:
    """The caller's IP address as the nearest trusted proxy saw it, for per-client abuse
    limits.

    Each proxy appends the address it received the request from to ``X-Forwarded-For``;
    everything to the left of what a trusted proxy appended is the client's own claim.
    ``trusted_hops`` (TRUSTED_PROXY_HOPS, read from the settings when None) is how many
    entries from the right our own proxies appended: the client is the entry that many
    from the right. App Service's front end appends the peer it saw (``ip:port``), so 1
    on Azure; 2 with Front Door before it (Front Door appends the client, the front end
    Front Door's address). 0: nothing trusted sits in front, so the header is ignored;
    the Python worker is given no peer address by the Functions host, so every caller is
    ``unknown`` (one shared key, which no header can move a caller out of). Fewer
    entries than hops, or an entry that is no address: ``unknown`` as well.

    A port (``1.2.3.4:5678``, ``[::1]:5678``) is dropped, and an IPv6 client is its /64
    (what one subscriber gets).
    """
    import ipaddress

    if trusted_hops is None:
        from shared.settings import get_settings

        trusted_hops = get_settings().trusted_proxy_hops
    if trusted_hops <= 0:
        return "unknown"
    entries = [e.strip() for e in (req.headers.get("x-forwarded-for") or "").split(",")]
    entries = [e for e in entries if e]
    if len(entries) < trusted_hops:
        return "unknown"
    entry = entries[-trusted_hops]
    if entry.startswith("["):
        entry = entry[1:].partition("]")[0]
    elif entry.count(":") == 1:
        entry = entry.partition(":")[0]
    try:
        address = ipaddress.ip_address(entry)
    except ValueError:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return str(address.ipv4_mapped)
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)
